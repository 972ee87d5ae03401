package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/natscmd"
	"github.com/entityconn/entityconn/events/contract"
)

// outcomeClock publishes durable commands and times each from publishing to its outcome.
type outcomeClock struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	sub *nats.Subscription

	mu      sync.Mutex
	sent    map[string]time.Time
	lats    []time.Duration
	refused error // the first error outcome
	arrived chan struct{}
}

// newOutcomeClock connects to st's NATS as the service itself, which may read every
// entity's outcomes.
func newOutcomeClock(st *Stack) (*outcomeClock, error) {
	nc, err := nats.Connect(st.URL, st.ServiceOptions...)
	if err != nil {
		return nil, err
	}
	c := &outcomeClock{nc: nc, sent: map[string]time.Time{}, arrived: make(chan struct{}, 1)}
	if c.js, err = jetstream.New(nc); err == nil {
		c.sub, err = nc.Subscribe(natscmd.OutcomePrefix+".>", c.outcome)
	}
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *outcomeClock) outcome(m *nats.Msg) {
	var o natscmd.Outcome
	if json.Unmarshal(m.Data, &o) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.sent[o.CommandID]
	if !ok {
		return
	}
	delete(c.sent, o.CommandID)
	c.lats = append(c.lats, time.Since(at))
	if !o.OK && o.Error != nil && c.refused == nil {
		c.refused = fmt.Errorf("outcome %d: %s", o.Error.Code, o.Error.Message)
	}
	select {
	case c.arrived <- struct{}{}:
	default:
	}
}

// publish sends a request from src to tgt under command id, noting the time.
func (c *outcomeClock) publish(ctx context.Context, id, src, tgt string) error {
	c.mu.Lock()
	c.sent[id] = time.Now()
	c.mu.Unlock()
	return natscmd.Publish(ctx, c.js, "bench", contract.CommandRequestConnection, natsapi.Request{CommandID: id, EntityID: src, TargetEntityID: tgt})
}

// wait returns the latencies once every published command has its outcome, or an error
// after within.
func (c *outcomeClock) wait(ctx context.Context, within time.Duration) ([]time.Duration, error) {
	timeout := time.After(within)
	for {
		c.mu.Lock()
		left, lats, refused := len(c.sent), c.lats, c.refused
		c.mu.Unlock()
		switch {
		case refused != nil:
			return nil, refused
		case left == 0:
			return lats, nil
		}
		select {
		case <-c.arrived:
		case <-timeout:
			return nil, fmt.Errorf("%d outcomes still missing after %s", left, within)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *outcomeClock) close() {
	_ = c.sub.Unsubscribe()
	c.nc.Close()
}

// benchDurable publishes commands on ENTITYCONN_COMMANDS from cfg.concurrency publishers and
// measures, for each, the time from publishing to its outcome arriving; the rate is commands
// whose outcome arrived per second.
func benchDurable(ctx context.Context, st *Stack, cfg benchConfig, progress io.Writer, next func() (string, string)) (load, error) {
	c, err := newOutcomeClock(st)
	if err != nil {
		return load{}, err
	}
	defer c.close()
	var n atomic.Int64
	start := time.Now()
	pub := runLoad(ctx, "entityconn durable commands (publish)", cfg, progress, func(ctx context.Context) error {
		src, tgt := next()
		return c.publish(ctx, fmt.Sprintf("bench-%d", n.Add(1)), src, tgt)
	})
	if pub.err != nil {
		return load{}, pub.err
	}
	lats, err := c.wait(ctx, 2*time.Minute)
	if err != nil {
		return load{}, err
	}
	return load{name: "entityconn durable commands", c: cfg.concurrency, latencies: lats, elapsed: time.Since(start)}, nil
}

// benchOutcomeLatency publishes durable commands at rate per second for cfg.lagFor and
// measures the time from publishing each to its outcome arriving.
func benchOutcomeLatency(ctx context.Context, st *Stack, cfg benchConfig, rate float64, next func() (string, string)) (benchResult, error) {
	c, err := newOutcomeClock(st)
	if err != nil {
		return benchResult{}, err
	}
	defer c.close()
	tick := time.NewTicker(time.Duration(float64(time.Second) / max(rate, 1)))
	defer tick.Stop()
	deadline := time.Now().Add(cfg.lagFor)
	var wg sync.WaitGroup
	var failed atomic.Value
	for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		<-tick.C
		src, tgt := next()
		wg.Go(func() {
			if err := c.publish(ctx, fmt.Sprintf("lat-%d", i), src, tgt); err != nil {
				failed.CompareAndSwap(nil, err)
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return benchResult{}, err
	}
	lats, err := c.wait(ctx, time.Minute)
	if err != nil {
		return benchResult{}, err
	}
	r := benchResult{Phase: "durable outcome latency", Ops: len(lats), Note: fmt.Sprintf("published → outcome received, at %.0f commands/s (half the durable rate) for %s", rate, cfg.lagFor)}
	r.P50Ms, r.P99Ms = percentiles(lats)
	return r, nil
}
