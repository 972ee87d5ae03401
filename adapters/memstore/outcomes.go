package memstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/entityconn/entityconn/adapters/app"
)

// Outcomes are outcome records in memory ([app.Outcomes]). An attempt holds its key until it
// completes or releases it: a process cannot die here, so there are no leases.
type Outcomes struct {
	mu      sync.Mutex
	records map[string]*outcome
}

type outcome struct {
	fingerprint string
	attempts    int
	held        bool
	done        bool
	value       json.RawMessage
	changed     chan struct{} // closed when the record is completed or released
}

// NewOutcomes returns an empty set of outcome records.
func NewOutcomes() *Outcomes { return &Outcomes{records: map[string]*outcome{}} }

// Begin implements [app.Outcomes].
func (o *Outcomes) Begin(ctx context.Context, scope, key, fingerprint string) (json.RawMessage, app.Claim, error) {
	k := scope + "\x00" + key
	for {
		o.mu.Lock()
		r, ok := o.records[k]
		if !ok {
			r = &outcome{fingerprint: fingerprint}
			o.records[k] = r
		}
		switch {
		case r.fingerprint != fingerprint:
			o.mu.Unlock()
			return nil, nil, app.ErrKeyReused
		case r.done:
			o.mu.Unlock()
			return r.value, nil, nil
		case !r.held:
			r.held, r.attempts = true, r.attempts+1
			r.changed = make(chan struct{})
			c := &claim{o: o, r: r, retry: r.attempts > 1}
			o.mu.Unlock()
			return nil, c, nil
		}
		changed := r.changed
		o.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, nil, app.ErrInFlight
		case <-changed:
		}
	}
}

// claim is a key held by one attempt.
type claim struct {
	o     *Outcomes
	r     *outcome
	retry bool
	ended bool
}

// Retry implements [app.Claim].
func (c *claim) Retry() bool { return c.retry }

// EarlierMayRun implements [app.Claim]: an earlier attempt has always ended here.
func (c *claim) EarlierMayRun() bool { return false }

// WaitEarlier implements [app.Claim].
func (c *claim) WaitEarlier(context.Context) bool { return true }

// Complete implements [app.Claim].
func (c *claim) Complete(_ context.Context, value json.RawMessage) error {
	return c.end(func(r *outcome) { r.done, r.value = true, value })
}

// Release implements [app.Claim].
func (c *claim) Release(context.Context) error { return c.end(func(*outcome) {}) }

func (c *claim) end(f func(*outcome)) error {
	c.o.mu.Lock()
	defer c.o.mu.Unlock()
	if c.ended {
		return fmt.Errorf("memstore: claim ended already")
	}
	c.ended = true
	f(c.r)
	c.r.held = false
	close(c.r.changed)
	return nil
}

var _ app.Outcomes = (*Outcomes)(nil)
