package domain

import (
	"fmt"
	"time"

	"github.com/entityconn/entityconn/events"
)

// Decide returns the one event cmd produces from state, or why it is refused. It does not
// change state: apply the event with [Evolve].
//
// For [RequestConnection], state is the latest connection of the pair (acting entity,
// target), or the zero Connection if the pair never had one. For every other command, state
// is the connection the command names (zero if there is none).
//
// Errors wrap the sentinels of this package: permission errors before rule violations, so
// that a user without rights learns nothing about the connection's state; input errors
// (rule 1) before both.
func Decide(state Connection, cmd Command, actor Actor, now time.Time) (events.Event, error) {
	switch c := cmd.(type) {
	case RequestConnection:
		return decideRequest(state, c, actor, now)
	case AcceptConnection:
		return decideOnPending(state, c.ConnectionID, c.EventID, events.TypeConnectionAccepted, "", actor, now)
	case DenyConnection:
		return decideOnPending(state, c.ConnectionID, c.EventID, events.TypeConnectionDenied, c.Reason, actor, now)
	case CancelConnection:
		return decideOnPending(state, c.ConnectionID, c.EventID, events.TypeConnectionCancelled, "", actor, now)
	case DisconnectConnection:
		return decideDisconnect(state, c, actor, now)
	case ExpireConnection:
		return decideExpire(state, c, now)
	case ChangeSharingSettings:
		return DecideSettings(c, actor, now)
	}
	return events.Event{}, fmt.Errorf("%w: unknown command %T", ErrInvalidValue, cmd)
}

func decideRequest(state Connection, c RequestConnection, a Actor, now time.Time) (events.Event, error) {
	source := a.EntityID
	switch {
	case a.IsSystem():
		return events.Event{}, fmt.Errorf("%w: the service does not request connections", ErrPermission)
	case c.Target == "":
		return events.Event{}, fmt.Errorf("%w: targetEntityId is required", ErrMissingValue)
	case c.Target == source: // rule 1
		return events.Event{}, fmt.Errorf("%w: %q to itself", ErrSameEntity, source)
	case a.Role != RoleAdmin: // P1
		return events.Event{}, fmt.Errorf("%w: user %q in entity %q", ErrNotAdmin, a.UserID, source)
	case !a.CanAccess(c.Target): // P1, and rule 1: grants exist only for entities that exist
		// An unknown target gets the same answer as one the user may not access, so that
		// requests do not reveal which entities exist.
		return events.Event{}, fmt.Errorf("%w: user %q, target %q", ErrNoTargetAccess, a.UserID, c.Target)
	case state.Status.Live(): // rule 2
		return events.Event{}, fmt.Errorf("%w: connection %s from %q to %q is %s", ErrAlreadyLive, state.ID, source, c.Target, state.Status)
	}
	return events.Event{
		EventID:        c.EventID,
		Type:           events.TypeConnectionRequested,
		ConnectionID:   c.ConnectionID,
		SourceEntityID: source,
		TargetEntityID: c.Target,
		ActorUserID:    a.UserID,
		ActorEntityID:  source,
		OccurredAt:     now,
	}, nil
}

// visible checks P5 and that state is the connection id names.
func visible(state Connection, id string, a Actor) error {
	if state.ID == "" || state.ID != id {
		return fmt.Errorf("%w: %s", ErrConnectionNotFound, id)
	}
	if !a.IsSystem() && a.EntityID != state.Source && a.EntityID != state.Target {
		return fmt.Errorf("%w: %s", ErrConnectionNotFound, id)
	}
	return nil
}

// decideOnPending decides accept and deny (the target acts, P2) and cancel (the source
// acts, P3).
func decideOnPending(state Connection, id, eventID string, t events.Type, reason string, a Actor, now time.Time) (events.Event, error) {
	if err := visible(state, id, a); err != nil {
		return events.Event{}, err
	}
	side, wrongSide := state.Target, ErrTargetOnly // P2
	if t == events.TypeConnectionCancelled {
		side, wrongSide = state.Source, ErrSourceOnly // P3
	}
	switch {
	case a.EntityID != side:
		return events.Event{}, fmt.Errorf("%w: connection %s, acting entity %q", wrongSide, id, a.EntityID)
	case a.Role != RoleAdmin:
		return events.Event{}, fmt.Errorf("%w: user %q in entity %q", ErrNotAdmin, a.UserID, a.EntityID)
	case state.Status != StatusPending: // rule 3
		return events.Event{}, fmt.Errorf("%w: connection %s is %s", ErrNotPending, id, state.Status)
	}
	return next(state, eventID, t, reason, a, now), nil
}

func decideDisconnect(state Connection, c DisconnectConnection, a Actor, now time.Time) (events.Event, error) {
	if err := visible(state, c.ConnectionID, a); err != nil {
		return events.Event{}, err
	}
	switch {
	case a.Role != RoleAdmin: // P4; visible() already checked the acting entity is a side
		return events.Event{}, fmt.Errorf("%w: user %q in entity %q", ErrNotAdmin, a.UserID, a.EntityID)
	case state.Status != StatusConnected: // rule 3
		return events.Event{}, fmt.Errorf("%w: connection %s is %s", ErrNotConnected, c.ConnectionID, state.Status)
	}
	return next(state, c.EventID, events.TypeConnectionDisconnected, c.Reason, a, now), nil
}

func decideExpire(state Connection, c ExpireConnection, now time.Time) (events.Event, error) {
	if err := visible(state, c.ConnectionID, System); err != nil {
		return events.Event{}, err
	}
	switch {
	case state.Status != StatusPending:
		return events.Event{}, fmt.Errorf("%w: connection %s is %s", ErrNotPending, c.ConnectionID, state.Status)
	case c.TTL <= 0 || now.Sub(state.RequestedAt) < c.TTL:
		return events.Event{}, fmt.Errorf("%w: connection %s requested at %s, ttl %s", ErrNotExpired, c.ConnectionID, state.RequestedAt.Format(time.RFC3339), c.TTL)
	}
	return next(state, c.EventID, events.TypeConnectionExpired, "", System, now), nil
}

func next(state Connection, eventID string, t events.Type, reason string, a Actor, now time.Time) events.Event {
	return events.Event{
		EventID:        eventID,
		Type:           t,
		ConnectionID:   state.ID,
		SourceEntityID: state.Source,
		TargetEntityID: state.Target,
		ActorUserID:    a.UserID,
		ActorEntityID:  a.EntityID,
		OccurredAt:     now,
		Reason:         reason,
	}
}
