package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/entityconn/entityconn/cmd/entityconn/internal/cli"
)

// load is the outcome of one throughput phase.
type load struct {
	name      string
	c         int
	latencies []time.Duration
	elapsed   time.Duration
	err       error
}

func (l load) opsPerSec() float64 { return float64(len(l.latencies)) / l.elapsed.Seconds() }

// result is the table line of l; its ratio is to raw, the raw append rate, unless that is 0.
func (l load) result(raw float64) benchResult {
	r := benchResult{Phase: l.name, Concurrency: l.c, Ops: len(l.latencies), OpsPerSec: l.opsPerSec()}
	r.P50Ms, r.P99Ms = percentiles(l.latencies)
	if raw > 0 && l.name != "raw" {
		r.Ratio = r.OpsPerSec / raw
	}
	return r
}

// runLoad runs op cfg.ops times on cfg.concurrency goroutines and measures each call.
func runLoad(ctx context.Context, name string, cfg benchConfig, progress io.Writer, op func(context.Context) error) load {
	bar := newBar(progress, cfg.ops, name)
	defer bar.Close()
	lat := make([]time.Duration, cfg.ops)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.ops || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := op(ctx); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat[i] = time.Since(t)
				_ = bar.Add(1)
			}
		})
	}
	wg.Wait()
	l := load{name: name, c: cfg.concurrency, latencies: lat, elapsed: time.Since(start)}
	if err, _ := firstErr.Load().(error); err != nil {
		l.err = fmt.Errorf("%s: %w", name, err)
	} else if ctx.Err() != nil {
		l.err = ctx.Err()
	}
	return l
}

// newBar returns a progress bar of n steps described by what, drawn on w only when w is a
// terminal, and cleared when it finishes.
func newBar(w io.Writer, n int, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions(n, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(), progressbar.OptionSetVisibility(cli.IsTerminal(w)))
}

// percentiles returns the median and the 99th percentile of ds, in milliseconds.
func percentiles(ds []time.Duration) (p50, p99 float64) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 {
		return float64(s[min(int(q*float64(len(s))), len(s)-1)]) / float64(time.Millisecond)
	}
	return at(0.50), at(0.99)
}

// ms returns d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
