//go:build !unix

package main

import (
	"errors"
	"os"
)

func pause(*os.Process, bool) error { return errors.New("faults: SIGSTOP needs a Unix system") }

func terminate(p *os.Process) error { return p.Signal(os.Interrupt) }
