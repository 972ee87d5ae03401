package natsjs_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/events"
)

// backends are the NATS deployments the store contract suite runs against: they differ in
// how a conflict and a duplicate are reported (see docs/decisions.md).
var backends = []struct {
	name     string
	replicas int
	start    func(testing.TB) string
}{
	{"single", 1, func(t testing.TB) string { _, url := natsjstest.Single(t); return url }},
	{"cluster-R3", 3, func(t testing.TB) string { _, url := natsjstest.Cluster(t, 3); return url }},
}

func setup(t testing.TB, url string, replicas int) *natsjs.Resources {
	t.Helper()
	nc := natsjstest.Connect(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := natsjs.Setup(ctx, js, replicas)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var at = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func event(id string, typ events.Type, conn, src, tgt string) events.Event {
	return events.Event{EventID: id, Type: typ, ConnectionID: conn, SourceEntityID: src, TargetEntityID: tgt,
		ActorUserID: "alice", ActorEntityID: src, OccurredAt: at}
}

func streamMsgs(t testing.TB, r *natsjs.Resources) uint64 {
	t.Helper()
	info, err := r.Events.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestStoreContract(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			if testing.Short() && b.replicas > 1 {
				t.Skip("cluster suite skipped in -short mode")
			}
			r := setup(t, b.start(t), b.replicas)
			s := natsjs.NewStore(r)
			t.Run("append is conditional on the pair", func(t *testing.T) { testConditional(t, s, r) })
			t.Run("a retried append is not applied twice", func(t *testing.T) { testRetry(t, s, r) })
			t.Run("an event id stored for another event is refused", func(t *testing.T) { testIDTaken(t, s, r) })
			t.Run("concurrent appends: exactly one wins", func(t *testing.T) { testRace(t, s) })
			t.Run("pairs do not interfere", func(t *testing.T) { testPairs(t, s) })
			t.Run("connection history", func(t *testing.T) { testHistory(t, s) })
			t.Run("the stream is append-only", func(t *testing.T) { testAppendOnly(t, r) })
		})
	}
}

func testConditional(t *testing.T, s *natsjs.Store, r *natsjs.Resources) {
	ctx := t.Context()
	if _, ok, err := s.LastOfPair(ctx, "a1", "b1"); ok || err != nil {
		t.Fatalf("LastOfPair(empty) = %v, %v; want none", ok, err)
	}
	seq1, err := s.Append(ctx, event("e1", events.TypeConnectionRequested, "c1", "a1", "b1"), 0)
	if err != nil {
		t.Fatalf("Append(first, expect 0) = %v", err)
	}
	before := streamMsgs(t, r)
	_, err = s.Append(ctx, event("e2", events.TypeConnectionAccepted, "c1", "a1", "b1"), 0)
	if !errors.Is(err, natsjs.ErrConcurrentChange) {
		t.Fatalf("Append(stale expect 0) = %v, want ErrConcurrentChange", err)
	}
	if got := streamMsgs(t, r); got != before {
		t.Errorf("a refused append stored a message: %d → %d", before, got)
	}
	seq2, err := s.Append(ctx, event("e2", events.TypeConnectionAccepted, "c1", "a1", "b1"), seq1)
	if err != nil || seq2 <= seq1 {
		t.Fatalf("Append(expect %d) = %d, %v", seq1, seq2, err)
	}
	last, ok, err := s.LastOfPair(ctx, "a1", "b1")
	if err != nil || !ok || last.Sequence != seq2 || last.Event.Type != events.TypeConnectionAccepted {
		t.Errorf("LastOfPair = %+v, %v, %v; want the accept at %d", last, ok, err, seq2)
	}
}

func testRetry(t *testing.T, s *natsjs.Store, r *natsjs.Resources) {
	ctx := t.Context()
	e := event("retry-1", events.TypeConnectionRequested, "c2", "a2", "b2")
	seq, err := s.Append(ctx, e, 0)
	if err != nil {
		t.Fatal(err)
	}
	before := streamMsgs(t, r)
	again, err := s.Append(ctx, e, 0) // the same append, as after a lost acknowledgement
	if err != nil || again != seq {
		t.Errorf("Append(retry) = %d, %v; want the first sequence %d and no error", again, err, seq)
	}
	if got := streamMsgs(t, r); got != before {
		t.Errorf("the retry stored a message: %d → %d", before, got)
	}
	other := event("retry-2", events.TypeConnectionRequested, "c3", "a2", "b2")
	if _, err := s.Append(ctx, other, 0); !errors.Is(err, natsjs.ErrConcurrentChange) {
		t.Errorf("Append(another event, stale) = %v, want ErrConcurrentChange", err)
	}
}

// testIDTaken: JetStream de-duplicates by message id (the event id) within its window and
// answers the first message's sequence as if the append had succeeded. An event that is not
// the stored one (another pair, type or connection) must not be taken for it.
func testIDTaken(t *testing.T, s *natsjs.Store, r *natsjs.Resources) {
	ctx := t.Context()
	first := event("taken-1", events.TypeConnectionRequested, "tc1", "a4", "b4")
	if _, err := s.Append(ctx, first, 0); err != nil {
		t.Fatal(err)
	}
	before := streamMsgs(t, r)
	cases := []struct {
		name   string
		e      events.Event
		expect uint64
	}{
		{"another pair", event("taken-1", events.TypeConnectionRequested, "tc2", "a5", "b4"), 0},
		{"same pair, another connection", event("taken-1", events.TypeConnectionRequested, "tc3", "a4", "b4"), 0},
		{"same pair and connection, another type", event("taken-1", events.TypeConnectionCancelled, "tc1", "a4", "b4"), 0},
	}
	for _, c := range cases {
		if seq, err := s.Append(ctx, c.e, c.expect); !errors.Is(err, natsjs.ErrEventIDTaken) {
			t.Errorf("%s: Append(event id of another event) = %d, %v; want ErrEventIDTaken", c.name, seq, err)
		}
	}
	if got := streamMsgs(t, r); got != before {
		t.Errorf("refused appends stored messages: %d → %d", before, got)
	}
}

