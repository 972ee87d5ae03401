package domain_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// TestDecideEvolveProperties runs random command sequences on one pair and checks the rules
// that must hold whatever happens: an accepted command yields exactly one event that Evolve
// takes (rule 4), at most one connection of the pair is live (rule 2), a refused command
// changes nothing and says why with a known family (rule 3), and statuses only move along
// the transitions of contract §1.
func TestDecideEvolveProperties(t *testing.T) {
	d := testDirectory(t)
	users := []struct{ user, entity string }{
		{"alice", "global"}, {"erik", "eu"}, {"uma", "global"}, {"uma", "eu"}, {"sam", "us"}, {"sam", "global"},
	}
	allowed := map[domain.Status][]domain.Status{
		domain.StatusNone:         {domain.StatusPending},
		domain.StatusPending:      {domain.StatusConnected, domain.StatusDenied, domain.StatusCancelled, domain.StatusExpired},
		domain.StatusConnected:    {domain.StatusDisconnected},
		domain.StatusDenied:       {domain.StatusPending},
		domain.StatusCancelled:    {domain.StatusPending},
		domain.StatusExpired:      {domain.StatusPending},
		domain.StatusDisconnected: {domain.StatusPending},
	}
	families := []error{domain.ErrPermission, domain.ErrInvalidValue, domain.ErrMissingValue, domain.ErrRuleViolation, domain.ErrNotFound}
	rapid.Check(t, func(rt *rapid.T) {
		var state domain.Connection
		ids := []string{}
		now := t0
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for i := range steps {
			now = now.Add(time.Duration(rapid.IntRange(0, 100).Draw(rt, "hours")) * time.Hour)
			u := users[rapid.IntRange(0, len(users)-1).Draw(rt, "actor")]
			actor, err := d.Actor(u.user, u.entity)
			if err != nil {
				rt.Fatalf("Actor: %v", err)
			}
			id := fmt.Sprintf("c%03d", i)
			if len(ids) > 0 && rapid.Bool().Draw(rt, "existing") {
				id = ids[rapid.IntRange(0, len(ids)-1).Draw(rt, "which")]
			}
			var cmd domain.Command
			switch rapid.IntRange(0, 5).Draw(rt, "command") {
			case 0:
				cmd = domain.RequestConnection{Target: rapid.SampledFrom([]string{"eu", "us", "global", "apac"}).Draw(rt, "target"), ConnectionID: id, EventID: "e" + id}
			case 1:
				cmd = domain.AcceptConnection{ConnectionID: id, EventID: "e" + id}
			case 2:
				cmd = domain.DenyConnection{ConnectionID: id, EventID: "e" + id}
			case 3:
				cmd = domain.CancelConnection{ConnectionID: id, EventID: "e" + id}
			case 4:
				cmd = domain.DisconnectConnection{ConnectionID: id, EventID: "e" + id}
			case 5:
				cmd = domain.ExpireConnection{ConnectionID: id, TTL: 168 * time.Hour, EventID: "e" + id}
			}
			a := actor
			if _, system := cmd.(domain.ExpireConnection); system {
				a = domain.System
			}
			// The store would load the pair's latest connection; here the pair is the one
			// from the state's source to target, or global→eu before the first request.
			e, err := domain.Decide(state, cmd, a, now)
			if err != nil {
				known := false
				for _, f := range families {
					known = known || errors.Is(err, f)
				}
				if !known {
					rt.Fatalf("Decide(%s) = %v, an error of no known family", cmd.Name(), err)
				}
				continue
			}
			if err := e.Validate(); err != nil {
				rt.Fatalf("Decide(%s) produced an invalid event: %v", cmd.Name(), err)
			}
			if e.Type == events.TypeConnectionRequested && state.ID != "" && (e.SourceEntityID != state.Source || e.TargetEntityID != state.Target) {
				continue // another pair: not this test's state
			}
			next, err := domain.Evolve(state, e)
			if err != nil {
				rt.Fatalf("Evolve(Decide(%s)) = %v", cmd.Name(), err)
			}
			ok := false
			for _, to := range allowed[state.Status] {
				ok = ok || to == next.Status
			}
			if !ok {
				rt.Fatalf("%s moved %s → %s", cmd.Name(), state.Status, next.Status)
			}
			if state.Status.Live() && next.ID != state.ID {
				rt.Fatalf("rule 2: %s started %s while %s was %s", cmd.Name(), next.ID, state.ID, state.Status)
			}
			if e.Type == events.TypeConnectionRequested {
				ids = append(ids, next.ID)
			}
			state = next
		}
	})
}

