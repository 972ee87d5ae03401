package natsclient_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/natsclient"
)

// SharingSettings and SetSharingSettings, each user signed in as itself: who may read and
// change them, refusals that store nothing, a command id replayed, and the status of a
// request that the settings accept at once.
func TestSharingSettings(t *testing.T) {
	s := startService(t)
	root := s.clientAs(t, "root", natsclient.WithActor("root", "global"))
	eve := s.clientAs(t, "eve", natsclient.WithActor("eve", "eu"))
	viv := s.clientAs(t, "viv", natsclient.WithActor("viv", "eu"))
	ctx := t.Context()

	if got, err := viv.SharingSettings(ctx); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("SharingSettings never set = %#v, %v; want an empty, non-nil slice", got, err)
	}
	before := s.events(t, "entityconn.events.>")
	tests := []struct {
		name   string
		call   func() error
		want   error
		status int
	}{
		{"a user, not an admin, changes them", func() error { _, err := viv.SetSharingSettings(ctx, []string{"global"}); return err },
			natsclient.ErrPermission, http.StatusForbidden},
		{"a user without a grant reads them", func() error {
			_, err := s.clientAs(t, "sam", natsclient.WithActor("sam", "eu")).SharingSettings(ctx)
			return err
		}, natsclient.ErrPermission, http.StatusForbidden},
		{"the acting entity itself", func() error { _, err := eve.SetSharingSettings(ctx, []string{"eu"}); return err },
			natsclient.ErrInvalid, http.StatusBadRequest},
		{"* beside an id", func() error { _, err := eve.SetSharingSettings(ctx, []string{"*", "global"}); return err },
			natsclient.ErrInvalid, http.StatusBadRequest},
		{"an id twice", func() error { _, err := eve.SetSharingSettings(ctx, []string{"us", "us"}); return err },
			natsclient.ErrInvalid, http.StatusBadRequest},
	}
	for _, tt := range tests {
		err := tt.call()
		var e *natsclient.Error
		if !errors.Is(err, tt.want) || !errors.As(err, &e) || e.Status != tt.status {
			t.Errorf("%s = %v; want %v with status %d", tt.name, err, tt.want, tt.status)
		}
	}
	if n := s.events(t, "entityconn.events.>"); n != before {
		t.Fatalf("refused changes stored %d events", n-before)
	}

	res, err := eve.SetSharingSettings(ctx, []string{"global"}, natsclient.CommandID("set-1"))
	if err != nil || res.Sequence == 0 || res.ConnectionID != "" || res.Status != "" {
		t.Fatalf("SetSharingSettings([global]) = %+v, %v; want a sequence only", res, err)
	}
	if again, err := eve.SetSharingSettings(ctx, []string{"global"}, natsclient.CommandID("set-1")); err != nil || again != res {
		t.Errorf("SetSharingSettings with the same command id = %+v, %v; want %+v", again, err, res)
	}
	if got, err := viv.SharingSettings(ctx); err != nil || fmt.Sprint(got) != "[global]" {
		t.Fatalf("SharingSettings = %v, %v; want [global]", got, err)
	}

	conn := request(t, root, "eu")
	if conn.Status != "Connected" {
		t.Errorf("Request from an allowed source = %+v, want status Connected", conn)
	}
	if d, err := eve.Get(ctx, conn.ConnectionID, conn.Sequence); err != nil || d.Status != "Connected" || len(d.History) != 2 ||
		d.History[1].ActorUserID != "system:auto-accept" {
		t.Errorf("Get of the auto-accepted connection = %+v, %v", d, err)
	}
	if other := request(t, root, "eu", natsclient.As("root", "us")); other.Status != "Pending" {
		t.Errorf("Request from a source not in the list = %+v, want status Pending", other)
	}
	if n := s.events(t, "entityconn.events.>"); n != before+4 {
		t.Errorf("a change, an auto-accepted request and a pending one stored %d events, want 4", n-before)
	}

	if _, err := eve.SetSharingSettings(ctx, []string{"*"}); err != nil {
		t.Fatalf("SetSharingSettings([*]) = %v", err)
	}
	if got, _ := eve.SharingSettings(ctx); fmt.Sprint(got) != "[*]" {
		t.Errorf("SharingSettings = %v, want [*]", got)
	}
	if _, err := eve.SetSharingSettings(ctx, nil); err != nil {
		t.Fatalf("SetSharingSettings(nil) = %v", err)
	}
	if got, _ := eve.SharingSettings(ctx); got == nil || len(got) != 0 {
		t.Errorf("SharingSettings after nil = %#v, want none", got)
	}
}

