package natsclient_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/entityconn/entityconn/adapters/natsclient"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/events"
)

func TestRequestAcceptListGet(t *testing.T) {
	s := startService(t)
	c := s.client(t, natsclient.WithActor("root", "global"))
	ctx := t.Context()

	req, err := c.Request(ctx, "eu")
	if err != nil {
		t.Fatalf("Request(eu) = %v", err)
	}
	if _, err := uuid.Parse(req.ConnectionID); err != nil || req.Sequence == 0 {
		t.Fatalf("Request(eu) = %+v; want a UUID connection id and a sequence", req)
	}
	acc, err := c.Accept(ctx, req.ConnectionID, natsclient.As("eve", "eu"))
	if err != nil {
		t.Fatalf("Accept as eve@eu = %v", err)
	}
	if acc.ConnectionID != req.ConnectionID || acc.Sequence <= req.Sequence {
		t.Errorf("Accept = %+v; want connection %s at a sequence after %d", acc, req.ConnectionID, req.Sequence)
	}

	list, err := c.List(ctx, natsclient.ListOptions{Type: "outbound", MinSequence: acc.Sequence})
	if err != nil {
		t.Fatalf("List(outbound) = %v", err)
	}
	if len(list) != 1 {
		t.Fatalf("List(outbound) = %+v; want one connection", list)
	}
	got := list[0]
	if got.ID != req.ConnectionID || got.SourceEntityID != "global" || got.TargetEntityID != "eu" ||
		got.Status != "Connected" || got.RequestedBy != "root" || got.RequestedAt.IsZero() || got.UpdatedAt.Before(got.RequestedAt) {
		t.Errorf("List(outbound)[0] = %+v; want global→eu Connected, requested by root", got)
	}
	inbound, err := c.List(ctx, natsclient.ListOptions{Type: "inbound", Status: "Connected", MinSequence: acc.Sequence}, natsclient.As("eve", "eu"))
	if err != nil || len(inbound) != 1 || inbound[0].ID != req.ConnectionID {
		t.Errorf("List(inbound, Connected) as eve@eu = %+v, %v; want the connection", inbound, err)
	}
	if empty, err := c.List(ctx, natsclient.ListOptions{Status: "Pending"}); err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("List(Pending) = %#v, %v; want an empty, non-nil slice", empty, err)
	}

	d, err := c.Get(ctx, req.ConnectionID, acc.Sequence)
	if err != nil {
		t.Fatalf("Get = %v", err)
	}
	if d.ID != req.ConnectionID || d.Status != "Connected" || len(d.History) != 2 {
		t.Fatalf("Get = %+v; want the connected connection with two history items", d)
	}
	h0, h1 := d.History[0], d.History[1]
	if h0.Type != "ConnectionRequested" || h0.ActorUserID != "root" || h0.ActorEntityID != "global" || h0.At.IsZero() ||
		h1.Type != "ConnectionAccepted" || h1.ActorUserID != "eve" || h1.ActorEntityID != "eu" {
		t.Errorf("Get history = %+v; want requested by root@global, accepted by eve@eu", d.History)
	}

	// Deny, cancel and disconnect reach their endpoints too.
	dis, err := c.Disconnect(ctx, req.ConnectionID, "done")
	if err != nil || dis.ConnectionID != req.ConnectionID || dis.Sequence <= acc.Sequence {
		t.Errorf("Disconnect = %+v, %v", dis, err)
	}
	r2 := request(t, c, "us")
	if _, err := c.Cancel(ctx, r2.ConnectionID); err != nil {
		t.Errorf("Cancel = %v", err)
	}
	r3 := request(t, c, "us")
	den, err := c.Deny(ctx, r3.ConnectionID, "no", natsclient.As("root", "us"))
	if err != nil {
		t.Fatalf("Deny as root@us = %v", err)
	}
	d3, err := c.Get(ctx, r3.ConnectionID, den.Sequence, natsclient.As("root", "us"))
	if err != nil || d3.Status != "Denied" || d3.History[len(d3.History)-1].Reason != "no" {
		t.Errorf("Get(denied) = %+v, %v; want Denied with the reason", d3, err)
	}
}

