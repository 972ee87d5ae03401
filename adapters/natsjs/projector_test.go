package natsjs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// runProjector runs a projector until the returned stop function is called.
func runProjector(t *testing.T, r *natsjs.Resources, holder ...string) (stop func()) {
	t.Helper()
	h := "test"
	if len(holder) > 0 {
		h = holder[0]
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- natsjs.NewProjector(r, h, nil, nil).Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("projector Run = %v", err)
		}
	}
}

func waitProgress(t *testing.T, v *natsjs.Views, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := v.WaitFor(ctx, seq); err != nil {
		t.Fatalf("WaitFor(%d): %v (progress %d)", seq, err, v.Progress())
	}
}

func startViews(t *testing.T, r *natsjs.Resources) *natsjs.Views {
	t.Helper()
	v := natsjs.NewViews(r, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = v.Run(ctx) }()
	return v
}

func appendAll(t *testing.T, s *natsjs.Store, es ...events.Event) (last uint64) {
	t.Helper()
	for _, e := range es {
		prev, _, err := s.LastOfPair(t.Context(), e.SourceEntityID, e.TargetEntityID)
		if err != nil {
			t.Fatal(err)
		}
		if last, err = s.Append(t.Context(), e, prev.Sequence); err != nil {
			t.Fatalf("Append(%s %s): %v", e.Type, e.ConnectionID, err)
		}
	}
	return last
}

func revision(t *testing.T, r *natsjs.Resources, key string) uint64 {
	t.Helper()
	e, err := r.Views.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return e.Revision()
}

func view(t *testing.T, v *natsjs.Views, d projections.Direction, entity, id string) projections.View {
	t.Helper()
	got, ok, err := v.Get(t.Context(), d, entity, id)
	if err != nil || !ok {
		t.Fatalf("Get(%s.%s.%s) = %v, %v", d, entity, id, ok, err)
	}
	return got
}

func TestProjectorBuildsViewsAndResumesFromItsCheckpoint(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	v := startViews(t, r)

	seq := appendAll(t, s,
		event("e1", events.TypeConnectionRequested, "c1", "global", "eu"),
		event("e2", events.TypeConnectionRequested, "c2", "us", "eu"),
		event("e3", events.TypeConnectionAccepted, "c1", "global", "eu"),
	)
	stop := runProjector(t, r)
	waitProgress(t, v, seq)
	stop()

	if got := view(t, v, projections.Outbound, "global", "c1"); got.Status != domain.StatusConnected || got.Sequence != seq || got.RequestedBy != "alice" {
		t.Errorf("outbound.global.c1 = %+v, want Connected at %d requested by alice", got, seq)
	}
	if got := view(t, v, projections.Inbound, "eu", "c2"); got.Status != domain.StatusPending {
		t.Errorf("inbound.eu.c2 = %+v, want Pending", got)
	}
	list, err := v.List(t.Context(), "eu", projections.Inbound)
	if err != nil || len(list) != 2 {
		t.Errorf("List(eu, inbound) = %d views, %v; want 2", len(list), err)
	}
	c1rev := revision(t, r, "outbound.global.c1")

	// Events appended while no projector runs are projected after a restart; the events
	// before the checkpoint are not applied again (their views keep their revision).
	seq = appendAll(t, s,
		event("e4", events.TypeConnectionDenied, "c2", "us", "eu"),
		event("e5", events.TypeConnectionRequested, "c3", "us", "eu"),
	)
	stop = runProjector(t, r)
	waitProgress(t, v, seq)
	stop()
	if got := view(t, v, projections.Inbound, "eu", "c2"); got.Status != domain.StatusDenied {
		t.Errorf("after restart inbound.eu.c2 = %+v, want Denied", got)
	}
	if got := view(t, v, projections.Outbound, "us", "c3"); got.Status != domain.StatusPending {
		t.Errorf("after restart outbound.us.c3 = %+v, want Pending", got)
	}
	if got := revision(t, r, "outbound.global.c1"); got != c1rev {
		t.Errorf("outbound.global.c1 was rewritten after restart: revision %d → %d", c1rev, got)
	}
}

