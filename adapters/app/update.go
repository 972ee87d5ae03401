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
	// AppendBatch stores es, in order, as one atomic batch (all of them or none) if the last
	// event of each pair in expect is at the sequence given, and returns their sequences;
	// [ErrConcurrentChange] if one is not, or if the batch is stored already (its events'
	// ids are): the pairs, read again, then show it.
	AppendBatch(ctx context.Context, es []events.Event, expect []Expect) ([]uint64, error)
}

// Expect is the condition of an atomic batch on one pair: its last event is at Sequence
// (0: it has none).
type Expect struct {
	Pair
	Sequence uint64
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
			if found && (last.Event.EventID == u.EventID || u.Ours != nil && u.Ours(last.Event)) {
				res.Stored, res.Last, res.Replayed = last, last.Sequence, true
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
		var more []events.Event
		var also []Expect
		if u.Follow != nil {
			if more, also, err = u.Follow(ctx, state, e); errors.Is(err, ErrReadAgain) {
				continue
			} else if err != nil {
				return res, err
			}
		}
		var seq, last uint64
		if len(more) == 0 && len(also) == 0 {
			seq, err = log.AppendIf(ctx, e, state.Sequence)
			last = seq
		} else {
			var seqs []uint64
			expect := append([]Expect{{Pair{u.Source, u.Target}, state.Sequence}}, also...)
			seqs, err = log.AppendBatch(ctx, append([]events.Event{e}, more...), expect)
			if err == nil {
				seq, last = seqs[0], seqs[len(seqs)-1]
			}
		}
		res.Appended = true
		if errors.Is(err, ErrConcurrentChange) {
			continue // someone else changed the pair: decide again on what they did
		}
		if err != nil {
			return res, err
		}
		res.Stored, res.Last = Stored{Event: e, Sequence: seq}, last
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

// UpdatePairsOptimistically implements [EventStore.UpdatePairs] on log: it reads the pairs,
// decides, and appends the events as one atomic batch on the condition that none of the
// pairs has changed, again while they change under it. Errors of log are returned as they
// are.
func UpdatePairsOptimistically(ctx context.Context, log ConditionalLog, u PairsUpdate) (PairsResult, error) {
	var res PairsResult
	known := make([]uint64, len(u.Pairs)) // as in UpdateOptimistically, pair by pair
	guesses := u.Guesses
	if len(guesses) != len(u.Pairs) {
		guesses = nil
	}
	for range maxDecisions {
		states := make([]PairState, len(u.Pairs))
		fromGuess := guesses != nil
		if fromGuess {
			copy(states, guesses)
			for i, g := range guesses {
				known[i] = max(known[i], g.Sequence)
			}
			guesses = nil
		}
		for i, p := range u.Pairs {
			if fromGuess {
				break // decided on the guesses first
			}
			last, found, err := lastAtLeast(ctx, log, p.Source, p.Target, known[i])
			if err != nil {
				return res, err
			}
			known[i] = max(known[i], last.Sequence)
			if !found {
				continue
			}
			if u.Ours(last.Event) {
				res.Stored, res.Sequence, res.Replayed = []Stored{last}, last.Sequence, true
				return res, nil
			}
			latest, err := domain.FromLast(last.Event)
			if err != nil {
				return res, err
			}
			states[i] = PairState{Sequence: last.Sequence, Latest: latest}
		}
		es, err := u.Decide(ctx, states)
		if errors.Is(err, ErrReadAgain) || err != nil && fromGuess {
			continue // a guess may be behind: decide on the stored states
		}
		if err != nil {
			return res, err
		}
		if len(es) == 0 && fromGuess {
			continue // nothing to store, by the guess: make sure on the stored states
		}
		if len(es) == 0 {
			for _, st := range states {
				res.Sequence = max(res.Sequence, st.Sequence)
			}
			return res, nil
		}
		expect := make([]Expect, 0, len(u.Pairs))
		for i, p := range u.Pairs {
			for _, e := range es {
				if e.SourceEntityID == p.Source && e.TargetEntityID == p.Target {
					expect = append(expect, Expect{p, states[i].Sequence})
					break
				}
			}
		}
		var seqs []uint64
		if len(es) == 1 {
			var seq uint64
			seq, err = log.AppendIf(ctx, es[0], expect[0].Sequence)
			seqs = []uint64{seq}
		} else {
			seqs, err = log.AppendBatch(ctx, es, expect)
		}
		res.Appended = true
		if errors.Is(err, ErrConcurrentChange) {
			continue
		}
		if err != nil {
			return res, err
		}
		res.Stored = make([]Stored, len(es))
		for i, e := range es {
			res.Stored[i] = Stored{Event: e, Sequence: seqs[i]}
		}
		res.Sequence = seqs[len(seqs)-1]
		return res, nil
	}
	return res, ErrContended
}
