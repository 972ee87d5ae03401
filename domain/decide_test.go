package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

const conn = "c0000000-0000-4000-8000-000000000001"

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// testDirectory: global (root), eu and us under it.
//   - alice: admin of global, user of eu (may request global→eu, not global→us)
//   - erik: admin of eu
//   - uma: user of global and eu (no admin anywhere)
//   - sam: admin of us and global
func testDirectory(t *testing.T) *domain.Directory {
	t.Helper()
	d, ps := domain.NewDirectory("acme",
		[]domain.Entity{{ID: "global", Name: "Global"}, {ID: "eu", Name: "Europe", ParentID: "global"}, {ID: "us", Name: "US", ParentID: "global"}},
		[]domain.User{
			{ID: "alice", ClientID: "alice", SecretHash: "h", Access: []domain.Grant{{"global", domain.RoleAdmin}, {"eu", domain.RoleUser}}},
			{ID: "erik", ClientID: "erik", SecretHash: "h", Access: []domain.Grant{{"eu", domain.RoleAdmin}}},
			{ID: "uma", ClientID: "uma", SecretHash: "h", Access: []domain.Grant{{"global", domain.RoleUser}, {"eu", domain.RoleUser}}},
			{ID: "sam", ClientID: "sam", SecretHash: "h", Access: []domain.Grant{{"us", domain.RoleAdmin}, {"global", domain.RoleAdmin}}},
		})
	if ps != nil {
		t.Fatalf("NewDirectory: %v", ps)
	}
	return d
}

func actor(t *testing.T, d *domain.Directory, user, entity string) domain.Actor {
	t.Helper()
	a, err := d.Actor(user, entity)
	if err != nil {
		t.Fatalf("Actor(%s, %s): %v", user, entity, err)
	}
	return a
}

// ev builds an event of connection conn from global to eu.
func ev(typ events.Type, user, entity string, at time.Time) events.Event {
	return events.Event{EventID: string(typ), Type: typ, ConnectionID: conn, SourceEntityID: "global",
		TargetEntityID: "eu", ActorUserID: user, ActorEntityID: entity, OccurredAt: at}
}

var (
	requested    = ev(events.TypeConnectionRequested, "alice", "global", t0)
	accepted     = ev(events.TypeConnectionAccepted, "erik", "eu", t0.Add(time.Minute))
	denied       = ev(events.TypeConnectionDenied, "erik", "eu", t0.Add(time.Minute))
	cancelled    = ev(events.TypeConnectionCancelled, "alice", "global", t0.Add(time.Minute))
	disconnected = ev(events.TypeConnectionDisconnected, "alice", "global", t0.Add(2*time.Minute))
	expired      = ev(events.TypeConnectionExpired, "", "", t0.Add(200*time.Hour))
)

// Rule 1 without an oracle: given an admin of global, when it requests a connection to an
// entity that does not exist and to one it has no access to, then both are refused with the
// same error, whose messages differ only in the target's id.
func TestUnknownTargetIsAnsweredAsNoAccess(t *testing.T) {
	d := testDirectory(t)
	for _, user := range []string{"alice", "uma"} {
		a := actor(t, d, user, "global")
		_, unknown := domain.Decide(domain.Connection{}, domain.RequestConnection{Target: "mars", EventID: "e", ConnectionID: conn}, a, t0)
		_, noAccess := domain.Decide(domain.Connection{}, domain.RequestConnection{Target: "us", EventID: "e", ConnectionID: conn}, a, t0)
		if unknown == nil || noAccess == nil {
			t.Fatalf("%s: Decide(request to mars) = %v, Decide(request to us) = %v; want both refused", user, unknown, noAccess)
		}
		u := strings.ReplaceAll(unknown.Error(), `"mars"`, `"X"`)
		n := strings.ReplaceAll(noAccess.Error(), `"us"`, `"X"`)
		if u != n || !errors.Is(unknown, domain.ErrPermission) {
			t.Errorf("%s: request to an unknown entity = %q, to one without access = %q; want the same permission error", user, unknown, noAccess)
		}
	}
}

func given(t *testing.T, history ...events.Event) domain.Connection {
	t.Helper()
	var c domain.Connection
	for _, e := range history {
		var err error
		if c, err = domain.Evolve(c, e); err != nil {
			t.Fatalf("given: Evolve(%s): %v", e.Type, err)
		}
	}
	return c
}