func TestProjectorRedeliveryChangesNothing(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	v := startViews(t, r)
	seq := appendAll(t, s,
		event("e1", events.TypeConnectionRequested, "c1", "global", "eu"),
		event("e2", events.TypeConnectionAccepted, "c1", "global", "eu"),
		event("e3", events.TypeConnectionRequested, "c2", "global", "us"),
	)
	stop := runProjector(t, r)
	waitProgress(t, v, seq)
	stop()
	before := map[string]uint64{}
	for _, k := range []string{"outbound.global.c1", "inbound.eu.c1", "outbound.global.c2", "inbound.us.c2"} {
		before[k] = revision(t, r, k)
	}

	// Lose the checkpoint on purpose: every event is delivered again.
	if err := r.Views.Delete(t.Context(), "projector.checkpoint"); err != nil {
		t.Fatal(err)
	}
	seq = appendAll(t, s, event("e4", events.TypeConnectionCancelled, "c2", "global", "us"))
	stop = runProjector(t, r)
	waitProgress(t, v, seq)
	stop()
	for k, rev := range before {
		if k == "outbound.global.c2" || k == "inbound.us.c2" {
			continue // changed by e4
		}
		if got := revision(t, r, k); got != rev {
			t.Errorf("%s rewritten by redelivery: revision %d → %d", k, rev, got)
		}
	}
	if got := view(t, v, projections.Outbound, "global", "c2"); got.Status != domain.StatusCancelled {
		t.Errorf("outbound.global.c2 = %+v, want Cancelled", got)
	}
}

func TestProjectorSkipsUnknownEventsAndKeepsGoing(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	v := startViews(t, r)
	appendAll(t, s, event("e1", events.TypeConnectionRequested, "c1", "global", "eu"))
	if _, err := r.JS.Publish(t.Context(), natsjs.AppendPrefix+".other.pair.ConnectionRenamed", []byte(`{"type":"ConnectionRenamed"}`)); err != nil {
		t.Fatal(err)
	}
	seq := appendAll(t, s, event("e2", events.TypeConnectionAccepted, "c1", "global", "eu"))
	stop := runProjector(t, r)
	defer stop()
	waitProgress(t, v, seq)
	if got := view(t, v, projections.Inbound, "eu", "c1"); got.Status != domain.StatusConnected {
		t.Errorf("inbound.eu.c1 = %+v, want Connected past the unknown event", got)
	}
}

func TestTwoProjectorsShareTheWork(t *testing.T) {
	_, url := natsjstest.Single(t)
	r1 := setup(t, url, 1)
	r2 := setup(t, url, 1) // a second process on the same NATS
	s := natsjs.NewStore(r1)
	v := startViews(t, r1)
	stop1 := runProjector(t, r1, "replica-1")
	stop2 := runProjector(t, r2, "replica-2")
	defer stop2()
	var seq uint64
	for i, pair := range [][2]string{{"a", "b"}, {"b", "a"}, {"a", "c"}} {
		id := string(rune('x' + i))
		seq = appendAll(t, s,
			event(id+"1", events.TypeConnectionRequested, id, pair[0], pair[1]),
			event(id+"2", events.TypeConnectionAccepted, id, pair[0], pair[1]))
	}
	waitProgress(t, v, seq)
	stop1() // one replica goes away; the other takes over
	seq = appendAll(t, s, event("x3", events.TypeConnectionDisconnected, "x", "a", "b"))
	waitProgress(t, v, seq)
	for _, k := range []struct {
		d     projections.Direction
		e, id string
		want  domain.Status
	}{
		{projections.Outbound, "a", "x", domain.StatusDisconnected},
		{projections.Inbound, "a", "y", domain.StatusConnected},
		{projections.Inbound, "c", "z", domain.StatusConnected},
	} {
		if got := view(t, v, k.d, k.e, k.id); got.Status != k.want {
			t.Errorf("%s.%s.%s = %s, want %s", k.d, k.e, k.id, got.Status, k.want)
		}
	}
}

