// Package storetest is the contract suite of the event store port ([app.EventStore]): one set
// of tests that every implementation passes (natsjs on a real NATS server, memstore in
// memory), so that tests of the service on the in-memory twin say something about the
// service on NATS.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// Open returns a new, empty event store for one test.
type Open func(t *testing.T) app.EventStore

// EventStore runs the contract suite on the stores open returns.
func EventStore(t *testing.T, open Open) {
	t.Run("FirstEventOfAPair", func(t *testing.T) { firstEvent(t, open(t)) })
	t.Run("ReplayByEventID", func(t *testing.T) { replay(t, open(t)) })
	t.Run("OneWinnerUnderConcurrency", func(t *testing.T) { oneWinner(t, open(t)) })
	t.Run("StaleGuessIsNotFinal", func(t *testing.T) { staleGuess(t, open(t)) })
	t.Run("ReadAgain", func(t *testing.T) { readAgain(t, open(t)) })
	t.Run("ConnectionHistory", func(t *testing.T) { history(t, open(t)) })
	t.Run("SameEventIDTwice", func(t *testing.T) { sameIDTwice(t, open(t)) })
	t.Run("FollowInOneBatch", func(t *testing.T) { followBatch(t, open(t)) })
	t.Run("PairsAllOrNone", func(t *testing.T) { pairsAllOrNone(t, open(t)) })
	t.Run("PairsOneWinnerUnderConcurrency", func(t *testing.T) { pairsOneWinner(t, open(t)) })
}

