package domain

import (
	"fmt"
	"time"

	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/events/contract"
)

// Object is a business object that a source entity shares with targets (contract §7), such
// as a product: its type (`Product`, [events.ValidObjectType]) and its id ([events.ValidID]).
// The objects themselves live elsewhere; the service records who may see what.
type Object struct {
	Type string
	ID   string
}

// String returns the object as the page shows it: "Product P-42".
func (o Object) String() string { return o.Type + " " + o.ID }

// MaxShareTargets is the most targets one ShareObject or UnshareObject may name.
const MaxShareTargets = 50

// ShareObject shares Object from the acting entity with each of Targets over their Connected
// connections: all of them, or none (rule 6). EventIDs holds the id of the event for each
// target, in the same order.
type ShareObject struct {
	Object   Object
	Targets  []string
	EventIDs []string
}

// UnshareObject ends the shares of Object from the acting entity with each of Targets: all
// of them, or none. EventIDs holds the id of the event for each target, in the same order.
type UnshareObject struct {
	Object   Object
	Targets  []string
	EventIDs []string
}

// Name implements [Command].
func (ShareObject) Name() string { return contract.CommandShareObject }

// Name implements [Command].
func (UnshareObject) Name() string { return contract.CommandUnshareObject }

// ShareState is what a share decision knows of one target: the latest connection from the
// acting entity to it (the zero Connection: none) and whether the object is shared over it.
type ShareState struct {
	Connection Connection
	Shared     bool
}

// CheckObject returns an error wrapping [ErrInvalidValue] or [ErrMissingValue] when o or
// targets are not what a share or unshare takes (contract §7): input errors, answered before
// anything is read. field names the list of targets in messages (toEntityIds, fromEntityIds).
func CheckObject(o Object, targets []string, field string) error {
	switch {
	case o.Type == "":
		return fmt.Errorf("%w: objectType is required", ErrMissingValue)
	case !events.ValidObjectType(o.Type):
		return fmt.Errorf("%w: objectType %q does not match %s", ErrInvalidValue, truncate(o.Type), events.ObjectTypePattern)
	case o.ID == "":
		return fmt.Errorf("%w: objectId is required", ErrMissingValue)
	case !events.ValidID(o.ID):
		return fmt.Errorf("%w: objectId %q does not match ^[A-Za-z0-9_-]{1,64}$", ErrInvalidValue, truncate(o.ID))
	case len(targets) == 0:
		return fmt.Errorf("%w: %s must name at least one entity", ErrMissingValue, field)
	case len(targets) > MaxShareTargets:
		return fmt.Errorf("%w: %s names %d entities, at most %d allowed", ErrInvalidValue, field, len(targets), MaxShareTargets)
	}
	seen := make(map[string]bool, len(targets))
	for _, t := range targets {
		switch {
		case !events.ValidID(t):
			return fmt.Errorf("%w: %s: %q does not match ^[A-Za-z0-9_-]{1,64}$", ErrInvalidValue, field, truncate(t))
		case seen[t]:
			return fmt.Errorf("%w: %s names %q twice", ErrInvalidValue, field, t)
		}
		seen[t] = true
	}
	return nil
}

// DecideShare returns the events of cmd: one ObjectShared for each target the object is not
// shared with yet, none when it is shared with all (sharing again stores nothing). states[i]
// is the state of cmd.Targets[i]. A target whose connection is not Connected refuses the
// whole command, naming it, and nothing is stored (rule 6).
func DecideShare(states []ShareState, cmd ShareObject, a Actor, now time.Time) ([]events.Event, error) {
	if err := checkShare(states, cmd.Object, cmd.Targets, cmd.EventIDs, "toEntityIds", a); err != nil {
		return nil, err
	}
	var out []events.Event
	for i, st := range states {
		if st.Shared {
			continue
		}
		out = append(out, objectEvent(st.Connection, cmd.EventIDs[i], events.TypeObjectShared, "", cmd.Object, a, now))
	}
	return out, nil
}

// DecideUnshare returns the events of cmd: one ObjectUnshared, reason unshared, for each
// target. A target whose connection is not Connected, or with which the object is not
// shared, refuses the whole command, naming it, and nothing is stored.
func DecideUnshare(states []ShareState, cmd UnshareObject, a Actor, now time.Time) ([]events.Event, error) {
	if err := checkShare(states, cmd.Object, cmd.Targets, cmd.EventIDs, "fromEntityIds", a); err != nil {
		return nil, err
	}
	out := make([]events.Event, 0, len(states))
	for i, st := range states {
		if !st.Shared {
			return nil, fmt.Errorf("%w: %s is not shared with %q", ErrNotShared, cmd.Object, cmd.Targets[i])
		}
		out = append(out, objectEvent(st.Connection, cmd.EventIDs[i], events.TypeObjectUnshared, events.ReasonUnshared, cmd.Object, a, now))
	}
	return out, nil
}

// checkShare checks a share or unshare: its input, that the actor is an admin of the source
// (the acting entity), and that every target's connection is Connected.
func checkShare(states []ShareState, o Object, targets, eventIDs []string, field string, a Actor) error {
	if err := CheckObject(o, targets, field); err != nil {
		return err
	}
	if len(states) != len(targets) || len(eventIDs) != len(targets) {
		return fmt.Errorf("%w: %d states and %d event ids for %d targets", ErrInvalidValue, len(states), len(eventIDs), len(targets))
	}
	source := a.EntityID
	switch {
	case a.IsSystem():
		return fmt.Errorf("%w: the service does not share objects", ErrPermission)
	case a.Role != RoleAdmin:
		return fmt.Errorf("%w: user %q in entity %q", ErrNotAdmin, a.UserID, source)
	}
	for i, t := range targets {
		c := states[i].Connection
		switch {
		case t == source:
			return fmt.Errorf("%w: %s names %q, the acting entity itself", ErrSameEntity, field, t)
		case c.ID == "":
			return fmt.Errorf("%w: %q has no connection from %q", ErrShareNotConnected, t, source)
		case c.Source != source || c.Target != t:
			return fmt.Errorf("%w: the state of %q is of %s→%s", ErrInvalidValue, t, c.Source, c.Target)
		case c.Status != StatusConnected:
			return fmt.Errorf("%w: the connection %s from %q to %q is %s", ErrShareNotConnected, c.ID, source, t, c.Status)
		}
	}
	return nil
}

// SharesEnded returns the events that end the shares of a connection with its disconnection
// (rule 6): one ObjectUnshared, reason connection-ended, for each of shared, by the actor of
// disconnected and at its time. eventIDs[i] is the id of the event of shared[i]. They are
// stored right after disconnected, in the same atomic batch.
func SharesEnded(disconnected events.Event, shared []Object, eventIDs []string) []events.Event {
	out := make([]events.Event, len(shared))
	for i, o := range shared {
		e := disconnected
		e.EventID, e.Type, e.Reason = eventIDs[i], events.TypeObjectUnshared, events.ReasonConnectionEnded
		e.ObjectType, e.ObjectID = o.Type, o.ID
		out[i] = e
	}
	return out
}

func objectEvent(c Connection, eventID string, t events.Type, reason string, o Object, a Actor, now time.Time) events.Event {
	e := next(c, eventID, t, reason, a, now)
	e.ObjectType, e.ObjectID = o.Type, o.ID
	return e
}

// truncate keeps user input in error messages short.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