// TestExpiryFeed gives every request once, in order, resumes after its checkpoint, and gives
// a request again when settling it failed.
func TestExpiryFeed(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	appendAll(t, s,
		event("e1", events.TypeConnectionRequested, "c1", "global", "eu"),
		event("e2", events.TypeConnectionAccepted, "c1", "global", "eu"),
		event("e3", events.TypeConnectionRequested, "c2", "global", "us"),
		event("e4", events.TypeConnectionRequested, "c3", "us", "eu"),
	)
	feed := func(stopAfter string, fail map[string]int) []string {
		t.Helper()
		var got []string
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_ = natsjs.NewExpiryFeed(r, "test", nil).Run(ctx, func(_ context.Context, st natsjs.Stored) error {
			if fail[st.Event.ConnectionID] > 0 {
				fail[st.Event.ConnectionID]--
				return errors.New("not now")
			}
			got = append(got, st.Event.ConnectionID)
			if st.Event.ConnectionID == stopAfter {
				cancel()
			}
			return nil
		})
		return got
	}
	if got := feed("c3", map[string]int{"c2": 1}); fmt.Sprint(got) != "[c1 c2 c3]" {
		t.Errorf("requests fed = %v, want [c1 c2 c3], c2 given again after it failed", got)
	}
	appendAll(t, s, event("e5", events.TypeConnectionRequested, "c4", "eu", "us"))
	if got := feed("c4", nil); fmt.Sprint(got) != "[c4]" {
		t.Errorf("after a restart the feed gave %v, want only the new request [c4]", got)
	}
}

func TestRebuild(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	v := startViews(t, r)
	seq := appendAll(t, s,
		event("e1", events.TypeConnectionRequested, "c1", "global", "eu"),
		event("e2", events.TypeConnectionAccepted, "c1", "global", "eu"),
		event("e3", events.TypeConnectionRequested, "c2", "us", "eu"),
	)
	stop := runProjector(t, r)
	waitProgress(t, v, seq)
	// While a projector runs, a rebuild is refused.
	if _, err := natsjs.Rebuild(t.Context(), r, nil, nil); !errors.Is(err, natsjs.ErrProjectorRunning) {
		t.Errorf("Rebuild while projecting = %v, want ErrProjectorRunning", err)
	}
	stop()
	// A view damaged by hand is rebuilt from the events.
	if _, err := r.Views.Put(t.Context(), "inbound.eu.c1", []byte(`{"id":"c1","status":"Denied","sequence":99}`)); err != nil {
		t.Fatal(err)
	}
	var calls []uint64
	n, err := natsjs.Rebuild(t.Context(), r, nil, func(done, total uint64) { calls = append(calls, done, total) })
	if err != nil || n != 3 {
		t.Fatalf("Rebuild = %d, %v; want 3 events", n, err)
	}
	if len(calls) < 4 || calls[len(calls)-2] != 3 || calls[len(calls)-1] != 3 {
		t.Errorf("progress calls = %v, want to end at 3 of 3", calls)
	}
	if got := view(t, v, projections.Inbound, "eu", "c1"); got.Status != domain.StatusConnected || got.Sequence != 2 {
		t.Errorf("inbound.eu.c1 after rebuild = %+v, want Connected at 2", got)
	}
	if got := view(t, v, projections.Outbound, "us", "c2"); got.Status != domain.StatusPending {
		t.Errorf("outbound.us.c2 after rebuild = %+v, want Pending", got)
	}
	// The service's projector resumes after the rebuilt checkpoint.
	seq = appendAll(t, s, event("e4", events.TypeConnectionDenied, "c2", "us", "eu"))
	stop = runProjector(t, r)
	defer stop()
	waitProgress(t, v, seq)
	if got := view(t, v, projections.Inbound, "eu", "c2"); got.Status != domain.StatusDenied {
		t.Errorf("inbound.eu.c2 = %+v, want Denied", got)
	}
}

