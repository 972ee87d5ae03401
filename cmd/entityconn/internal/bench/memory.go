package bench

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// rss returns the resident memory of this process in bytes (Linux), or the memory the Go
// runtime holds from the system elsewhere.
func rss() int64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			if pages, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return pages * int64(os.Getpagesize())
			}
		}
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.Sys)
}

// settleMemory collects twice, so that what sync.Pools held in the first collection goes
// too, and gives back to the system what the heap no longer uses.
func settleMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// heapAlloc returns the bytes of live heap objects as of the last collection.
func heapAlloc() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
