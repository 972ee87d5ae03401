package natsjs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LockFile is the name of the lock file in a store directory: whoever holds an exclusive
// lock on it (flock(2)) owns the directory, and it names the holder's process id.
const LockFile = "entityconn.lock"

// ErrStoreInUse is matched (errors.Is) by the [*StoreInUseError] of [LockStore] and
// [StartEmbedded] when another process, or another server of this one, holds the store.
var ErrStoreInUse = errors.New("natsjs: store directory in use")

// StoreInUseError says that another process holds the lock of a store directory.
type StoreInUseError struct {
	Dir string
	// PID is the holder's process id as its lock file names it; 0 if unknown (the holder
	// had not written it yet).
	PID int
}

func (e *StoreInUseError) Error() string {
	holder := "pid unknown"
	if e.PID > 0 {
		holder = "pid " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("natsjs: store directory %s is in use by another process (%s)", e.Dir, holder)
}

// Is makes errors.Is(err, ErrStoreInUse) true.
func (e *StoreInUseError) Is(target error) bool { return target == ErrStoreInUse }

// StoreLock is the exclusive lock of a store directory, taken by [LockStore]. The kernel
// releases it when the process ends, however it ends (SIGKILL included): a lock file left
// behind by a dead process blocks nobody.
type StoreLock struct {
	dir  string // as given
	key  string // absolute, for the in-process registry
	f    *os.File
	once sync.Once
	// released is closed by Release.
	released chan struct{}
	// stopping, once set by the server that owns the lock, reports whether it has begun
	// to shut down (its lock is about to be released).
	mu       sync.Mutex
	stopping func() bool
}

// handoff bounds how long [LockStore] waits for a server of this process that is shutting
// down to release the directory (the release follows its shutdown, in a goroutine).
const handoff = 10 * time.Second

var (
	heldMu sync.Mutex
	held   = map[string]*StoreLock{} // the store locks this process holds, by absolute path
)

// LockStore takes the exclusive lock of the store directory dir (created if need be), without
// waiting: it returns a [*StoreInUseError] naming the holder's process id when another process
// holds it. It writes this process's id into the lock file. Take it before anything in dir is
// read or written; [StartEmbedded] takes it unless given one.
//
// Within one process the lock is exclusive too: a second server on the same directory is
// refused, except that a server that is shutting down hands the lock over (LockStore then
// waits for its release, at most a few seconds).
func LockStore(dir string) (*StoreLock, error) {
	if dir == "" {
		return nil, errors.New("natsjs: lock: no store directory")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("natsjs: store directory: %w", err)
	}
	key, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("natsjs: store directory: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	deadline := time.Now().Add(handoff)
	lastTry := false
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
		if err != nil {
			return nil, fmt.Errorf("natsjs: lock %s: %w", path, err)
		}
		locked, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("natsjs: lock %s: %w", path, err)
		}
		if locked {
			l := &StoreLock{dir: dir, key: key, f: f, released: make(chan struct{})}
			if err := writePID(f); err != nil {
				l.Release()
				return nil, fmt.Errorf("natsjs: lock %s: %w", path, err)
			}
			heldMu.Lock()
			held[key] = l
			heldMu.Unlock()
			return l, nil
		}
		f.Close()
		heldMu.Lock()
		prev := held[key]
		heldMu.Unlock()
		if prev == nil && !lastTry {
			// A server of this process may have released the lock between the attempt
			// and this look-up (Release closes the file before it unregisters): try once
			// more before saying the store is in use.
			lastTry = true
			continue
		}
		if prev == nil || !prev.isStopping() || time.Now().After(deadline) {
			return nil, &StoreInUseError{Dir: dir, PID: readPID(path)}
		}
		select {
		case <-prev.released:
		case <-time.After(time.Until(deadline)):
		}
	}
}

// Release releases the lock (the lock file stays). Calling it again does nothing.
func (l *StoreLock) Release() {
	l.once.Do(func() {
		// Unlock before unregistering: a LockStore that finds the kernel lock taken and
		// then no registered holder tries again, and succeeds.
		_ = l.f.Close() // closing the descriptor releases the flock
		heldMu.Lock()
		if held[l.key] == l {
			delete(held, l.key)
		}
		heldMu.Unlock()
		close(l.released)
	})
}

// Dir returns the directory the lock is on, as given to [LockStore].
func (l *StoreLock) Dir() string { return l.dir }

func (l *StoreLock) setStopping(f func() bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopping = f
}

func (l *StoreLock) isStopping() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stopping != nil && l.stopping()
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return err
	}
	return f.Sync()
}

// readPID returns the process id written in the lock file at path, or 0.
func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid < 0 {
		return 0
	}
	return pid
}
