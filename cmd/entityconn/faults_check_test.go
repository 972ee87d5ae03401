package main

import (
	"strings"
	"testing"
	"time"

	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// history is a small consistent history: e1 requests e2 (command c1, REST), e2 accepts
// (c2, NATS), e1's second request is refused (c3), e2 disconnects (c4, durable).
func history() ([]*cmdRec, []storedEvent) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ev := func(seq uint64, corr string, t events.Type, actor, actorEntity string) storedEvent {
		return storedEvent{Seq: seq, Correlation: corr, MsgID: "ev-" + corr, Event: events.Event{
			EventID: "ev-" + corr, Type: t, ConnectionID: "k1", SourceEntityID: "e1", TargetEntityID: "e2",
			ActorUserID: actor, ActorEntityID: actorEntity, OccurredAt: at.Add(time.Duration(seq) * time.Second)}}
	}
	recs := []*cmdRec{
		{ID: "c1", Door: doorREST, Actor: "a1", Entity: "e1", Source: "e1", Target: "e2", Command: "request", ConnectionID: "k1", Answer: answerAcked, Sequence: 1},
		{ID: "c2", Door: doorNATS, Actor: "a2", Entity: "e2", Source: "e1", Target: "e2", Command: "accept", ConnectionID: "k1", Answer: answerAcked, Sequence: 2},
		{ID: "c3", Door: doorREST, Actor: "a1", Entity: "e1", Source: "e1", Target: "e2", Command: "request", Answer: answerRefused, Status: 409},
		{ID: "c4", Door: doorDurable, Actor: "a2", Entity: "e2", Source: "e1", Target: "e2", Command: "disconnect", ConnectionID: "k1", Answer: answerAcked, Sequence: 3},
	}
	evs := []storedEvent{
		ev(1, "c1", events.TypeConnectionRequested, "a1", "e1"),
		ev(2, "c2", events.TypeConnectionAccepted, "a2", "e2"),
		ev(3, "c4", events.TypeConnectionDisconnected, "a2", "e2"),
	}
	return recs, evs
}

func counts(r checkReport) [5]int {
	return [5]int{r.Acked, r.Lost, r.Unexpected, r.Duplicate, r.Indeterminate}
}

func TestCheckerPassesAConsistentHistory(t *testing.T) {
	recs, evs := history()
	rep := checkHistory(recs, evs)
	if got := counts(rep); got != [5]int{3, 0, 0, 0, 0} {
		t.Fatalf("acked, lost, unexpected, duplicate, indeterminate = %v, want [3 0 0 0 0]\n%s", got, strings.Join(rep.Details, "\n"))
	}
	if v := rep.Expected["k1"]; v.Status != "Disconnected" || v.Sequence != 3 || v.RequestedBy != "a1" {
		t.Errorf("folded view of k1: %+v", v)
	}
}

func TestCheckerFindsALostAck(t *testing.T) {
	recs, evs := history()
	rep := checkHistory(recs, evs[:2]) // the acknowledged disconnect is not stored
	if rep.Lost != 1 {
		t.Fatalf("lost = %d, want 1\n%s", rep.Lost, strings.Join(rep.Details, "\n"))
	}
	// An acknowledged sequence that holds another command's event is lost too.
	recs, evs = history()
	recs[1].Sequence = 3
	if rep := checkHistory(recs, evs); rep.Lost != 1 {
		t.Fatalf("ack whose sequence holds another event: lost = %d, want 1\n%s", rep.Lost, strings.Join(rep.Details, "\n"))
	}
}

func TestCheckerFindsADuplicate(t *testing.T) {
	recs, evs := history()
	again := evs[1]
	again.Seq = 4
	evs = append(evs, again) // the acceptance stored twice
	rep := checkHistory(recs, evs)
	if rep.Duplicate < 1 {
		t.Fatalf("duplicate = %d, want ≥ 1\n%s", rep.Duplicate, strings.Join(rep.Details, "\n"))
	}
	if !strings.Contains(strings.Join(rep.Details, "\n"), "stored 2 times") {
		t.Errorf("no finding names the command stored twice:\n%s", strings.Join(rep.Details, "\n"))
	}
}