var at = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func ev(id string, typ events.Type, conn, src, tgt string) events.Event {
	return events.Event{EventID: id, Type: typ, ConnectionID: conn, SourceEntityID: src, TargetEntityID: tgt,
		ActorUserID: "alice", ActorEntityID: src, OccurredAt: at}
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// store decides e on any state and returns the update.
func store(t *testing.T, s app.EventStore, e events.Event) app.Update {
	t.Helper()
	up, err := s.UpdatePair(ctxOf(t), app.PairUpdate{Source: e.SourceEntityID, Target: e.TargetEntityID, EventID: e.EventID,
		Decide: func(context.Context, app.PairState) (events.Event, error) { return e, nil }})
	if err != nil {
		t.Fatalf("UpdatePair(%s): %v", e.EventID, err)
	}
	return up
}

func firstEvent(t *testing.T, s app.EventStore) {
	var seen []app.PairState
	e := ev("e1", events.TypeConnectionRequested, "c1", "global", "eu")
	up, err := s.UpdatePair(ctxOf(t), app.PairUpdate{Source: "global", Target: "eu", EventID: "e1",
		Decide: func(_ context.Context, st app.PairState) (events.Event, error) {
			seen = append(seen, st)
			return e, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != (app.PairState{}) {
		t.Errorf("Decide saw %+v, want the empty state once", seen)
	}
	if up.Replayed || !up.Appended || up.Sequence == 0 || up.Event.EventID != "e1" {
		t.Errorf("update = %+v, want e1 appended at a sequence", up)
	}
	// The next decision sees it as the pair's latest connection.
	e2 := ev("e2", events.TypeConnectionAccepted, "c1", "global", "eu")
	up2, err := s.UpdatePair(ctxOf(t), app.PairUpdate{Source: "global", Target: "eu", EventID: "e2",
		Decide: func(_ context.Context, st app.PairState) (events.Event, error) {
			if st.Sequence != up.Sequence || st.Latest.ID != "c1" || st.Latest.Status != domain.StatusPending {
				return events.Event{}, fmt.Errorf("%w: state %+v", domain.ErrRuleViolation, st)
			}
			return e2, nil
		}})
	if err != nil || up2.Sequence <= up.Sequence {
		t.Fatalf("second update = %+v, %v", up2, err)
	}
	// Another pair is another history.
	if up3 := store(t, s, ev("e3", events.TypeConnectionRequested, "c2", "eu", "global")); up3.Sequence <= up2.Sequence {
		t.Errorf("another pair's event at %d, after %d", up3.Sequence, up2.Sequence)
	}
}

func replay(t *testing.T, s app.EventStore) {
	first := store(t, s, ev("e1", events.TypeConnectionRequested, "c1", "global", "eu"))
	called := false
	up, err := s.UpdatePair(ctxOf(t), app.PairUpdate{Source: "global", Target: "eu", EventID: "e1",
		Decide: func(context.Context, app.PairState) (events.Event, error) {
			called = true
			return events.Event{}, domain.ErrAlreadyLive
		}})
	if err != nil || called || !up.Replayed || up.Sequence != first.Sequence || up.Event.EventID != "e1" {
		t.Fatalf("update with the last event's id = %+v, %v (decided: %v); want a replay of %d", up, err, called, first.Sequence)
	}
}

func oneWinner(t *testing.T, s app.EventStore) {
	const n = 16
	var wg sync.WaitGroup
	var won, refused atomic.Int32
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("r%d", i)
			_, err := s.UpdatePair(ctxOf(t), app.PairUpdate{Source: "global", Target: "eu", EventID: id,
				Decide: func(_ context.Context, st app.PairState) (events.Event, error) {
					if st.Latest.Status.Live() {
						return events.Event{}, domain.ErrAlreadyLive
					}
					time.Sleep(time.Millisecond) // let the others decide on the same state
					return ev(id, events.TypeConnectionRequested, "c-"+id, "global", "eu"), nil
				}})
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, domain.ErrAlreadyLive):
				refused.Add(1)
			default:
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unexpected error: %v", err)
	}
	if won.Load() != 1 || refused.Load() != n-1 {
		t.Errorf("%d requests stored, %d refused; want 1 and %d", won.Load(), refused.Load(), n-1)
	}
}

func staleGuess(t *testing.T, s app.EventStore) {
	req := store(t, s, ev("e1", events.TypeConnectionRequested, "c1", "global", "eu"))
	store(t, s, ev("e2", events.TypeConnectionCancelled, "c1", "global", "eu"))
	// The guess still has c1 pending: a second request is refused on it, then decided on the
	// stored state (c1 cancelled), where it is allowed.
	guess := &app.PairState{Sequence: req.Sequence, Latest: domain.Connection{ID: "c1", Status: domain.StatusPending}}
	var states []app.PairState
	up, err := s.UpdatePair(ctxOf(t), app.PairUpdate{Source: "global", Target: "eu", EventID: "e3", Guess: guess,
		Decide: func(_ context.Context, st app.PairState) (events.Event, error) {
			states = append(states, st)
			if st.Latest.Status.Live() {
				return events.Event{}, domain.ErrAlreadyLive
			}
			return ev("e3", events.TypeConnectionRequested, "c2", "global", "eu"), nil
		}})
	if err != nil || up.Event.EventID != "e3" {
		t.Fatalf("update on a stale guess = %+v, %v; want e3 stored", up, err)
	}
	if len(states) != 2 || states[1].Latest.Status != domain.StatusCancelled {
		t.Errorf("states decided on = %+v, want the guess then the stored state (cancelled)", states)
	}
	// A guess whose decision is allowed but whose sequence is behind: the append is refused
	// and the decision is made again on the stored state.
	old := &app.PairState{Sequence: req.Sequence}
	up, err = s.UpdatePair(ctxOf(t), app.PairUpdate{Source: "global", Target: "eu", EventID: "e4", Guess: old,
		Decide: func(_ context.Context, st app.PairState) (events.Event, error) {
			if st.Latest.Status.Live() {
				return events.Event{}, domain.ErrAlreadyLive
			}
			return ev("e4", events.TypeConnectionRequested, "c3", "global", "eu"), nil
		}})
	if !errors.Is(err, domain.ErrAlreadyLive) || !up.Appended {
		t.Fatalf("update on a guess behind the store = %+v, %v; want refused (c2 is live) after an append was tried", up, err)
	}
}

func readAgain(t *testing.T, s app.EventStore) {
	store(t, s, ev("e1", events.TypeConnectionRequested, "c1", "global", "eu"))
	calls := 0
	up, err := s.UpdatePair(ctxOf(t), app.PairUpdate{Source: "global", Target: "eu", EventID: "e2",
		Decide: func(context.Context, app.PairState) (events.Event, error) {
			calls++
			if calls < 3 {
				return events.Event{}, app.ErrReadAgain
			}
			return ev("e2", events.TypeConnectionAccepted, "c1", "global", "eu"), nil
		}})
	if err != nil || calls != 3 || up.Event.EventID != "e2" {
		t.Fatalf("update = %+v, %v after %d decisions; want e2 stored on the third", up, err, calls)
	}
	_, err = s.UpdatePair(ctxOf(t), app.PairUpdate{Source: "global", Target: "eu", EventID: "e3",
		Decide: func(context.Context, app.PairState) (events.Event, error) { return events.Event{}, app.ErrReadAgain }})
	if !errors.Is(err, app.ErrContended) {
		t.Fatalf("update whose reads never agree = %v, want ErrContended", err)
	}
}

func history(t *testing.T, s app.EventStore) {
	store(t, s, ev("e1", events.TypeConnectionRequested, "c1", "global", "eu"))
	store(t, s, ev("x1", events.TypeConnectionRequested, "o1", "eu", "global")) // another pair
	store(t, s, ev("e2", events.TypeConnectionDenied, "c1", "global", "eu"))
	store(t, s, ev("e3", events.TypeConnectionRequested, "c2", "global", "eu"))
	store(t, s, ev("e4", events.TypeConnectionAccepted, "c2", "global", "eu"))
	for _, c := range []struct {
		id   string
		want []string
	}{{"c1", []string{"e1", "e2"}}, {"c2", []string{"e3", "e4"}}, {"nope", nil}} {
		hist, err := s.Connection(ctxOf(t), "global", "eu", c.id, app.Bound{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i, st := range hist {
			got = append(got, st.Event.EventID)
			if i > 0 && st.Sequence <= hist[i-1].Sequence {
				t.Errorf("history of %s out of order: %+v", c.id, hist)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("history of %s = %v, want %v", c.id, got, c.want)
		}
	}
	if hist, err := s.Connection(ctxOf(t), "eu", "global", "c1", app.Bound{}); err != nil || len(hist) != 0 {
		t.Errorf("c1 on the reverse pair = %+v, %v; want none", hist, err)
	}
}

// An event decided again with the id of one stored earlier (a retry whose first attempt was
// stored, and something happened on the pair after it) is not stored twice; an id stored
// for another event is refused as taken.
func sameIDTwice(t *testing.T, s app.EventStore) {
	first := store(t, s, ev("e1", events.TypeConnectionRequested, "c1", "global", "eu"))
	store(t, s, ev("e2", events.TypeConnectionCancelled, "c1", "global", "eu"))
	up, err := s.UpdatePair(ctxOf(t), app.PairUpdate{Source: "global", Target: "eu", EventID: "e1",
		Decide: func(context.Context, app.PairState) (events.Event, error) {
			return ev("e1", events.TypeConnectionRequested, "c1", "global", "eu"), nil
		}})
	if err != nil || up.Sequence != first.Sequence {
		t.Fatalf("the same event again = %+v, %v; want its first sequence %d", up, err, first.Sequence)
	}
	_, err = s.UpdatePair(ctxOf(t), app.PairUpdate{Source: "global", Target: "eu", EventID: "e1",
		Decide: func(context.Context, app.PairState) (events.Event, error) {
			return ev("e1", events.TypeConnectionRequested, "c9", "global", "eu"), nil
		}})
	if !errors.Is(err, app.ErrEventIDTaken) {
		t.Fatalf("another event with a stored id = %v, want ErrEventIDTaken", err)
	}
}

// shareEv is an event of the shared object Product P-1 over connection conn.
func shareEv(id string, typ events.Type, conn, src, tgt, reason string) events.Event {
	e := ev(id, typ, conn, src, tgt)
	e.ObjectType, e.ObjectID, e.Reason = "Product", "P-1", reason
	return e
}

// connected stores a Connected connection conn from src to tgt.
func connected(t *testing.T, s app.EventStore, conn, src, tgt string) {
	store(t, s, ev(conn+"-req", events.TypeConnectionRequested, conn, src, tgt))
	store(t, s, ev(conn+"-acc", events.TypeConnectionAccepted, conn, src, tgt))
}

// pairEvents returns the ids of the pair's connection's events, in order.
func pairEvents(t *testing.T, s app.EventStore, src, tgt, conn string) []string {
	t.Helper()
	hist, err := s.Connection(ctxOf(t), src, tgt, conn, app.Bound{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, st := range hist {
		ids = append(ids, st.Event.EventID)
	}
	return ids
}

// lastOf returns the sequence of the pair's last event.
func lastOf(t *testing.T, s app.EventStore, src, tgt string) (uint64, bool, error) {
	t.Helper()
	var seq uint64
	_, err := s.UpdatePair(ctxOf(t), app.PairUpdate{Source: src, Target: tgt, EventID: "none",
		Decide: func(_ context.Context, st app.PairState) (events.Event, error) {
			seq = st.Sequence
			return events.Event{}, domain.ErrAlreadyLive
		}})
	return seq, errors.Is(err, domain.ErrAlreadyLive), err
}

// The events Follow adds are stored after the decided one, in one batch; a retry finds the
// batch by its last event (Ours) and stores nothing again.
func followBatch(t *testing.T, s app.EventStore) {
	connected(t, s, "c1", "global", "eu")
	store(t, s, shareEv("s1", events.TypeObjectShared, "c1", "global", "eu", ""))
	update := app.PairUpdate{Source: "global", Target: "eu", EventID: "d1",
		Decide: func(context.Context, app.PairState) (events.Event, error) {
			return ev("d1", events.TypeConnectionDisconnected, "c1", "global", "eu"), nil
		},
		Follow: func(_ context.Context, st app.PairState, e events.Event) ([]events.Event, []app.Expect, error) {
			return []events.Event{shareEv("u1", events.TypeObjectUnshared, "c1", "global", "eu", events.ReasonConnectionEnded)}, nil, nil
		},
		Ours: func(e events.Event) bool { return e.EventID == "u1" },
	}
	up, err := s.UpdatePair(ctxOf(t), update)
	if err != nil || up.Replayed || up.Event.EventID != "d1" {
		t.Fatalf("disconnect with a share = %+v, %v; want d1 stored", up, err)
	}
	if got := pairEvents(t, s, "global", "eu", "c1"); fmt.Sprint(got) != "[c1-req c1-acc s1 d1 u1]" {
		t.Fatalf("events of c1 = %v, want the disconnection then the share's end", got)
	}
	if last, _, _ := lastOf(t, s, "global", "eu"); last != up.Sequence+1 {
		t.Errorf("the share's end is at %d, the disconnection at %d: want consecutive", last, up.Sequence)
	}
	again, err := s.UpdatePair(ctxOf(t), update)
	if err != nil || !again.Replayed || again.Event.EventID != "u1" {
		t.Fatalf("the same update again = %+v, %v; want a replay found by its last event", again, err)
	}
	if got := pairEvents(t, s, "global", "eu", "c1"); len(got) != 5 {
		t.Fatalf("events of c1 after the retry = %v, want nothing more", got)
	}
}

// A decision on several pairs stores its events on all of them, or, when one pair changed
// since it was read, decides again; a refusal stores nothing; and the batch found as the
// pairs' last events is a replay.
func pairsAllOrNone(t *testing.T, s app.EventStore) {
	connected(t, s, "c1", "global", "eu")
	connected(t, s, "c2", "global", "us")
	pairs := []app.Pair{{Source: "global", Target: "eu"}, {Source: "global", Target: "us"}}
	ids := []string{"s-eu", "s-us"}
	ours := func(e events.Event) bool { return e.EventID == "s-eu" || e.EventID == "s-us" }
	decisions := 0
	update := app.PairsUpdate{Pairs: pairs, Ours: ours,
		Decide: func(_ context.Context, states []app.PairState) ([]events.Event, error) {
			decisions++
			var es []events.Event
			for i, st := range states {
				if st.Latest.Status != domain.StatusConnected {
					return nil, fmt.Errorf("%w: %s", domain.ErrShareNotConnected, pairs[i].Target)
				}
				es = append(es, shareEv(ids[i], events.TypeObjectShared, st.Latest.ID, "global", pairs[i].Target, ""))
			}
			if decisions == 1 {
				// Someone changes a pair after it was read: the batch must not be stored.
				store(t, s, shareEv("other", events.TypeObjectShared, "c2", "global", "us", ""))
			}
			return es, nil
		}}
	res, err := s.UpdatePairs(ctxOf(t), update)
	if err != nil || res.Replayed || len(res.Stored) != 2 || decisions != 2 {
		t.Fatalf("share with two targets = %+v, %v after %d decisions; want two events stored on the second", res, err, decisions)
	}
	if res.Sequence != res.Stored[1].Sequence || res.Stored[1].Sequence != res.Stored[0].Sequence+1 {
		t.Errorf("sequences %+v, want consecutive, Sequence the last", res)
	}
	if got := pairEvents(t, s, "global", "us", "c2"); fmt.Sprint(got) != "[c2-req c2-acc other s-us]" {
		t.Errorf("events of c2 = %v", got)
	}
	again, err := s.UpdatePairs(ctxOf(t), update)
	if err != nil || !again.Replayed {
		t.Fatalf("the same update again = %+v, %v; want a replay", again, err)
	}
	// A refusal naming one pair stores nothing on any.
	store(t, s, ev("c2-end", events.TypeConnectionDisconnected, "c2", "global", "us"))
	before := pairEvents(t, s, "global", "eu", "c1")
	ids = []string{"t-eu", "t-us"}
	update.Ours = func(e events.Event) bool { return e.EventID == "t-eu" || e.EventID == "t-us" }
	_, err = s.UpdatePairs(ctxOf(t), update)
	if !errors.Is(err, domain.ErrShareNotConnected) {
		t.Fatalf("share with a disconnected target = %v, want the refusal", err)
	}
	if after := pairEvents(t, s, "global", "eu", "c1"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a refused share stored %v", after)
	}
	// Nothing to store: the latest sequence of the pairs.
	none, err := s.UpdatePairs(ctxOf(t), app.PairsUpdate{Pairs: pairs, Ours: func(events.Event) bool { return false },
		Decide: func(context.Context, []app.PairState) ([]events.Event, error) { return nil, nil }})
	if err != nil || len(none.Stored) != 0 || none.Sequence == 0 {
		t.Errorf("a decision with nothing to store = %+v, %v; want no event and the pairs' sequence", none, err)
	}
}

// Concurrent decisions on overlapping pairs: each pair's events follow the state they were
// decided on, so of the batches that each set "the first share" on both pairs exactly one
// wins.
func pairsOneWinner(t *testing.T, s app.EventStore) {
	connected(t, s, "c1", "global", "eu")
	connected(t, s, "c2", "global", "us")
	pairs := []app.Pair{{Source: "global", Target: "eu"}, {Source: "global", Target: "us"}}
	const n = 8
	var wg sync.WaitGroup
	var won, refused atomic.Int32
	for i := range n {
		wg.Go(func() {
			mine := func(e events.Event) bool {
				return e.EventID == fmt.Sprintf("w%d-eu", i) || e.EventID == fmt.Sprintf("w%d-us", i)
			}
			_, err := s.UpdatePairs(ctxOf(t), app.PairsUpdate{Pairs: pairs, Ours: mine,
				Decide: func(_ context.Context, states []app.PairState) ([]events.Event, error) {
					var es []events.Event
					for j, st := range states {
						if st.Latest.Status != domain.StatusConnected || st.Sequence != 2*uint64(j+1) {
							return nil, fmt.Errorf("%w: taken", domain.ErrRuleViolation) // someone shared first
						}
						es = append(es, shareEv(fmt.Sprintf("w%d-%s", i, pairs[j].Target), events.TypeObjectShared, st.Latest.ID, "global", pairs[j].Target, ""))
					}
					time.Sleep(time.Millisecond)
					return es, nil
				}})
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, domain.ErrRuleViolation):
				refused.Add(1)
			default:
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 || refused.Load() != n-1 {
		t.Errorf("%d batches stored, %d refused; want 1 and %d", won.Load(), refused.Load(), n-1)
	}
	for _, p := range pairs {
		conn := map[string]string{"eu": "c1", "us": "c2"}[p.Target]
		if got := pairEvents(t, s, p.Source, p.Target, conn); len(got) != 3 {
			t.Errorf("events of %s = %v, want one share", conn, got)
		}
	}
}
