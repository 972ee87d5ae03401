package app

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/domain"
)

// RunExpiry expires pending requests older than the pending TTL until ctx ends, and returns
// ctx's error. It follows the pending-request index (a KV watch: current entries first, then
// changes) and checks it at an interval of a twentieth of the TTL, between 100 ms and 5 s.
// Every replica may run it: an expiry is stored once (see [Service.Expire]). With a TTL of 0
// it returns at once.
func (s *Service) RunExpiry(ctx context.Context) error {
	ttl := s.cfg.PendingTTL
	if ttl <= 0 {
		return nil
	}
	var mu sync.Mutex
	pending := map[string]natsjs.Pending{}
	watchErr := make(chan error, 1)
	go func() {
		watchErr <- s.cfg.Views.PendingRequests(ctx, func(id string, p natsjs.Pending, ok bool) {
			mu.Lock()
			defer mu.Unlock()
			if ok {
				pending[id] = p
			} else {
				delete(pending, id)
			}
		})
	}()
	tick := time.NewTicker(min(max(ttl/20, 100*time.Millisecond), 5*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-watchErr:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		case <-tick.C:
		}
		now := s.cfg.Now()
		var due []natsjs.Pending
		mu.Lock()
		for _, p := range pending {
			if !now.Before(p.RequestedAt.Add(ttl)) {
				due = append(due, p)
			}
		}
		mu.Unlock()
		for _, p := range due {
			_, err := s.Expire(ctx, p)
			switch {
			case err == nil, errors.Is(err, domain.ErrRuleViolation):
				// Expired now, or answered meanwhile: the index will drop it.
				mu.Lock()
				delete(pending, p.ConnectionID)
				mu.Unlock()
			case ctx.Err() != nil:
				return ctx.Err()
			default:
				s.cfg.Log.Warn("expiry failed; will retry", "connection", p.ConnectionID, "err", err)
			}
		}
	}
}
