package natsjs

import (
	"context"
	"errors"
	"fmt"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/domain"
)

// maxDecisions bounds how often [Store.UpdatePair] decides again after concurrent changes.
const maxDecisions = 8

// UpdatePair implements [app.EventStore]: it reads the pair's last event (a direct get, which
// may lag: the append, conditional on it, then fails and the pair is read again), decides,
// and appends conditionally, again while the pair changes under it.
func (s *Store) UpdatePair(ctx context.Context, u app.PairUpdate) (app.Update, error) {
	var res app.Update
	guess := u.Guess
	for range maxDecisions {
		var state app.PairState
		fromGuess := guess != nil
		if fromGuess {
			state, guess = *guess, nil
		} else {
			last, found, err := s.LastOfPair(ctx, u.Source, u.Target)
			if err != nil {
				return res, unavailable(err)
			}
			if found && last.Event.EventID == u.EventID {
				res.Stored, res.Replayed = last, true
				return res, nil
			}
			if found {
				latest, err := domain.FromLast(last.Event)
				if err != nil {
					return res, err
				}
				state = app.PairState{Sequence: last.Sequence, Latest: latest}
			}
		}
		e, err := u.Decide(ctx, state)
		switch {
		case errors.Is(err, app.ErrReadAgain):
			continue
		case err != nil && fromGuess:
			continue // the guess may be behind: decide on the stored state
		case err != nil:
			return res, err
		}
		seq, err := s.Append(ctx, e, state.Sequence)
		res.Appended = true
		if errors.Is(err, ErrConcurrentChange) {
			continue // someone else changed the pair: decide again on what they did
		}
		if err != nil {
			return res, unavailable(err)
		}
		res.Stored = app.Stored{Event: e, Sequence: seq}
		return res, nil
	}
	return res, app.ErrContended
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
