package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// behindLog is a ConditionalLog as a client sees the moment after a partition heals: its
// append is stored by the leader, but the answer that arrives is a deposed leader's
// "changed" (ErrConcurrentChange), and the next read of the pair comes from that server too,
// an older state; later reads are the leader's.
type behindLog struct {
	reads []app.Stored // answered in turn; the last one from then on
	n     int
}

func (l *behindLog) LastOfPair(context.Context, string, string) (app.Stored, bool, error) {
	st := l.reads[min(l.n, len(l.reads)-1)]
	l.n++
	return st, true, nil
}

func (l *behindLog) AppendIf(context.Context, events.Event, uint64) (uint64, error) {
	return 0, app.ErrConcurrentChange
}

func (l *behindLog) AppendBatch(context.Context, []events.Event, []app.Expect) ([]uint64, error) {
	return nil, app.ErrConcurrentChange
}

// A read of the pair older than one read before is never decided on: here it would refuse a
// request ("a live connection exists") whose own event the leader had stored; the update
// waits for a current read instead, finds its event and replays it.
func TestAReadOlderThanOneBeforeIsReadAgain(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ev := func(id string, typ events.Type, eventID string) events.Event {
		return events.Event{EventID: eventID, Type: typ, ConnectionID: id, SourceEntityID: "global", TargetEntityID: "eu",
			ActorUserID: "root", OccurredAt: at}
	}
	const old, ours = "0c6c1f9e-0000-4000-8000-000000000001", "0c6c1f9e-0000-4000-8000-000000000002"
	log := &behindLog{reads: []app.Stored{
		{Sequence: 10, Event: ev(old, events.TypeConnectionDisconnected, "e10")}, // the leader: decided on
		{Sequence: 7, Event: ev(old, events.TypeConnectionAccepted, "e7")},       // the deposed leader
		{Sequence: 11, Event: ev(ours, events.TypeConnectionRequested, "ours")},  // the leader again
	}}
	decide := func(_ context.Context, s app.PairState) (events.Event, error) {
		if s.Latest.Status.Live() {
			return events.Event{}, domain.ErrRuleViolation
		}
		return ev(ours, events.TypeConnectionRequested, "ours"), nil
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := app.UpdateOptimistically(ctx, log, app.PairUpdate{Source: "global", Target: "eu", EventID: "ours", Decide: decide})
	if errors.Is(err, domain.ErrRuleViolation) {
		t.Fatal("refused on the older read")
	}
	if err != nil || !res.Replayed || res.Sequence != 11 {
		t.Fatalf("UpdateOptimistically = %+v, %v; want the request's own event at 11, replayed", res, err)
	}
}