// TestFromLastAndPresumeFollowEvolve checks that the functions that load or presume a
// connection's state add no transition of their own, for random events of one pair: an
// event Evolve accepts leaves the state whose AsOfLastEvent is FromLast of that event, and
// evolves the same from Presume's state as from the state it fits; an event of a known type
// that Evolve refuses is accepted from Presume's state; an unknown type is refused by both.
func TestFromLastAndPresumeFollowEvolve(t *testing.T) {
	types := append([]events.Type{"ConnectionRenamed"}, events.Types...)
	zones := []*time.Location{time.UTC, time.FixedZone("x", 3600)}
	rapid.Check(t, func(rt *rapid.T) {
		var state domain.Connection
		now := t0
		for range rapid.IntRange(1, 40).Draw(rt, "events") {
			now = now.Add(time.Duration(rapid.IntRange(0, 100).Draw(rt, "hours")) * time.Hour)
			e := events.Event{EventID: now.String(), ConnectionID: fmt.Sprintf("c%d", rapid.IntRange(0, 2).Draw(rt, "conn")),
				SourceEntityID: "global", TargetEntityID: "eu", ActorUserID: rapid.SampledFrom([]string{"alice", "erik", ""}).Draw(rt, "user"),
				OccurredAt: now.In(rapid.SampledFrom(zones).Draw(rt, "zone"))}
			// Mostly an event that fits, found by asking Evolve; otherwise any type.
			var fitting []events.Type
			for _, typ := range events.Types {
				e.Type = typ
				if _, err := domain.Evolve(state, e); err == nil {
					fitting = append(fitting, typ)
				}
			}
			e.Type = rapid.SampledFrom(types).Draw(rt, "type")
			if len(fitting) > 0 && rapid.IntRange(0, 3).Draw(rt, "fit") > 0 {
				e.Type = rapid.SampledFrom(fitting).Draw(rt, "fittingType")
			}

			if e.Type == events.TypeSharingSettingsChanged {
				continue // an entity's settings, never on a connection's pair
			}
			next, err := domain.Evolve(state, e)
			presumed, perr := domain.Evolve(domain.Presume(state, e), e)
			last, lerr := domain.FromLast(e)
			if !e.Type.Known() {
				if !errors.Is(err, domain.ErrUnknownEvent) || !errors.Is(perr, domain.ErrUnknownEvent) || !errors.Is(lerr, domain.ErrUnknownEvent) {
					rt.Fatalf("%s: Evolve = %v, from Presume = %v, FromLast = %v; want ErrUnknownEvent", e.Type, err, perr, lerr)
				}
				continue
			}
			if perr != nil || lerr != nil {
				rt.Fatalf("%s of %s on %+v: from Presume = %v, FromLast = %v; want both accepted", e.Type, e.ConnectionID, state, perr, lerr)
			}
			if err != nil {
				if !errors.Is(err, domain.ErrBadEvent) {
					rt.Fatalf("Evolve(%s) = %v, want ErrBadEvent", e.Type, err)
				}
				continue // not part of the history: the state stays as it was
			}
			if presumed != next {
				rt.Fatalf("%s of %s on %+v: from Presume\n%+v\nwant what Evolve gives\n%+v", e.Type, e.ConnectionID, state, presumed, next)
			}
			if last != next.AsOfLastEvent() {
				rt.Fatalf("FromLast(%s) =\n%+v\nwant AsOfLastEvent of the history\n%+v", e.Type, last, next.AsOfLastEvent())
			}
			state = next
		}
	})
}