func TestCheckerFindsUnexpectedEvents(t *testing.T) {
	for name, corr := range map[string]string{"unknown command": "c99", "no correlation id": "", "refused command": "c3"} {
		t.Run(name, func(t *testing.T) {
			recs, evs := history()
			evs = append(evs, storedEvent{Seq: 4, Correlation: corr, Event: events.Event{
				EventID: "x", Type: events.TypeConnectionRequested, ConnectionID: "k2", SourceEntityID: "e1", TargetEntityID: "e2",
				ActorUserID: "a1", ActorEntityID: "e1", OccurredAt: time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)}})
			rep := checkHistory(recs, evs)
			if rep.Unexpected != 1 || rep.Duplicate != 0 {
				t.Fatalf("unexpected = %d, duplicate = %d; want 1, 0\n%s", rep.Unexpected, rep.Duplicate, strings.Join(rep.Details, "\n"))
			}
		})
	}
}

func TestCheckerFindsTwoLiveConnections(t *testing.T) {
	recs, evs := history()
	// A second request of the pair, acknowledged, while k1 is still Connected.
	recs = append(recs, &cmdRec{ID: "c5", Door: doorNATS, Actor: "a1", Entity: "e1", Source: "e1", Target: "e2", Command: "request", ConnectionID: "k2", Answer: answerAcked, Sequence: 3})
	evs = []storedEvent{evs[0], evs[1],
		{Seq: 3, Correlation: "c5", Event: events.Event{EventID: "ev-c5", Type: events.TypeConnectionRequested, ConnectionID: "k2",
			SourceEntityID: "e1", TargetEntityID: "e2", ActorUserID: "a1", ActorEntityID: "e1", OccurredAt: time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)}},
		{Seq: 4, Correlation: "c4", Event: evs[2].Event}}
	recs[3].Sequence = 4
	rep := checkHistory(recs, evs)
	if rep.Duplicate < 1 || !strings.Contains(strings.Join(rep.Details, "\n"), "second live connection") {
		t.Fatalf("duplicate = %d, want the second live connection found\n%s", rep.Duplicate, strings.Join(rep.Details, "\n"))
	}
}

func TestCheckerCountsIndeterminate(t *testing.T) {
	recs, evs := history()
	recs[2].Answer = answerIndeterminate
	if rep := checkHistory(recs, evs); rep.Indeterminate != 1 {
		t.Fatalf("indeterminate = %d, want 1", rep.Indeterminate)
	}
}

func TestCompareViews(t *testing.T) {
	recs, evs := history()
	want := checkHistory(recs, evs).Expected
	v := want["k1"]
	kv := map[string]projections.View{
		"outbound.e1.k1": v,
		"inbound.e2.k1":  v,
	}
	if d := compareKV(want, kv); len(d) != 0 {
		t.Fatalf("equal views differ: %v", d)
	}
	stale := v
	stale.Status, stale.Sequence = "Connected", 2
	kv["inbound.e2.k1"] = stale
	kv["outbound.e1.k9"] = v
	if d := compareKV(want, kv); len(d) != 2 {
		t.Errorf("a stale and an extra KV view: %d differences %v, want 2", len(d), d)
	}
	delete(kv, "outbound.e1.k1")
	if d := compareKV(want, kv); len(d) != 3 {
		t.Errorf("a missing view too: %d differences %v, want 3", len(d), d)
	}

	item := listItem{ID: "k1", SourceEntityID: "e1", TargetEntityID: "e2", Status: "Disconnected"}
	if d := compareList("r1", "e1", projections.Outbound, want, []listItem{item}); len(d) != 0 {
		t.Errorf("equal list differs: %v", d)
	}
	if d := compareList("r1", "e2", projections.Inbound, want, nil); len(d) != 1 {
		t.Errorf("an empty list: %v, want 1 difference", d)
	}
	item.Status = "Connected"
	if d := compareList("r1", "e1", projections.Outbound, want, []listItem{item, item}); len(d) != 2 {
		t.Errorf("a stale item listed twice: %v, want 2 differences", d)
	}
}
