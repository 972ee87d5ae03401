package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

var product = domain.Object{Type: "Product", ID: "P-100"}

// connected returns the Connected connection from global to target.
func connected(target string) domain.Connection {
	return domain.Connection{ID: "c-" + target, Source: "global", Target: target, Status: domain.StatusConnected}
}

func TestDecideShare(t *testing.T) {
	d := testDirectory(t)
	alice, sam, uma := actor(t, d, "alice", "global"), actor(t, d, "sam", "global"), actor(t, d, "uma", "global")
	now := t0.Add(time.Hour)
	share := func(targets ...string) domain.ShareObject {
		ids := make([]string, len(targets))
		for i, tg := range targets {
			ids[i] = "ev-" + tg
		}
		return domain.ShareObject{Object: product, Targets: targets, EventIDs: ids}
	}
	pending := connected("us")
	pending.Status = domain.StatusPending

	t.Run("one event per target not shared yet", func(t *testing.T) {
		got, err := domain.DecideShare([]domain.ShareState{{Connection: connected("eu")}, {Connection: connected("us"), Shared: true}}, share("eu", "us"), alice, now)
		if err != nil {
			t.Fatal(err)
		}
		want := events.Event{EventID: "ev-eu", Type: events.TypeObjectShared, ConnectionID: "c-eu", SourceEntityID: "global", TargetEntityID: "eu",
			ActorUserID: "alice", ActorEntityID: "global", OccurredAt: now, ObjectType: "Product", ObjectID: "P-100"}
		if len(got) != 1 || got[0] != want {
			t.Fatalf("DecideShare = %+v, want [%+v]", got, want)
		}
		if err := got[0].Validate(); err != nil {
			t.Errorf("the event does not validate: %v", err)
		}
	})
	t.Run("shared with all already: nothing to store", func(t *testing.T) {
		got, err := domain.DecideShare([]domain.ShareState{{Connection: connected("eu"), Shared: true}}, share("eu"), alice, now)
		if err != nil || len(got) != 0 {
			t.Fatalf("DecideShare = %v, %v; want no event, no error", got, err)
		}
	})
	refusals := []struct {
		name   string
		states []domain.ShareState
		cmd    domain.ShareObject
		a      domain.Actor
		family error
		says   string
	}{
		{"one target not Connected refuses all", []domain.ShareState{{Connection: connected("eu")}, {Connection: pending}}, share("eu", "us"), sam, domain.ErrShareNotConnected, `"us" is Pending`},
		{"one target never connected", []domain.ShareState{{Connection: connected("eu")}, {}}, share("eu", "us"), sam, domain.ErrShareNotConnected, `"us" has no connection`},
		{"not an admin", []domain.ShareState{{Connection: connected("eu")}}, share("eu"), uma, domain.ErrNotAdmin, "uma"},
		{"the service", []domain.ShareState{{Connection: connected("eu")}}, share("eu"), domain.System, domain.ErrPermission, "service"},
		{"to itself", []domain.ShareState{{Connection: connected("global")}}, share("global"), alice, domain.ErrSameEntity, "acting entity itself"},
		{"no target", nil, share(), alice, domain.ErrMissingValue, "toEntityIds"},
		{"a target twice", []domain.ShareState{{Connection: connected("eu")}, {Connection: connected("eu")}}, share("eu", "eu"), alice, domain.ErrInvalidValue, "twice"},
		{"a target that is no id", []domain.ShareState{{}}, share("e u"), alice, domain.ErrInvalidValue, "does not match"},
		{"an object type in lower case", []domain.ShareState{{Connection: connected("eu")}}, domain.ShareObject{Object: domain.Object{Type: "product", ID: "P-1"}, Targets: []string{"eu"}, EventIDs: []string{"x"}}, alice, domain.ErrInvalidValue, "objectType"},
		{"no object id", []domain.ShareState{{Connection: connected("eu")}}, domain.ShareObject{Object: domain.Object{Type: "Product"}, Targets: []string{"eu"}, EventIDs: []string{"x"}}, alice, domain.ErrMissingValue, "objectId"},
	}
	many := make([]string, domain.MaxShareTargets+1)
	for i := range many {
		many[i] = "e" + strings.Repeat("x", i+1)
	}
	refusals = append(refusals, struct {
		name   string
		states []domain.ShareState
		cmd    domain.ShareObject
		a      domain.Actor
		family error
		says   string
	}{"too many targets", make([]domain.ShareState, len(many)), share(many...), alice, domain.ErrInvalidValue, "at most 50"})
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			got, err := domain.DecideShare(c.states, c.cmd, c.a, now)
			if !errors.Is(err, c.family) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("DecideShare = %v, %v; want an error of %v saying %q", got, err, c.family, c.says)
			}
			if got != nil {
				t.Errorf("a refusal came with events %v", got)
			}
		})
	}
}

