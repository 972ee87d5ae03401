//go:build unix

package main

import (
	"os"
	"syscall"
)

// pause stops the process (SIGSTOP) or lets it go on (SIGCONT).
func pause(p *os.Process, stop bool) error {
	if stop {
		return p.Signal(syscall.SIGSTOP)
	}
	return p.Signal(syscall.SIGCONT)
}

// terminate asks the process to stop gracefully (SIGTERM).
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
