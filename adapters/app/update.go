package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// ErrConcurrentChange is returned by [ConditionalLog.AppendIf] when the pair got another
// event since the caller read it.
var ErrConcurrentChange = fmt.Errorf("%w: the pair changed since it was read", domain.ErrConflict)

// maxDecisions bounds how often [UpdateOptimistically] decides again after concurrent changes.
const maxDecisions = 8

// ConditionalLog is an event log that appends on a condition: what [UpdateOptimistically]
// needs to implement [EventStore.UpdatePair].
type ConditionalLog interface {
	// LastOfPair returns the pair's last event, and false when it has none. It may lag: the
	// append, conditional on it, then fails.
	LastOfPair(ctx context.Context, source, target string) (Stored, bool, error)
	// AppendIf stores e if the pair's last event is at sequence expect (0: none), and
	// returns its sequence; [ErrConcurrentChange] if not. An event stored already (same id,
	// pair, type and connection) is not stored again: its sequence is returned.
	AppendIf(ctx context.Context, e events.Event, expect uint64) (uint64, error)
}

// UpdateOptimistically implements [EventStore.UpdatePair] on log: it reads the pair (or takes
// u's guess), decides, and appends on the condition that the pair is unchanged, again while
// it changes under it. Errors of log are returned as they are.
func UpdateOptimistically(ctx context.Context, log ConditionalLog, u PairUpdate) (Update, error) {
	var res Update
	guess := u.Guess
	for range maxDecisions {
		var state PairState
		fromGuess := guess != nil
		if fromGuess {
			state, guess = *guess, nil
		} else {
			last, found, err := log.LastOfPair(ctx, u.Source, u.Target)
			if err != nil {
				return res, err
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
				state = PairState{Sequence: last.Sequence, Latest: latest}
			}
		}
		e, err := u.Decide(ctx, state)
		switch {
		case errors.Is(err, ErrReadAgain):
			continue
		case err != nil && fromGuess:
			continue // the guess may be behind: decide on the stored state
		case err != nil:
			return res, err
		}
		seq, err := log.AppendIf(ctx, e, state.Sequence)
		res.Appended = true
		if errors.Is(err, ErrConcurrentChange) {
			continue // someone else changed the pair: decide again on what they did
		}
		if err != nil {
			return res, err
		}
		res.Stored = Stored{Event: e, Sequence: seq}
		return res, nil
	}
	return res, ErrContended
}
