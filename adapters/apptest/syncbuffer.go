package apptest

import (
	"bytes"
	"sync"
)

// SyncBuffer is a bytes.Buffer that a command or server may write while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Len returns the number of bytes written so far.
func (s *SyncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// From returns what was written from byte i on.
func (s *SyncBuffer) From(i int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b.Bytes()[i:])
}

func (s *SyncBuffer) String() string { return s.From(0) }
