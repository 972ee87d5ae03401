package natsclient_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/natsclient"
)

// Share, Unshare and SharedObjects, each user signed in to NATS as itself: the rights of
// contract §7, both sides' lists, the errors' families, and a command id replayed.
func TestShareUnshareSharedObjects(t *testing.T) {
	s := startService(t)
	root := s.clientAs(t, "root", natsclient.WithActor("root", "global"))
	eve := s.clientAs(t, "eve", natsclient.WithActor("eve", "eu"))
	ctx := t.Context()

	conn := request(t, root, "eu")
	if _, err := eve.Accept(ctx, conn.ConnectionID); err != nil {
		t.Fatalf("Accept = %v", err)
	}
	request(t, root, "us") // Pending
	before := s.events(t, "entityconn.events.>")

	res, err := root.Share(ctx, "Product", "P-100", []string{"eu"}, natsclient.CommandID("share-1"))
	if err != nil || res.Sequence == 0 || res.ConnectionID != "" {
		t.Fatalf("Share(Product P-100, eu) = %+v, %v; want a sequence and no connection id", res, err)
	}
	if again, err := root.Share(ctx, "Product", "P-100", []string{"eu"}, natsclient.CommandID("share-1")); err != nil || again != res {
		t.Errorf("Share with the same command id = %+v, %v; want the first result %+v", again, err, res)
	}
	if _, err := root.Share(ctx, "Product", "P-100", []string{"eu"}); err != nil {
		t.Errorf("Share again = %v, want a success that stores nothing", err)
	}
	if n := s.events(t, "entityconn.events.>"); n != before+1 {
		t.Fatalf("events after one share = %d more, want 1", n-before)
	}

	by, err := root.SharedObjects(ctx, natsclient.SharedOptions{Direction: "sharedBy", MinSequence: res.Sequence})
	if err != nil || len(by) != 1 {
		t.Fatalf("SharedObjects(sharedBy) = %+v, %v; want P-100", by, err)
	}
	if o := by[0]; o.ObjectType != "Product" || o.ObjectID != "P-100" || o.SourceEntityID != "global" || o.TargetEntityID != "eu" ||
		o.ConnectionID != conn.ConnectionID || o.SharedBy != "root" || o.SharedAt.IsZero() {
		t.Errorf("SharedObjects(sharedBy)[0] = %+v; want Product P-100 global→eu over %s, shared by root", o, conn.ConnectionID)
	}
	with, err := eve.SharedObjects(ctx, natsclient.SharedOptions{Direction: "sharedWith", ObjectType: "Product", MinSequence: res.Sequence})
	if err != nil || len(with) != 1 || with[0] != by[0] {
		t.Errorf("SharedObjects(sharedWith) as eve@eu = %+v, %v; want the same item", with, err)
	}
	if none, err := root.SharedObjects(ctx, natsclient.SharedOptions{ObjectType: "AccountingPeriod"}); err != nil || none == nil || len(none) != 0 {
		t.Errorf("SharedObjects(AccountingPeriod) = %#v, %v; want an empty, non-nil slice", none, err)
	}

	viv := s.clientAs(t, "viv", natsclient.WithActor("viv", "global"))
	tests := []struct {
		name   string
		call   func() error
		want   error
		status int
	}{
		{"share with a Pending target", func() error { _, err := root.Share(ctx, "Product", "P-2", []string{"eu", "us"}); return err },
			natsclient.ErrRuleViolation, http.StatusConflict},
		{"share by a non-admin", func() error { _, err := viv.Share(ctx, "Product", "P-2", []string{"eu"}); return err },
			natsclient.ErrPermission, http.StatusForbidden},
		{"unshare by a non-admin", func() error { _, err := viv.Unshare(ctx, "Product", "P-100", []string{"eu"}); return err },
			natsclient.ErrPermission, http.StatusForbidden},
		{"share by the target", func() error { _, err := eve.Share(ctx, "Product", "P-2", []string{"global"}); return err },
			natsclient.ErrRuleViolation, http.StatusConflict},
		{"share of a malformed type", func() error { _, err := root.Share(ctx, "product", "P-2", []string{"eu"}); return err },
			natsclient.ErrInvalid, http.StatusBadRequest},
		{"share with the acting entity", func() error { _, err := root.Share(ctx, "Product", "P-2", []string{"global"}); return err },
			natsclient.ErrInvalid, http.StatusBadRequest},
		{"unshare of what is not shared", func() error { _, err := root.Unshare(ctx, "Product", "P-2", []string{"eu"}); return err },
			natsclient.ErrRuleViolation, http.StatusConflict},
		{"shared in both directions by name", func() error {
			_, err := root.SharedObjects(ctx, natsclient.SharedOptions{Direction: "both"})
			return err
		}, natsclient.ErrInvalid, http.StatusBadRequest},
	}
	for _, tt := range tests {
		err := tt.call()
		var e *natsclient.Error
		if !errors.Is(err, tt.want) || !errors.As(err, &e) || e.Status != tt.status {
			t.Errorf("%s = %v; want %v with status %d", tt.name, err, tt.want, tt.status)
		}
	}
	for name, err := range map[string]error{
		"Share without a type":    func() error { _, err := root.Share(ctx, "", "P-1", []string{"eu"}); return err }(),
		"Share without an id":     func() error { _, err := root.Share(ctx, "Product", "", []string{"eu"}); return err }(),
		"Unshare without targets": func() error { _, err := root.Unshare(ctx, "Product", "P-1", nil); return err }(),
	} {
		var e *natsclient.Error
		if !errors.Is(err, natsclient.ErrMissing) || errors.As(err, &e) {
			t.Errorf("%s = %v; want ErrMissing from the client itself", name, err)
		}
	}
	if n := s.events(t, "entityconn.events.>"); n != before+1 {
		t.Fatalf("refused shares stored %d events", n-before-1)
	}

	// A user acts only as itself: its NATS permissions drop a share on another user's subject.
	impostor := s.clientAs(t, "eve", natsclient.WithActor("root", "global"), natsclient.WithTimeout(200*time.Millisecond))
	if _, err := impostor.Unshare(ctx, "Product", "P-100", []string{"eu"}); !errors.Is(err, natsclient.ErrUnavailable) {
		t.Errorf("eve unsharing as root = %v, want ErrUnavailable (the server drops the request)", err)
	}

	un, err := root.Unshare(ctx, "Product", "P-100", []string{"eu"})
	if err != nil || un.Sequence <= res.Sequence {
		t.Fatalf("Unshare = %+v, %v; want a sequence after %d", un, err, res.Sequence)
	}
	if left, err := eve.SharedObjects(ctx, natsclient.SharedOptions{MinSequence: un.Sequence}); err != nil || len(left) != 0 {
		t.Errorf("SharedObjects as eve after the unshare = %+v, %v; want none", left, err)
	}
	if n := s.events(t, "entityconn.events.>"); n != before+2 {
		t.Errorf("events after a share and an unshare = %d more, want 2", n-before)
	}
	if _, err := root.Share(ctx, "Product", "P-3", []string{strings.Repeat("e", 65)}); !errors.Is(err, natsclient.ErrInvalid) {
		t.Errorf("Share with an entity id too long = %v, want ErrInvalid", err)
	}
}