func testRace(t *testing.T, s *natsjs.Store) {
	ctx := t.Context()
	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for i := range n {
		wg.Go(func() {
			_, err := s.Append(ctx, event(fmt.Sprintf("race-%d", i), events.TypeConnectionRequested, fmt.Sprintf("rc-%d", i), "a3", "b3"), 0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, natsjs.ErrConcurrentChange):
				conflicts++
			default:
				t.Errorf("Append: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || conflicts != n-1 {
		t.Errorf("%d concurrent appends on an empty pair: %d won, %d conflicted; want 1 and %d", n, wins, conflicts, n-1)
	}
}

func testPairs(t *testing.T, s *natsjs.Store) {
	ctx := t.Context()
	if _, err := s.Append(ctx, event("p1", events.TypeConnectionRequested, "pc1", "x", "y"), 0); err != nil {
		t.Fatal(err)
	}
	// y→x, x→y-z and x-y→z share prefixes or entities with x→y but are other pairs.
	for i, p := range [][2]string{{"y", "x"}, {"x", "y-z"}, {"x-y", "z"}} {
		if _, err := s.Append(ctx, event(fmt.Sprintf("p%d", i+2), events.TypeConnectionRequested, fmt.Sprintf("pc%d", i+2), p[0], p[1]), 0); err != nil {
			t.Errorf("Append(%s→%s, expect 0) = %v, want nil: another pair's event interfered", p[0], p[1], err)
		}
	}
}

func testHistory(t *testing.T, s *natsjs.Store) {
	ctx := t.Context()
	var seq uint64
	appendE := func(id string, typ events.Type, conn string) {
		t.Helper()
		var err error
		if seq, err = s.Append(ctx, event(id, typ, conn, "h", "k"), seq); err != nil {
			t.Fatalf("Append(%s): %v", id, err)
		}
	}
	appendE("h1", events.TypeConnectionRequested, "old")
	appendE("h2", events.TypeConnectionDenied, "old")
	appendE("h3", events.TypeConnectionRequested, "mid")
	appendE("h4", events.TypeConnectionAccepted, "mid")
	appendE("h5", events.TypeConnectionDisconnected, "mid")
	appendE("h6", events.TypeConnectionRequested, "new")
	history := func(conn string, b natsjs.Bound) string {
		t.Helper()
		got, err := s.Connection(ctx, "h", "k", conn, b)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, st := range got {
			ids = append(ids, st.Event.EventID)
		}
		return fmt.Sprint(ids)
	}
	for conn, want := range map[string][]string{"old": {"h1", "h2"}, "mid": {"h3", "h4", "h5"}, "new": {"h6"}, "none": nil} {
		if got := history(conn, natsjs.Bound{}); got != fmt.Sprint(want) {
			t.Errorf("Connection(%s) = %v, want %v", conn, got, want)
		}
		// Requested about now: found among the pair's requests of the last minute.
		if got := history(conn, natsjs.Bound{RequestedAt: time.Now()}); got != fmt.Sprint(want) {
			t.Errorf("Connection(%s, requested now) = %v, want %v", conn, got, want)
		}
		// A requestedAt an hour ahead of the servers' clock: found by the full walk.
		if got := history(conn, natsjs.Bound{RequestedAt: time.Now().Add(time.Hour)}); got != fmt.Sprint(want) {
			t.Errorf("Connection(%s, requested in an hour) = %v, want %v", conn, got, want)
		}
	}
	// From says where the request is at the earliest: nothing before it is read.
	if got := history("old", natsjs.Bound{From: seq}); got != "[]" {
		t.Errorf("Connection(old, from the last event) = %v, want none", got)
	}
}

func testAppendOnly(t *testing.T, r *natsjs.Resources) {
	ctx := t.Context()
	if err := r.Events.DeleteMsg(ctx, 1); err == nil {
		t.Error("DeleteMsg(1) succeeded on the event stream, want it refused")
	}
	if err := r.Events.Purge(ctx); err == nil {
		t.Error("Purge succeeded on the event stream, want it refused")
	}
	cfg := r.Events.CachedInfo().Config
	if !cfg.DenyDelete || !cfg.DenyPurge || cfg.Discard != jetstream.DiscardNew || cfg.MaxAge != 0 || cfg.MaxMsgs != -1 && cfg.MaxMsgs != 0 {
		t.Errorf("event stream config = %+v, want append-only without limits", cfg)
	}
}

// TestSetupConcurrentlyOnACluster creates the streams and buckets from three processes at
// once on a fresh cluster, as replicas starting together do.
func TestSetupConcurrentlyOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	_, url := natsjstest.Cluster(t, 3)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		nc := natsjstest.Connect(t, url)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, errs[i] = natsjs.Setup(ctx, js, 3)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Setup %d: %v", i, err)
		}
	}
}