func TestDecideUnshare(t *testing.T) {
	d := testDirectory(t)
	sam := actor(t, d, "sam", "global")
	now := t0.Add(time.Hour)
	cmd := domain.UnshareObject{Object: product, Targets: []string{"eu", "us"}, EventIDs: []string{"a", "b"}}
	got, err := domain.DecideUnshare([]domain.ShareState{{Connection: connected("eu"), Shared: true}, {Connection: connected("us"), Shared: true}}, cmd, sam, now)
	if err != nil || len(got) != 2 {
		t.Fatalf("DecideUnshare = %v, %v; want two events", got, err)
	}
	for i, e := range got {
		if e.Type != events.TypeObjectUnshared || e.Reason != events.ReasonUnshared || e.EventID != cmd.EventIDs[i] || e.TargetEntityID != cmd.Targets[i] {
			t.Errorf("event %d = %+v", i, e)
		}
	}
	got, err = domain.DecideUnshare([]domain.ShareState{{Connection: connected("eu"), Shared: true}, {Connection: connected("us")}}, cmd, sam, now)
	if !errors.Is(err, domain.ErrNotShared) || !strings.Contains(err.Error(), `"us"`) || got != nil {
		t.Fatalf("unsharing what is not shared with us = %v, %v; want ErrNotShared naming us", got, err)
	}
}

// A disconnection's unshares are by its actor, at its time, after it in the same batch; the
// connection, Disconnected, takes them ([domain.Evolve]), and a share after it is refused.
func TestSharesEndedFollowTheDisconnection(t *testing.T) {
	shared := ev(events.TypeObjectShared, "alice", "global", t0.Add(90*time.Second))
	shared.ObjectType, shared.ObjectID = "Product", "P-1"
	state := domain.Connection{}
	for _, e := range []events.Event{requested, accepted, shared, disconnected} {
		var err error
		if state, err = domain.Evolve(state, e); err != nil {
			t.Fatalf("Evolve(%s): %v", e.Type, err)
		}
	}
	ended := domain.SharesEnded(disconnected, []domain.Object{{Type: "Product", ID: "P-1"}, {Type: "AccountingPeriod", ID: "2026-11"}}, []string{"u1", "u2"})
	for _, e := range ended {
		if err := e.Validate(); err != nil {
			t.Fatalf("%+v: %v", e, err)
		}
		if e.Reason != events.ReasonConnectionEnded || e.ActorUserID != disconnected.ActorUserID || !e.OccurredAt.Equal(disconnected.OccurredAt) {
			t.Errorf("ended share %+v does not follow %+v", e, disconnected)
		}
		next, err := domain.Evolve(state, e)
		if err != nil || next.Status != domain.StatusDisconnected {
			t.Errorf("Evolve(Disconnected, %s) = %v, %v", e.Type, next.Status, err)
		}
	}
	if _, err := domain.Evolve(state, shared); !errors.Is(err, domain.ErrBadEvent) {
		t.Errorf("Evolve(Disconnected, ObjectShared) = %v, want ErrBadEvent", err)
	}
}