func TestErrors(t *testing.T) {
	s := startService(t)
	c := s.client(t, natsclient.WithActor("root", "global"))
	ctx := t.Context()
	first := request(t, c, "eu")

	_, err := c.Request(ctx, "eu")
	var e *natsclient.Error
	if !errors.Is(err, natsclient.ErrRuleViolation) || !errors.As(err, &e) || e.Code != 53000030 || e.Status != http.StatusConflict {
		t.Fatalf("Request(eu) twice = %#v; want a *Error, ErrRuleViolation, status 409, code 53000030", err)
	}
	if e.Message == "" || e.ProcessID == "" || e.CommandID == "" || e.Category() != 30 {
		t.Errorf("duplicate request error = %+v; want a message, a process id, the generated command id, category 30", e)
	}
	if errors.Is(err, natsclient.ErrPermission) || errors.Is(err, natsclient.ErrUnavailable) || errors.Is(err, natsclient.ErrConflict) {
		t.Errorf("errors.Is(%v) matches another family", err)
	}

	tests := []struct {
		name   string
		call   func() error
		want   error
		status int
	}{
		{"request by a non-admin", func() error { _, err := c.Request(ctx, "eu", natsclient.As("viv", "global")); return err },
			natsclient.ErrPermission, http.StatusForbidden},
		{"accept from the source side", func() error { _, err := c.Accept(ctx, first.ConnectionID); return err },
			natsclient.ErrPermission, http.StatusForbidden},
		{"accept by a user who cannot see it", func() error {
			_, err := c.Accept(ctx, first.ConnectionID, natsclient.As("root", "apac"))
			return err
		}, natsclient.ErrNotFound, http.StatusNotFound},
		{"request by a user not in the directory", func() error {
			_, err := c.Request(ctx, "us", natsclient.As("mallory", "global"))
			return err
		}, natsclient.ErrUnauthenticated, http.StatusUnauthorized},
		{"request to an unknown entity, answered as no access", func() error { _, err := c.Request(ctx, "mars"); return err },
			natsclient.ErrPermission, http.StatusForbidden},
		{"list with a bad type", func() error { _, err := c.List(ctx, natsclient.ListOptions{Type: "sideways"}); return err },
			natsclient.ErrInvalid, http.StatusBadRequest},
		{"get of no connection", func() error { _, err := c.Get(ctx, uuid.NewString(), 0); return err },
			natsclient.ErrNotFound, http.StatusNotFound},
		{"disconnect of a pending connection", func() error {
			_, err := c.Disconnect(ctx, first.ConnectionID, "")
			return err
		}, natsclient.ErrRuleViolation, http.StatusConflict},
	}
	for _, tt := range tests {
		err := tt.call()
		var e *natsclient.Error
		if !errors.Is(err, tt.want) || !errors.As(err, &e) || e.Status != tt.status {
			t.Errorf("%s = %v; want %v with status %d", tt.name, err, tt.want, tt.status)
		}
	}

	// Arguments the client can judge are refused without a call.
	noActor := s.client(t)
	if _, err := noActor.Request(ctx, "eu"); !errors.Is(err, natsclient.ErrMissing) {
		t.Errorf("Request without an actor = %v, want ErrMissing", err)
	}
	if _, err := c.Accept(ctx, ""); !errors.Is(err, natsclient.ErrMissing) {
		t.Errorf("Accept(\"\") = %v, want ErrMissing", err)
	}
	if _, err := natsclient.New(nil); !errors.Is(err, natsclient.ErrMissing) {
		t.Errorf("New(nil) = %v, want ErrMissing", err)
	}
}

