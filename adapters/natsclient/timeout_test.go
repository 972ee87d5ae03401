package natsclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/natsclient"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

// heldKeys is an [app.Outcomes] on which every key is held by another attempt that never
// ends: Begin waits until its context ends (or the test does), and reports the deadline it
// was given.
type heldKeys struct {
	deadlines chan time.Duration
	end       chan struct{}
}

func (h heldKeys) Begin(ctx context.Context, _, _, _ string) (json.RawMessage, app.Claim, error) {
	dl, _ := ctx.Deadline()
	h.deadlines <- time.Until(dl)
	select {
	case <-ctx.Done():
	case <-h.end:
	}
	return nil, nil, app.ErrInFlight
}

// A client tells the service how long it waits (Entityconn-Timeout-Ms), and the service ends
// the attempt in time to answer it: a client whose command cannot finish gets the service's
// answer (here 409, the command id in flight) instead of a timeout, and no attempt of the
// service outlives the client's wait. Without the header an attempt lasts app.CommandTimeout.
func TestTheServiceAnswersWithinTheClientsWait(t *testing.T) {
	_, url := natsjstest.Single(t)
	held := heldKeys{deadlines: make(chan time.Duration, 4), end: make(chan struct{})}
	svc, _ := apptest.Memory(t, app.Config{Outcomes: held})
	srv, err := natsapi.Start(natsjstest.Connect(t, url), &natsapi.Executor{Service: svc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	t.Cleanup(func() { close(held.end) }) // first: Stop waits for the requests in hand

	const wait = time.Second
	c := newClient(t, natsjstest.Connect(t, url), natsclient.WithActor("root", "global"), natsclient.WithTimeout(wait))
	start := time.Now()
	_, err = c.Request(t.Context(), "eu")
	var e *natsclient.Error
	if !errors.As(err, &e) || e.Status != http.StatusConflict {
		t.Fatalf("Request with every key held = %v; want the service's 409 (in flight), not a timeout", err)
	}
	if took := time.Since(start); took >= wait {
		t.Errorf("the answer took %v; want it within the client's wait of %v", took, wait)
	}
	if d := <-held.deadlines; d > wait || d < wait/2 {
		t.Errorf("the attempt had %v to run; want a little less than the client's %v", d, wait)
	}

	// Without the header: the service's own bound.
	nc := natsjstest.Connect(t, url)
	body := `{"commandId":"0b6f3c1e-2f4c-4c1e-9d6a-1f2e3d4c5b6a","entityId":"global","targetEntityId":"eu"}`
	_, _ = nc.Request("entityconn.api.root.request", []byte(body), 50*time.Millisecond)
	select {
	case d := <-held.deadlines:
		if d > app.CommandTimeout || d < app.CommandTimeout-2*time.Second {
			t.Errorf("without the header the attempt had %v to run; want about app.CommandTimeout (%v)", d, app.CommandTimeout)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request without the header never reached the outcomes")
	}
}

func TestRequestTimeout(t *testing.T) {
	for _, c := range []struct{ wait, want time.Duration }{
		{0, app.CommandTimeout},
		{-time.Second, app.CommandTimeout},
		{time.Hour, app.CommandTimeout},
		{5 * time.Second, 4500 * time.Millisecond},
		{time.Second, 900 * time.Millisecond},
		{150 * time.Millisecond, 75 * time.Millisecond},
	} {
		if got := app.RequestTimeout(c.wait); got != c.want {
			t.Errorf("RequestTimeout(%v) = %v; want %v", c.wait, got, c.want)
		}
	}
}

// slowRecords is an [app.Outcomes] whose records are never written: every Complete and
// Release waits until its context ends.
type slowRecords struct{}

func (slowRecords) Begin(context.Context, string, string, string) (json.RawMessage, app.Claim, error) {
	return nil, slowClaim{}, nil
}

type slowClaim struct{}

func (slowClaim) Retry() bool                      { return false }
func (slowClaim) EarlierMayRun() bool              { return false }
func (slowClaim) WaitEarlier(context.Context) bool { return true }
func (slowClaim) Complete(ctx context.Context, _ json.RawMessage) error {
	<-ctx.Done()
	return ctx.Err()
}
func (slowClaim) Release(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

// The write of a command's outcome record fits in the caller's wait too: when the record
// cannot be written, the caller still gets the command's answer in time (a success: its event
// is stored, and a retry would find it).
func TestAnOutcomeRecordThatHangsDoesNotHoldTheAnswer(t *testing.T) {
	_, url := natsjstest.Single(t)
	svc, _ := apptest.Memory(t, app.Config{Outcomes: slowRecords{}})
	srv, err := natsapi.Start(natsjstest.Connect(t, url), &natsapi.Executor{Service: svc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)

	const wait = time.Second
	c := newClient(t, natsjstest.Connect(t, url), natsclient.WithActor("root", "global"), natsclient.WithTimeout(wait))
	start := time.Now()
	res, err := c.Request(t.Context(), "eu")
	if err != nil || res.ConnectionID == "" {
		t.Fatalf("Request whose record hangs = %+v, %v; want the stored request's success", res, err)
	}
	if took := time.Since(start); took >= wait {
		t.Errorf("the answer took %v; want it within the client's wait of %v", took, wait)
	}
}
