package natsjs_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

func objectEvent(id string, typ events.Type, conn, src, tgt, objectID, reason string) events.Event {
	e := event(id, typ, conn, src, tgt)
	e.ObjectType, e.ObjectID, e.Reason = "Product", objectID, reason
	return e
}

// share returns the share at key, and false when the key has no value (never written, or
// deleted).
func share(t *testing.T, r *natsjs.Resources, key string) (projections.Share, bool) {
	t.Helper()
	e, err := r.Views.Get(t.Context(), key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return projections.Share{}, false
	}
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	var s projections.Share
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return s, true
}

// The projector writes a share's two keys and deletes them when it ends; a share again
// after that is written over the delete marker, by this projector and by a restarted one
// (which reads the marker's revision).
func TestProjectorWritesAndDeletesShares(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	v := startViews(t, r)
	by, with := "sharedby.global.eu.Product.P-1", "sharedwith.eu.global.Product.P-1"

	seq := appendAll(t, s,
		event("e1", events.TypeConnectionRequested, "c1", "global", "eu"),
		event("e2", events.TypeConnectionAccepted, "c1", "global", "eu"),
		objectEvent("e3", events.TypeObjectShared, "c1", "global", "eu", "P-1", ""),
		objectEvent("e4", events.TypeObjectShared, "c1", "global", "eu", "P-2", ""),
	)
	stop := runProjector(t, r)
	waitProgress(t, v, seq)
	got, ok := share(t, r, by)
	if !ok || got.ConnectionID != "c1" || got.SharedBy != "alice" || got.Sequence != seq-1 {
		t.Fatalf("%s = %+v, %v; want shared over c1 by alice at %d", by, got, ok, seq-1)
	}
	if w, ok := share(t, r, with); !ok || w != got {
		t.Fatalf("%s = %+v, %v; want the same share", with, w, ok)
	}
	if c := view(t, v, projections.Outbound, "global", "c1"); c.Sequence != seq {
		t.Errorf("the connection's view is at %d, want its last event %d", c.Sequence, seq)
	}

	seq = appendAll(t, s, objectEvent("e5", events.TypeObjectUnshared, "c1", "global", "eu", "P-1", events.ReasonUnshared))
	waitProgress(t, v, seq)
	if _, ok := share(t, r, by); ok {
		t.Fatalf("%s still has a value after the unshare", by)
	}
	if _, ok := share(t, r, with); ok {
		t.Fatalf("%s still has a value after the unshare", with)
	}
	seq = appendAll(t, s, objectEvent("e6", events.TypeObjectShared, "c1", "global", "eu", "P-1", ""))
	waitProgress(t, v, seq)
	if got, ok := share(t, r, by); !ok || got.Sequence != seq {
		t.Fatalf("%s after sharing again = %+v, %v", by, got, ok)
	}
	stop()

	// A restarted projector has no cache: it reads the delete marker's revision.
	seq = appendAll(t, s,
		objectEvent("e7", events.TypeObjectUnshared, "c1", "global", "eu", "P-1", events.ReasonUnshared),
		objectEvent("e8", events.TypeObjectShared, "c1", "global", "eu", "P-1", ""),
	)
	stop = runProjector(t, r)
	waitProgress(t, v, seq)
	stop()
	stop = runProjector(t, r)
	seq = appendAll(t, s,
		objectEvent("e9", events.TypeObjectUnshared, "c1", "global", "eu", "P-1", events.ReasonUnshared),
	)
	waitProgress(t, v, seq)
	if _, ok := share(t, r, by); ok {
		t.Fatalf("%s still has a value", by)
	}
	stop()
	seq = appendAll(t, s, objectEvent("e10", events.TypeObjectShared, "c1", "global", "eu", "P-1", ""))
	stop = runProjector(t, r) // its share is written over the delete marker it reads
	waitProgress(t, v, seq)
	if got, ok := share(t, r, by); !ok || got.Sequence != seq {
		t.Fatalf("%s shared again after a restart = %+v, %v", by, got, ok)
	}
	seq = appendAll(t, s,
		event("e11", events.TypeConnectionDisconnected, "c1", "global", "eu"),
		objectEvent("e12", events.TypeObjectUnshared, "c1", "global", "eu", "P-1", events.ReasonConnectionEnded),
		objectEvent("e13", events.TypeObjectUnshared, "c1", "global", "eu", "P-2", events.ReasonConnectionEnded),
	)
	waitProgress(t, v, seq)
	stop()
	for _, k := range []string{by, with, "sharedby.global.eu.Product.P-2", "sharedwith.eu.global.Product.P-2"} {
		if got, ok := share(t, r, k); ok {
			t.Errorf("%s = %+v after the disconnection", k, got)
		}
	}
}
