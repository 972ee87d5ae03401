//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package natsjs

import "os"

// tryLock does not lock on this platform (no flock(2)): the store directory is not guarded
// against a second process.
func tryLock(*os.File) (bool, error) { return true, nil }