func TestDecide(t *testing.T) {
	d := testDirectory(t)
	now := t0.Add(time.Hour)
	newConn := "c0000000-0000-4000-8000-000000000002"
	request := func(target string) domain.Command {
		return domain.RequestConnection{Target: target, ConnectionID: newConn, EventID: "e"}
	}
	cases := []struct {
		name    string
		given   []events.Event
		when    domain.Command
		user    string
		entity  string
		want    events.Type // the event type, when the command is accepted
		wantErr error
	}{
		// Requests.
		{name: "request on an empty pair", when: request("eu"), user: "alice", entity: "global", want: events.TypeConnectionRequested},
		{name: "rule 1: request to itself", when: request("global"), user: "alice", entity: "global", wantErr: domain.ErrSameEntity},
		{name: "rule 1: request to an unknown entity", when: request("mars"), user: "alice", entity: "global", wantErr: domain.ErrNoTargetAccess},
		{name: "rule 1: a non-admin's request to an unknown entity", when: request("mars"), user: "uma", entity: "global", wantErr: domain.ErrNotAdmin},
		{name: "request without a target", when: request(""), user: "alice", entity: "global", wantErr: domain.ErrMissingValue},
		{name: "rule 2: request while pending", given: []events.Event{requested}, when: request("eu"), user: "alice", entity: "global", wantErr: domain.ErrAlreadyLive},
		{name: "rule 2: request while connected", given: []events.Event{requested, accepted}, when: request("eu"), user: "alice", entity: "global", wantErr: domain.ErrAlreadyLive},
		{name: "rule 2: request after denied", given: []events.Event{requested, denied}, when: request("eu"), user: "alice", entity: "global", want: events.TypeConnectionRequested},
		{name: "rule 2: request after cancelled", given: []events.Event{requested, cancelled}, when: request("eu"), user: "alice", entity: "global", want: events.TypeConnectionRequested},
		{name: "rule 2: request after disconnected", given: []events.Event{requested, accepted, disconnected}, when: request("eu"), user: "alice", entity: "global", want: events.TypeConnectionRequested},
		{name: "rule 2: request after expired", given: []events.Event{requested, expired}, when: request("eu"), user: "alice", entity: "global", want: events.TypeConnectionRequested},
		{name: "P1: a non-admin of the source cannot request", when: request("eu"), user: "uma", entity: "global", wantErr: domain.ErrNotAdmin},
		{name: "P1: an admin without access to the target cannot request", when: request("us"), user: "alice", entity: "global", wantErr: domain.ErrNoTargetAccess},
		{name: "P1: a user-role grant on the target is enough", when: request("eu"), user: "alice", entity: "global", want: events.TypeConnectionRequested},
		{name: "P1: the service does not request", when: request("eu"), wantErr: domain.ErrPermission},

		// Accept and deny.
		{name: "P2: target admin accepts", given: []events.Event{requested}, when: domain.AcceptConnection{ConnectionID: conn}, user: "erik", entity: "eu", want: events.TypeConnectionAccepted},
		{name: "P2: target admin denies", given: []events.Event{requested}, when: domain.DenyConnection{ConnectionID: conn, Reason: "no"}, user: "erik", entity: "eu", want: events.TypeConnectionDenied},
		{name: "P2: the source cannot accept", given: []events.Event{requested}, when: domain.AcceptConnection{ConnectionID: conn}, user: "alice", entity: "global", wantErr: domain.ErrTargetOnly},
		{name: "P2: the source cannot deny", given: []events.Event{requested}, when: domain.DenyConnection{ConnectionID: conn}, user: "alice", entity: "global", wantErr: domain.ErrTargetOnly},
		{name: "P2: a non-admin of the target cannot accept", given: []events.Event{requested}, when: domain.AcceptConnection{ConnectionID: conn}, user: "alice", entity: "eu", wantErr: domain.ErrNotAdmin},
		{name: "rule 3: accept a connected one", given: []events.Event{requested, accepted}, when: domain.AcceptConnection{ConnectionID: conn}, user: "erik", entity: "eu", wantErr: domain.ErrNotPending},
		{name: "rule 3: deny a cancelled one", given: []events.Event{requested, cancelled}, when: domain.DenyConnection{ConnectionID: conn}, user: "erik", entity: "eu", wantErr: domain.ErrNotPending},
		{name: "rule 3: accept an expired one", given: []events.Event{requested, expired}, when: domain.AcceptConnection{ConnectionID: conn}, user: "erik", entity: "eu", wantErr: domain.ErrNotPending},

		// Cancel.
		{name: "P3: source admin cancels", given: []events.Event{requested}, when: domain.CancelConnection{ConnectionID: conn}, user: "alice", entity: "global", want: events.TypeConnectionCancelled},
		{name: "P3: the target cannot cancel", given: []events.Event{requested}, when: domain.CancelConnection{ConnectionID: conn}, user: "erik", entity: "eu", wantErr: domain.ErrSourceOnly},
		{name: "P3: a non-admin of the source cannot cancel", given: []events.Event{requested}, when: domain.CancelConnection{ConnectionID: conn}, user: "uma", entity: "global", wantErr: domain.ErrNotAdmin},
		{name: "rule 3: cancel a denied one", given: []events.Event{requested, denied}, when: domain.CancelConnection{ConnectionID: conn}, user: "alice", entity: "global", wantErr: domain.ErrNotPending},

		// Disconnect.
		{name: "P4: source admin disconnects", given: []events.Event{requested, accepted}, when: domain.DisconnectConnection{ConnectionID: conn}, user: "alice", entity: "global", want: events.TypeConnectionDisconnected},
		{name: "P4: target admin disconnects", given: []events.Event{requested, accepted}, when: domain.DisconnectConnection{ConnectionID: conn, Reason: "done"}, user: "erik", entity: "eu", want: events.TypeConnectionDisconnected},
		{name: "P4: a non-admin cannot disconnect", given: []events.Event{requested, accepted}, when: domain.DisconnectConnection{ConnectionID: conn}, user: "uma", entity: "eu", wantErr: domain.ErrNotAdmin},
		{name: "rule 3: disconnect a pending one", given: []events.Event{requested}, when: domain.DisconnectConnection{ConnectionID: conn}, user: "alice", entity: "global", wantErr: domain.ErrNotConnected},
		{name: "rule 3: disconnect twice", given: []events.Event{requested, accepted, disconnected}, when: domain.DisconnectConnection{ConnectionID: conn}, user: "erik", entity: "eu", wantErr: domain.ErrNotConnected},

		// Visibility.
		{name: "P5: a third entity does not see the connection", given: []events.Event{requested}, when: domain.AcceptConnection{ConnectionID: conn}, user: "sam", entity: "us", wantErr: domain.ErrConnectionNotFound},
		{name: "P5: an unknown id is not found", when: domain.AcceptConnection{ConnectionID: conn}, user: "erik", entity: "eu", wantErr: domain.ErrConnectionNotFound},
		{name: "P5: another connection's state is not this one's", given: []events.Event{requested}, when: domain.AcceptConnection{ConnectionID: newConn}, user: "erik", entity: "eu", wantErr: domain.ErrConnectionNotFound},
		{name: "P5: visibility comes before permission", given: []events.Event{requested}, when: domain.DisconnectConnection{ConnectionID: conn}, user: "uma", entity: "us", wantErr: domain.ErrNoEntityAccess},

		// Expiry.
		{name: "expire after the ttl", given: []events.Event{requested}, when: domain.ExpireConnection{ConnectionID: conn, TTL: time.Hour}, want: events.TypeConnectionExpired},
		{name: "rule 3: expire before the ttl", given: []events.Event{requested}, when: domain.ExpireConnection{ConnectionID: conn, TTL: 2 * time.Hour}, wantErr: domain.ErrNotExpired},
		{name: "rule 3: a zero ttl never expires", given: []events.Event{requested}, when: domain.ExpireConnection{ConnectionID: conn}, wantErr: domain.ErrNotExpired},
		{name: "rule 3: a second expiry is refused", given: []events.Event{requested, expired}, when: domain.ExpireConnection{ConnectionID: conn, TTL: time.Hour}, wantErr: domain.ErrNotPending},
		{name: "rule 3: an accepted request does not expire", given: []events.Event{requested, accepted}, when: domain.ExpireConnection{ConnectionID: conn, TTL: time.Hour}, wantErr: domain.ErrNotPending},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			state := given(t, c.given...)
			a := domain.System
			if c.user != "" {
				var err error
				if a, err = d.Actor(c.user, c.entity); err != nil {
					if c.wantErr != nil && errors.Is(err, c.wantErr) {
						return // refused before Decide, as the edges do
					}
					t.Fatalf("Actor(%s, %s): %v", c.user, c.entity, err)
				}
			}
			got, err := domain.Decide(state, c.when, a, now)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("Decide(%s) error = %v, want %v", c.when.Name(), err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decide(%s) error = %v, want a %s event", c.when.Name(), err, c.want)
			}
			if got.Type != c.want {
				t.Fatalf("Decide(%s) = %s, want %s", c.when.Name(), got.Type, c.want)
			}
			if err := got.Validate(); err != nil && got.EventID != "" {
				t.Errorf("Decide(%s) produced an invalid event: %v", c.when.Name(), err)
			}
			if !got.OccurredAt.Equal(now) || got.ActorUserID != c.user || got.ActorEntityID != c.entity {
				t.Errorf("Decide(%s) = %+v, want actor %s/%s at %s", c.when.Name(), got, c.user, c.entity, now)
			}
			// Rule 4: the event applies cleanly to the state it was decided on.
			if _, err := domain.Evolve(state, got); err != nil {
				t.Errorf("Evolve(state, Decide(...)) = %v, want nil", err)
			}
		})
	}
}

