package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// profiler writes pprof profiles of bench phases into dir (bench --profile-dir), and why
// it could not on warn; the zero value writes nothing.
type profiler struct {
	dir  string
	warn io.Writer
}

// cpu starts a CPU profile named name.cpu.pprof and returns what stops it.
func (p profiler) cpu(name string) (stop func()) {
	if p.dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(p.dir, name+".cpu.pprof"))
	if err != nil {
		fmt.Fprintf(p.warn, "entityconn bench: cpu profile: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(p.warn, "entityconn bench: cpu profile: %v\n", err)
		_ = f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// heap writes what the heap holds now (after a collection) as name.heap.pprof.
func (p profiler) heap(name string) {
	if p.dir == "" {
		return
	}
	runtime.GC()
	f, err := os.Create(filepath.Join(p.dir, name+".heap.pprof"))
	if err != nil {
		fmt.Fprintf(p.warn, "entityconn bench: heap profile: %v\n", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		fmt.Fprintf(p.warn, "entityconn bench: heap profile: %v\n", err)
	}
}