func TestCommandIDReplaysTheFirstOutcome(t *testing.T) {
	s := startService(t)
	c := s.client(t, natsclient.WithActor("root", "global"))
	ctx := t.Context()

	first, err := c.Request(ctx, "eu", natsclient.CommandID("order-42"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Request(ctx, "eu", natsclient.CommandID("order-42"))
	if err != nil || again != first {
		t.Errorf("Request with the same command id = %+v, %v; want the first result %+v", again, err, first)
	}
	if n := s.events(t, "entityconn.events.global.eu.>"); n != 1 {
		t.Errorf("stream holds %d events of global→eu, want 1", n)
	}
	// The same id for another command is refused rather than replayed.
	if _, err := c.Request(ctx, "us", natsclient.CommandID("order-42")); !errors.Is(err, natsclient.ErrInvalid) {
		t.Errorf("Request(us) with a used command id = %v, want ErrInvalid", err)
	}
}

func TestNoServiceIsUnavailable(t *testing.T) {
	_, url := natsjstest.Single(t) // NATS, but no entityconn
	c := newClient(t, natsjstest.Connect(t, url), natsclient.WithActor("root", "global"))
	ctx := t.Context()

	_, err := c.Request(ctx, "eu")
	var e *natsclient.Error
	if !errors.Is(err, natsclient.ErrUnavailable) || !errors.Is(err, nats.ErrNoResponders) || !errors.As(err, &e) ||
		e.Status != http.StatusServiceUnavailable || e.CommandID == "" {
		t.Errorf("Request with no service = %#v; want ErrUnavailable, nats.ErrNoResponders, status 503 and the command id", err)
	}
	if _, err := c.List(ctx, natsclient.ListOptions{}); !errors.Is(err, natsclient.ErrUnavailable) {
		t.Errorf("List with no service = %v, want ErrUnavailable", err)
	}
	if _, err := c.Subscribe(ctx, "eu", func(events.Event) error { return nil }); !errors.Is(err, natsclient.ErrUnavailable) {
		t.Errorf("Subscribe with no event stream = %v, want ErrUnavailable", err)
	}
}

// TestRetryAfterTimeout checks, against a fake service, that a call with no reply in time is
// asked again with the same command id, and that a retry finding the first attempt in flight
// waits for its outcome.
func TestRetryAfterTimeout(t *testing.T) {
	_, url := natsjstest.Single(t)
	nc := natsjstest.Connect(t, url)
	var mu sync.Mutex
	var ids []string
	_, err := nc.Subscribe("entityconn.api.root.request", func(m *nats.Msg) {
		var body struct {
			CommandID string `json:"commandId"`
		}
		_ = json.Unmarshal(m.Data, &body)
		mu.Lock()
		ids = append(ids, body.CommandID)
		n := len(ids)
		mu.Unlock()
		switch n {
		case 1: // the reply is lost
		case 2: // the first attempt is still in flight
			reply := nats.NewMsg(m.Reply)
			reply.Header.Set("Nats-Service-Error-Code", "409")
			reply.Header.Set("Nats-Service-Error", "in flight")
			reply.Data = []byte(`{"success":false,"processId":"p","reasons":[{"code":53000050,"message":"in flight"}]}`)
			_ = m.RespondMsg(reply)
		default:
			reply := nats.NewMsg(m.Reply)
			reply.Header.Set("Entityconn-Sequence", "7")
			reply.Data = []byte(`{"id":"3f1c2a4e-0000-4000-8000-000000000001","success":true}`)
			_ = m.RespondMsg(reply)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the fake listens before the client asks
		t.Fatal(err)
	}
	c := newClient(t, natsjstest.Connect(t, url), natsclient.WithActor("root", "global"), natsclient.WithTimeout(300*time.Millisecond))
	res, err := c.Request(t.Context(), "eu")
	if err != nil || res.ConnectionID != "3f1c2a4e-0000-4000-8000-000000000001" || res.Sequence != 7 {
		t.Fatalf("Request = %+v, %v; want the third attempt's result", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 3 || ids[0] == "" || ids[1] != ids[0] || ids[2] != ids[0] {
		t.Errorf("command ids sent = %q; want one generated id, three times", ids)
	}
}

// TestTimeout checks the error of a call that gets no reply at all.
func TestTimeout(t *testing.T) {
	_, url := natsjstest.Single(t)
	nc := natsjstest.Connect(t, url)
	if _, err := nc.Subscribe("entityconn.api.>", func(*nats.Msg) {}); err != nil { // never answers
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, natsjstest.Connect(t, url), natsclient.WithActor("root", "global"), natsclient.WithTimeout(100*time.Millisecond))
	_, err := c.Accept(t.Context(), "id-1", natsclient.CommandID("cmd-1"))
	var e *natsclient.Error
	if !errors.Is(err, natsclient.ErrUnavailable) || !errors.Is(err, nats.ErrTimeout) || !errors.As(err, &e) ||
		e.Status != http.StatusGatewayTimeout || e.CommandID != "cmd-1" {
		t.Errorf("Accept with no reply = %#v; want ErrUnavailable, nats.ErrTimeout, status 504, command id cmd-1", err)
	}
}

// A directory user acts only as itself: its NATS permissions refuse the subject of another
// user's request (the request is dropped, and the call times out), and nothing is stored.
func TestAUserActsOnlyAsItself(t *testing.T) {
	s := startService(t)
	eve := s.clientAs(t, "eve", natsclient.WithActor("eve", "eu"), natsclient.WithTimeout(200*time.Millisecond))
	if _, err := eve.Request(t.Context(), "us", natsclient.As("root", "eu")); !errors.Is(err, natsclient.ErrUnavailable) {
		t.Errorf("eve acting as root: Request = %v, want ErrUnavailable (the server drops the request)", err)
	}
	if n := s.events(t, "entityconn.events.>"); n != 0 {
		t.Errorf("%d events stored after a refused request, want 0", n)
	}
	res, err := eve.List(t.Context(), natsclient.ListOptions{})
	if err != nil || len(res) != 0 {
		t.Errorf("eve listing eu as herself = %+v, %v; want an empty list", res, err)
	}
}
