package app

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	// known is the latest of the pair's sequences seen so far: every read and every guess
	// is of events stored, and none is ever removed, so a read older than that comes from
	// a server that is behind (a lagging follower, or a deposed leader in the moment after
	// a partition heals). Deciding on it could refuse a command on a state its own append
	// has already left behind; it is read again instead.
	var known uint64
	for range maxDecisions {
		var state PairState
		fromGuess := guess != nil
		if fromGuess {
			state, guess = *guess, nil
			known = max(known, state.Sequence)
		} else {
			last, found, err := lastAtLeast(ctx, log, u.Source, u.Target, known)
			if err != nil {
				return res, err
			}
			known = max(known, last.Sequence)
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

// staleReadPause is how long [lastAtLeast] waits before it reads a pair again.
const staleReadPause = 50 * time.Millisecond

// lastAtLeast reads the pair's last event until it is at sequence known or later, or ctx
// ends ([ErrUnavailable]).
func lastAtLeast(ctx context.Context, log ConditionalLog, source, target string, known uint64) (Stored, bool, error) {
	for {
		last, found, err := log.LastOfPair(ctx, source, target)
		if err != nil || last.Sequence >= known {
			return last, found, err
		}
		t := time.NewTimer(staleReadPause)
		select {
		case <-ctx.Done():
			t.Stop()
			return Stored{}, false, fmt.Errorf("%w: the pair's last event reads back older than one read before (a server behind the stream's leader)", ErrUnavailable)
		case <-t.C:
		}
	}
}
