package natsjs_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// scenario appends round connections among entities, each requested and then, by its
// number, left pending, accepted, accepted and disconnected, or denied.
func scenario(t *testing.T, s *natsjs.Store, entities []string, round, n int) (last uint64) {
	t.Helper()
	for i := range n {
		src, tgt := entities[i%len(entities)], entities[(i/len(entities)+1+i)%len(entities)]
		if src == tgt {
			continue
		}
		id := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%d-%d", round, i)).String()
		es := []events.Event{event(id+"r", events.TypeConnectionRequested, id, src, tgt)}
		switch i % 4 {
		case 1:
			es = append(es, event(id+"a", events.TypeConnectionAccepted, id, src, tgt))
		case 2:
			es = append(es, event(id+"a", events.TypeConnectionAccepted, id, src, tgt), event(id+"d", events.TypeConnectionDisconnected, id, src, tgt))
		case 3:
			es = append(es, event(id+"n", events.TypeConnectionDenied, id, src, tgt))
		}
		prev, _, err := s.LastOfPair(t.Context(), src, tgt)
		if err != nil {
			t.Fatal(err)
		}
		if prev.Sequence > 0 && prev.Event.Type != events.TypeConnectionDisconnected && prev.Event.Type != events.TypeConnectionDenied {
			continue // the pair is busy (rule 1); not what this test is about
		}
		last = max(last, appendAll(t, s, es...))
	}
	return last
}

// sameViews checks that the index lists, for every entity and direction, exactly what the
// views bucket holds.
func sameViews(t *testing.T, ix *natsjs.ListIndex, v *natsjs.Views, entities []string) (n int) {
	t.Helper()
	byID := func(a, b projections.View) int { return strings.Compare(a.ID, b.ID) }
	for _, ent := range entities {
		for _, ds := range [][]projections.Direction{{projections.Outbound}, {projections.Inbound}, {projections.Outbound, projections.Inbound}} {
			want, err := v.List(t.Context(), ent, ds...)
			if err != nil {
				t.Fatal(err)
			}
			got := ix.List(ent, ds...)
			slices.SortFunc(want, byID)
			slices.SortFunc(got, byID)
			if !slices.Equal(got, want) {
				t.Fatalf("%s %v: the index lists\n%v\nthe views bucket holds\n%v", ent, ds, got, want)
			}
			if len(ds) == 1 {
				n += len(got)
			}
		}
	}
	return n
}

// The index, loaded from a stream that already holds events and then following new ones,
// lists exactly what the projector wrote into the views bucket; an undecodable event is
// passed over.
func TestListIndexMatchesTheViews(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	entities := []string{"global", "eu", "us", "apac", "latam", "uk", "de", "fr", "jp", "au", "br", "in"}
	last := scenario(t, s, entities, 1, 120)
	if _, err := r.JS.Publish(t.Context(), natsjs.AppendPrefix+".old.gone."+string(events.TypeConnectionAccepted), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	stop := runProjector(t, r)
	defer stop()
	v := startViews(t, r)
	waitProgress(t, v, last+1)

	ix := natsjs.NewListIndex(r, nil)
	if ix.Ready() {
		t.Fatal("ready before reading anything")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = ix.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer wcancel()
	if _, err := ix.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	if ix.Sequence() != last+1 {
		t.Errorf("ready at sequence %d, the stream ends at %d", ix.Sequence(), last+1)
	}
	if n := sameViews(t, ix, v, entities); n < 100 {
		t.Fatalf("only %d views compared", n)
	}

	// Live: new events, including later events of loaded connections.
	last = scenario(t, s, entities, 2, 120)
	if err := ix.WaitFor(wctx, last); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, v, last)
	sameViews(t, ix, v, entities)

	// A sequence not stored yet: WaitFor gives up when its context ends.
	short, scancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer scancel()
	if err := ix.WaitFor(short, last+1); !errors.Is(err, natsjs.ErrNotProjected) {
		t.Errorf("WaitFor(a sequence not stored) = %v, want ErrNotProjected", err)
	}
}

// A saved index reads back at the next start and goes on from where it ended; a snapshot
// of another stream, or a damaged one, is refused.
func TestListIndexSnapshot(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	entities := []string{"global", "eu", "us", "apac", "latam", "uk", "de", "fr"}
	scenario(t, s, entities, 1, 80)
	path := filepath.Join(t.TempDir(), "list-index.snapshot")

	first := natsjs.NewListIndex(r, nil)
	if saved, err := first.SaveSnapshot(path); saved || err != nil {
		t.Fatalf("SaveSnapshot before loading = %v, %v; want nothing saved", saved, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = first.Run(runCtx); close(done) }()
	if _, err := first.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	<-done
	if saved, err := first.SaveSnapshot(path); !saved || err != nil {
		t.Fatalf("SaveSnapshot = %v, %v", saved, err)
	}
	at := first.Sequence()

	last := scenario(t, s, entities, 2, 80) // while no index runs
	next := natsjs.NewListIndex(r, nil)
	if err := next.LoadSnapshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	if next.Sequence() != at {
		t.Fatalf("snapshot read at %d, saved at %d", next.Sequence(), at)
	}
	go func() { _ = next.Run(ctx) }()
	if err := next.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}
	stopProjector := runProjector(t, r)
	defer stopProjector()
	v := startViews(t, r)
	waitProgress(t, v, last)
	if n := sameViews(t, next, v, entities); n < 60 {
		t.Fatalf("only %d views compared", n)
	}

	// Damaged: refused, the index left empty.
	bad := filepath.Join(t.TempDir(), "bad.snapshot")
	if err := os.WriteFile(bad, []byte("entityconn-index-1\nnot really"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := natsjs.NewListIndex(r, nil)
	if err := other.LoadSnapshot(ctx, bad); !errors.Is(err, projections.ErrBadSnapshot) || other.Sequence() != 0 {
		t.Errorf("damaged snapshot: %v (sequence %d), want ErrBadSnapshot", err, other.Sequence())
	}
	if err := other.LoadSnapshot(ctx, filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no snapshot: %v, want fs.ErrNotExist", err)
	}

	// Another event stream of the same name (deleted and made again): refused.
	if err := r.JS.DeleteStream(ctx, events.Stream); err != nil {
		t.Fatal(err)
	}
	r2 := setup(t, url, 1)
	fresh := natsjs.NewListIndex(r2, nil)
	if err := fresh.LoadSnapshot(ctx, path); !errors.Is(err, natsjs.ErrSnapshotMismatch) || fresh.Sequence() != 0 {
		t.Errorf("snapshot of another stream: %v (sequence %d), want ErrSnapshotMismatch", err, fresh.Sequence())
	}
}
