package app_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// An as-of read of one connection answers exactly what folding the connection's events up to
// that instant gives, whether it is answered from the list index alone (a connection not
// changed since its request then, or not requested yet) or read from the log: on the real
// server, for connections of one, two and five events, at every event's own instant and
// between events.
func TestGetAsOfEqualsTheFoldOfTheLog(t *testing.T) {
	st := apptest.Start(t)
	svc := st.Service
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	root := func(e string) app.Principal { return app.Principal{UserID: "root", EntityID: e} }
	exec := func(p app.Principal, c domain.Command) app.Result {
		t.Helper()
		time.Sleep(3 * time.Millisecond) // distinct instants
		res, err := svc.Execute(ctx, p, rest(uuid.NewString()), c)
		if err != nil {
			t.Fatalf("%s: %v", c.Name(), err)
		}
		return res
	}
	type conn struct{ id, src, tgt string }
	var conns []conn
	// One event: pending.
	r := exec(root("global"), domain.RequestConnection{Target: "eu"})
	conns = append(conns, conn{r.ConnectionID, "global", "eu"})
	// Two events: accepted.
	r = exec(root("global"), domain.RequestConnection{Target: "us"})
	exec(root("us"), domain.AcceptConnection{ConnectionID: r.ConnectionID})
	conns = append(conns, conn{r.ConnectionID, "global", "us"})
	// Five: accepted, a share, disconnected with the share's end.
	r = exec(root("eu"), domain.RequestConnection{Target: "us"})
	exec(root("us"), domain.AcceptConnection{ConnectionID: r.ConnectionID})
	exec(root("eu"), domain.ShareObject{Object: domain.Object{Type: "Product", ID: "P-1"}, Targets: []string{"us"}})
	res := exec(root("us"), domain.DisconnectConnection{ConnectionID: r.ConnectionID})
	conns = append(conns, conn{r.ConnectionID, "eu", "us"})
	if err := st.Index.WaitFor(ctx, res.Sequence); err != nil {
		t.Fatal(err)
	}

	store := natsjs.NewStore(st.Res)
	for _, c := range conns {
		all, err := store.Connection(ctx, c.src, c.tgt, c.id, app.Bound{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) == 0 {
			t.Fatalf("%s has no events in the log", c.id)
		}
		var instants []time.Time
		for _, e := range all {
			at := e.Event.OccurredAt
			instants = append(instants, at.Add(-time.Microsecond), at, at.Add(time.Microsecond))
		}
		instants = append(instants, time.Now())
		for _, at := range instants {
			var want []app.Stored
			for _, e := range all {
				if e.Event.OccurredAt.After(at) {
					break
				}
				want = append(want, e)
			}
			got, err := svc.GetAsOf(ctx, root(c.src), c.id, at)
			if len(want) == 0 {
				if !errorsIsNotFound(err) {
					t.Errorf("%s→%s %s as of %s, before its request: %+v, %v; want not found", c.src, c.tgt, c.id, at.Format(time.RFC3339Nano), got, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s→%s as of %s: %v", c.src, c.tgt, at.Format(time.RFC3339Nano), err)
			}
			if exp := fold(c.id, want); !reflect.DeepEqual(got, exp) {
				t.Errorf("%s→%s %s as of %s:\n got %+v\nwant %+v", c.src, c.tgt, c.id, at.Format(time.RFC3339Nano), got, exp)
			}
		}
	}
}

// fold is the connection id after the events hist, as a get shows it.
func fold(id string, hist []app.Stored) app.Detail {
	var d app.Detail
	evs := make([]events.Event, len(hist))
	for i, st := range hist {
		d.View, _ = projections.Apply(d.View, st.Sequence, st.Event)
		evs[i] = st.Event
	}
	d.History = projections.History(id, evs)
	return d
}

func errorsIsNotFound(err error) bool { return errors.Is(err, domain.ErrNotFound) }
