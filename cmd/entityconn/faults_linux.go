package main

import "syscall"

// childAttr makes a child of the fault runner die with it (SIGKILL when the runner's
// thread exits), so that no node or replica outlives an interrupted run.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