func TestDecideRequestMakesANewConnectionAfterATerminalOne(t *testing.T) {
	d := testDirectory(t)
	state := given(t, requested, denied)
	e, err := domain.Decide(state, domain.RequestConnection{Target: "eu", ConnectionID: "new-id", EventID: "e2"}, actor(t, d, "alice", "global"), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if e.ConnectionID != "new-id" || e.ConnectionID == conn {
		t.Errorf("Decide(request after Denied).ConnectionID = %q, want the new id", e.ConnectionID)
	}
	next, err := domain.Evolve(state, e)
	if err != nil || next.Status != domain.StatusPending || next.ID != "new-id" || next.RequestedBy != "alice" {
		t.Errorf("Evolve = %+v, %v; want a new Pending connection requested by alice", next, err)
	}
}

func TestDecideDeniesKeepTheReason(t *testing.T) {
	d := testDirectory(t)
	e, err := domain.Decide(given(t, requested), domain.DenyConnection{ConnectionID: conn, Reason: "not now"}, actor(t, d, "erik", "eu"), t0)
	if err != nil || e.Reason != "not now" {
		t.Errorf("Decide(deny).Reason = %q, %v; want %q", e.Reason, err, "not now")
	}
}

func TestEvolveRefusesEventsThatDoNotFit(t *testing.T) {
	cases := []struct {
		name  string
		given []events.Event
		e     events.Event
		want  error
	}{
		{"accept without request", nil, accepted, domain.ErrBadEvent},
		{"request on a live pair", []events.Event{requested}, requested, domain.ErrBadEvent},
		{"disconnect a pending one", []events.Event{requested}, disconnected, domain.ErrBadEvent},
		{"unknown type", []events.Event{requested}, events.Event{Type: "ConnectionRenamed", ConnectionID: conn}, domain.ErrUnknownEvent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := domain.Evolve(given(t, c.given...), c.e); !errors.Is(err, c.want) {
				t.Errorf("Evolve(%s) = %v, want %v", c.e.Type, err, c.want)
			}
		})
	}
}

func TestFromLastAgreesWithEvolve(t *testing.T) {
	histories := [][]events.Event{
		{requested}, {requested, accepted}, {requested, denied}, {requested, cancelled},
		{requested, accepted, disconnected}, {requested, expired},
	}
	for _, h := range histories {
		full := given(t, h...)
		last, err := domain.FromLast(h[len(h)-1])
		if err != nil {
			t.Fatal(err)
		}
		if last.ID != full.ID || last.Status != full.Status || last.Source != full.Source || last.Target != full.Target {
			t.Errorf("FromLast(%s) = %+v, want the status and ids of %+v", h[len(h)-1].Type, last, full)
		}
	}
	if _, err := domain.FromLast(events.Event{Type: "X"}); !errors.Is(err, domain.ErrUnknownEvent) {
		t.Errorf("FromLast(unknown) = %v, want ErrUnknownEvent", err)
	}
}

func TestParseStatus(t *testing.T) {
	for _, s := range domain.Statuses {
		if got, err := domain.ParseStatus(string(s)); err != nil || got != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := domain.ParseStatus("pending"); !errors.Is(err, domain.ErrInvalidValue) {
		t.Errorf("ParseStatus(pending) = %v, want ErrInvalidValue", err)
	}
}
