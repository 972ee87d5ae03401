package app

import (
	"context"
	"errors"
	"time"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// ExpiryFeed yields the pending requests, in the order they were made, to expire: it calls
// f with each (again after f fails, until f succeeds) until ctx ends.
type ExpiryFeed interface {
	Run(ctx context.Context, f func(ctx context.Context, req Stored) error) error
}

// RunExpiry expires pending requests older than the pending TTL until ctx ends, and returns
// ctx's error. It takes the requests from feed in the order they were made, waits for each to
// reach its TTL (by the service's clock, checked at least every second), and expires it
// unless it has been answered. With a TTL of 0 it returns at once.
func (s *Service) RunExpiry(ctx context.Context, feed ExpiryFeed) error {
	ttl := s.cfg.PendingTTL
	if ttl <= 0 {
		return nil
	}
	tick := min(max(ttl/20, 100*time.Millisecond), time.Second)
	return feed.Run(ctx, func(ctx context.Context, req Stored) error {
		for {
			wait := req.Event.OccurredAt.Add(ttl).Sub(s.cfg.Now())
			if wait <= 0 {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(wait, tick)):
			}
		}
		_, err := s.Expire(ctx, req.Event)
		if err == nil || errors.Is(err, domain.ErrRuleViolation) {
			return nil // expired now, or answered (or expired) already
		}
		return err
	})
}

// Expire expires the request req if it is still pending and older than the pending TTL.
// Several replicas may call it for the same request: the event id is derived from the
// connection, so all but one find it stored, and the conditional append stores it once.
func (s *Service) Expire(ctx context.Context, req events.Event) (Result, error) {
	cmd := domain.ExpireConnection{ConnectionID: req.ConnectionID, TTL: s.cfg.PendingTTL,
		EventID: deriveID("event", "", "ExpireConnection", req.ConnectionID)}
	start := time.Now()
	res, err := s.decideAndAppend(ctx, decision{actor: domain.System, cmd: cmd, eventID: cmd.EventID,
		source: req.SourceEntityID, target: req.TargetEntityID, explicit: true})
	s.cfg.Metrics.Command(cmd.Name(), Outcome(err), time.Since(start))
	if err == nil && !res.Replayed {
		s.cfg.Metrics.Expired()
	}
	return res, err
}
