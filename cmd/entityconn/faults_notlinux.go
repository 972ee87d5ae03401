//go:build !linux

package main

import "syscall"

// childAttr: only Linux can tie a child's life to its parent's; elsewhere the runner kills
// its children itself when it ends.
func childAttr() *syscall.SysProcAttr { return nil }
