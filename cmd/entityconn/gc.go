package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// tuneGC lets the heap grow to five times its live size between collections (GOGC=400)
// unless GOGC is set, with a soft limit of three quarters of the memory available (the
// cgroup's limit, or the machine's) unless GOMEMLIMIT is set. With the embedded NATS server
// the heap holds the server's index of every subject; the default GOGC=100 spent a fifth of
// the CPU of a rebuild of a million events in garbage collection (docs/performance.md).
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		if avail := availableMemory(); avail > 0 {
			debug.SetMemoryLimit(avail / 4 * 3)
		}
	}
}

// availableMemory returns the cgroup v2 memory limit, else the machine's total memory, in
// bytes; 0 if neither can be read.
func availableMemory() int64 {
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}
