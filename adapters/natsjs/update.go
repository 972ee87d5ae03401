package natsjs

import (
	"context"
	"errors"
	"fmt"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// UpdatePair implements [app.EventStore] ([app.UpdateOptimistically]): it reads the pair's
// last event with a direct get, which may lag (the append, conditional on it, then fails and
// the pair is read again), decides, and appends conditionally.
func (s *Store) UpdatePair(ctx context.Context, u app.PairUpdate) (app.Update, error) {
	return app.UpdateOptimistically(ctx, conditional{s}, u)
}

// UpdatePairs implements [app.EventStore] ([app.UpdatePairsOptimistically]): the events of
// a decision on several pairs are appended as one atomic batch ([Store.AppendBatch]).
func (s *Store) UpdatePairs(ctx context.Context, u app.PairsUpdate) (app.PairsResult, error) {
	return app.UpdatePairsOptimistically(ctx, conditional{s}, u)
}

// conditional is the store as [app.UpdateOptimistically] uses it: its failures mark the
// service unavailable.
type conditional struct{ s *Store }

func (c conditional) LastOfPair(ctx context.Context, source, target string) (app.Stored, bool, error) {
	st, ok, err := c.s.LastOfPair(ctx, source, target)
	if err != nil {
		return st, ok, unavailable(err)
	}
	return st, ok, nil
}

func (c conditional) AppendIf(ctx context.Context, e events.Event, expect uint64) (uint64, error) {
	appendIf := c.s.Append
	if c.s.group != nil {
		appendIf = c.s.appendGrouped
	}
	seq, err := appendIf(ctx, e, expect)
	if err != nil && !errors.Is(err, ErrConcurrentChange) {
		return 0, unavailable(err)
	}
	return seq, err
}

func (c conditional) AppendBatch(ctx context.Context, es []events.Event, expect []app.Expect) ([]uint64, error) {
	seqs, err := c.s.AppendBatch(ctx, es, expect)
	if err != nil && !errors.Is(err, ErrConcurrentChange) {
		return nil, unavailable(err)
	}
	return seqs, err
}

// unavailable marks err, from NATS, as the service being unavailable ([app.ErrUnavailable]),
// unless it says something else: a conflict, a corrupt event, an event id taken.
func unavailable(err error) error {
	if errors.Is(err, domain.ErrConflict) || errors.Is(err, ErrCorruptEvent) || errors.Is(err, ErrEventIDTaken) || errors.Is(err, app.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", app.ErrUnavailable, err)
}

// The ports of package app that this package implements.
var (
	_ app.EventStore = (*Store)(nil)
	_ app.Views      = (*Views)(nil)
	_ app.ListIndex  = (*ListIndex)(nil)
	_ app.Directory  = (*DirectoryStore)(nil)
	_ app.ExpiryFeed = (*ExpiryFeed)(nil)
)