// List, GetAsOf and SharedObjects as of instants between the events (contract §8).
func TestAsOfReads(t *testing.T) {
	s := startService(t)
	root := s.clientAs(t, "root", natsclient.WithActor("root", "global"))
	eve := s.clientAs(t, "eve", natsclient.WithActor("eve", "eu"))
	ctx := t.Context()
	instant := func() time.Time {
		time.Sleep(20 * time.Millisecond)
		defer time.Sleep(20 * time.Millisecond)
		return time.Now()
	}
	t0 := instant()
	conn := request(t, root, "eu")
	if conn.Status != "Pending" {
		t.Errorf("Request = %+v, want status Pending", conn)
	}
	t1 := instant()
	if _, err := eve.Accept(ctx, conn.ConnectionID); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Share(ctx, "Product", "P-1", []string{"eu"}); err != nil {
		t.Fatal(err)
	}
	t2 := instant()
	end, err := eve.Disconnect(ctx, conn.ConnectionID, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.List(ctx, natsclient.ListOptions{MinSequence: end.Sequence}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name    string
		at      time.Time
		status  string // "" for not found
		history int
		shared  int
	}{
		{"before the request", t0, "", 0, 0},
		{"requested", t1, "Pending", 1, 0},
		{"shared", t2, "Connected", 3, 1},
		{"zero: now", time.Time{}, "Disconnected", 5, 0},
	} {
		d, err := eve.GetAsOf(ctx, conn.ConnectionID, c.at)
		switch {
		case c.status == "" && !errors.Is(err, natsclient.ErrNotFound):
			t.Errorf("%s: GetAsOf = %+v, %v; want ErrNotFound", c.name, d, err)
		case c.status != "" && (err != nil || d.Status != c.status || len(d.History) != c.history):
			t.Errorf("%s: GetAsOf = %+v, %v; want %s with %d history items", c.name, d, err, c.status, c.history)
		}
		list, err := root.List(ctx, natsclient.ListOptions{Type: "outbound", AsOf: c.at})
		if err != nil || (c.status == "") != (len(list) == 0) || (c.status != "" && list[0].Status != c.status) {
			t.Errorf("%s: List as of then = %+v, %v; want [%s]", c.name, list, err, c.status)
		}
		shared, err := eve.SharedObjects(ctx, natsclient.SharedOptions{Direction: "sharedWith", AsOf: c.at})
		if err != nil || len(shared) != c.shared {
			t.Errorf("%s: SharedObjects as of then = %+v, %v; want %d", c.name, shared, err, c.shared)
		}
	}
	future := time.Now().Add(time.Hour)
	for name, call := range map[string]func() error{
		"List":          func() error { _, err := root.List(ctx, natsclient.ListOptions{AsOf: future}); return err },
		"GetAsOf":       func() error { _, err := root.GetAsOf(ctx, conn.ConnectionID, future); return err },
		"SharedObjects": func() error { _, err := root.SharedObjects(ctx, natsclient.SharedOptions{AsOf: future}); return err },
	} {
		var e *natsclient.Error
		if err := call(); !errors.Is(err, natsclient.ErrInvalid) || !errors.As(err, &e) || e.Status != http.StatusBadRequest {
			t.Errorf("%s as of a time in the future = %v, want ErrInvalid (400)", name, err)
		}
	}
	if _, err := root.GetAsOf(ctx, "", t1); !errors.Is(err, natsclient.ErrMissing) {
		t.Errorf("GetAsOf without an id = %v, want ErrMissing", err)
	}
}