// TestListManyViews lists an entity with more views than one direct get answers (1,024):
// the list falls back to a watch and still returns every view.
func TestListManyViews(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	v := startViews(t, r)
	stop := runProjector(t, r)
	defer stop()
	const n = 1100
	var seq uint64
	for i := range n {
		var err error
		if seq, err = s.Append(t.Context(), event(fmt.Sprintf("m%d", i), events.TypeConnectionRequested, fmt.Sprintf("mc%d", i), "hub", fmt.Sprintf("t%d", i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	waitProgress(t, v, seq)
	all, err := v.List(t.Context(), "hub", projections.Outbound)
	if err != nil || len(all) != n {
		t.Fatalf("List(hub) = %d views, %v; want %d", len(all), err, n)
	}
	one, err := v.List(t.Context(), "t7", projections.Outbound, projections.Inbound)
	if err != nil || len(one) != 1 || one[0].ID != "mc7" {
		t.Errorf("List(t7) = %+v, %v; want mc7 only", one, err)
	}
	none, err := v.List(t.Context(), "nobody", projections.Outbound)
	if err != nil || len(none) != 0 {
		t.Errorf("List(nobody) = %+v, %v; want none", none, err)
	}
}

// TestProjectorRecoversViewsWrittenPastItsCheckpoint loses the checkpoint after the views of
// a lone request are written (as a crash between the writes and the checkpoint would): the
// projector's first write of the request's views then fails its condition, and it must read
// them and go on rather than try the same write forever.
func TestProjectorRecoversViewsWrittenPastItsCheckpoint(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	v := startViews(t, r)
	seq := appendAll(t, s, event("e1", events.TypeConnectionRequested, "c1", "global", "eu"))
	stop := runProjector(t, r)
	waitProgress(t, v, seq)
	stop()
	before := revision(t, r, "outbound.global.c1")
	if err := r.Views.Delete(t.Context(), "projector.checkpoint"); err != nil {
		t.Fatal(err)
	}
	v = startViews(t, r) // the deletion does not move progress back: watch afresh
	stop = runProjector(t, r)
	defer stop()
	waitProgress(t, v, seq)
	if got := revision(t, r, "outbound.global.c1"); got != before {
		t.Errorf("outbound.global.c1 rewritten: revision %d → %d", before, got)
	}
}

// TestProjectorPipelinesManyBatches projects a backlog of several batches in which later
// events change views that earlier batches created (their writes may still await their
// acknowledgements), then follows events as they come.
func TestProjectorPipelinesManyBatches(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	v := startViews(t, r)
	const n = 1500
	ctx := t.Context()
	var seq uint64
	var err error
	for i := range n {
		if seq, err = s.Append(ctx, event(fmt.Sprintf("r%d", i), events.TypeConnectionRequested, fmt.Sprintf("p%d", i), "hub", fmt.Sprintf("t%d", i)), 0); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if seq, err = s.Append(ctx, event(fmt.Sprintf("a%d", i), events.TypeConnectionAccepted, fmt.Sprintf("p%d", i), "hub", fmt.Sprintf("t%d", i)), seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop := runProjector(t, r)
	defer stop()
	waitProgress(t, v, seq)
	for i := range n {
		want := domain.StatusPending
		if i%3 == 0 {
			want = domain.StatusConnected
		}
		if got := view(t, v, projections.Inbound, fmt.Sprintf("t%d", i), fmt.Sprintf("p%d", i)); got.Status != want {
			t.Fatalf("inbound.t%d.p%d = %+v, want %s", i, i, got, want)
		}
	}
	last := view(t, v, projections.Outbound, "hub", "p0")
	seq = appendAll(t, s, event("d0", events.TypeConnectionDisconnected, "p0", "hub", "t0"))
	waitProgress(t, v, seq)
	if got := view(t, v, projections.Outbound, "hub", "p0"); got.Status != domain.StatusDisconnected || got.Sequence != seq || got.RequestedAt != last.RequestedAt {
		t.Errorf("outbound.hub.p0 = %+v, want Disconnected at %d", got, seq)
	}
}
