package memstore

import (
	"context"
	"time"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/events"
)

// ExpiryFeed yields the store's requests to expire ([app.ExpiryFeed]).
type ExpiryFeed struct{ s *Store }

// ExpiryFeed returns the store's expiry feed.
func (s *Store) ExpiryFeed() ExpiryFeed { return ExpiryFeed{s} }

// Run implements [app.ExpiryFeed]: it calls settle with every request, in order, again after
// a pause while settle fails, until ctx ends; it returns ctx's error.
func (f ExpiryFeed) Run(ctx context.Context, settle func(context.Context, app.Stored) error) error {
	next := 0 // position in the log
	for {
		f.s.mu.Lock()
		var req *app.Stored
		for ; next < len(f.s.log); next++ {
			if st := f.s.log[next]; st.Event.Type == events.TypeConnectionRequested {
				req = &st
				break
			}
		}
		changed := f.s.changed
		f.s.mu.Unlock()
		if req == nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-changed:
				continue
			}
		}
		for settle(ctx, *req) != nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
		next++
	}
}
