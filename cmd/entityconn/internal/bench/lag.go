package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// benchLag sends commands at rate per second for cfg.lagFor and measures, for each, the
// time from its acknowledgement to the views including it.
func benchLag(ctx context.Context, st *Stack, cfg benchConfig, rate float64, next func() (string, string)) (benchResult, error) {
	if err := st.Views.WaitCaughtUp(ctx); err != nil {
		return benchResult{}, err
	}
	type ack struct {
		seq uint64
		at  time.Time
	}
	acks := make(chan ack, 1<<16)
	var lags []time.Duration
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		var pending []ack
		for {
			progress, changed := st.Views.Changed()
			now := time.Now()
			for {
				select {
				case a, ok := <-acks:
					if !ok {
						acks = nil
						break
					}
					pending = append(pending, a)
					continue
				default:
				}
				break
			}
			kept := pending[:0]
			for _, a := range pending {
				if a.seq <= progress {
					lags = append(lags, max(now.Sub(a.at), 0))
				} else {
					kept = append(kept, a)
				}
			}
			pending = kept
			if acks == nil && len(pending) == 0 {
				return
			}
			select {
			case <-changed:
			case <-time.After(time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
	}()
	interval := time.Duration(float64(time.Second) / max(rate, 1))
	tick := time.NewTicker(interval)
	deadline := time.Now().Add(cfg.lagFor)
	var wg sync.WaitGroup
	var failed atomic.Value
	sent := 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		<-tick.C
		sent++
		wg.Go(func() {
			res, err := request(ctx, st, next)
			if err != nil {
				failed.CompareAndSwap(nil, err)
				return
			}
			acks <- ack{res.Sequence, time.Now()}
		})
	}
	tick.Stop()
	wg.Wait()
	close(acks)
	<-watched
	if err, _ := failed.Load().(error); err != nil {
		return benchResult{}, err
	}
	r := benchResult{Phase: "projection lag", Ops: len(lags), Note: fmt.Sprintf("acknowledged command → views include it, at %.0f commands/s (half the in-process rate) for %s", rate, cfg.lagFor)}
	r.P50Ms, r.P99Ms = percentiles(lags)
	return r, nil
}
