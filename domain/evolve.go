package domain

import (
	"fmt"
	"time"

	"github.com/entityconn/entityconn/events"
)

// StatusAfter returns the status an event of type t leaves its connection in, and false for
// an unknown type and for the events of a shared object, which leave it as it was (see
// [Known]).
func StatusAfter(t events.Type) (Status, bool) {
	switch t {
	case events.TypeConnectionRequested:
		return StatusPending, true
	case events.TypeConnectionAccepted:
		return StatusConnected, true
	case events.TypeConnectionDenied:
		return StatusDenied, true
	case events.TypeConnectionCancelled:
		return StatusCancelled, true
	case events.TypeConnectionDisconnected:
		return StatusDisconnected, true
	case events.TypeConnectionExpired:
		return StatusExpired, true
	}
	return StatusNone, false
}

// Known reports whether [Evolve] knows events of type t.
func Known(t events.Type) bool {
	_, ok := StatusAfter(t)
	return ok || t.Object()
}

// statusBefore is the only status an event may be applied to. A request may also follow a
// terminal status: [Evolve] checks that apart. An object's share and unshare need a Connected
// connection; the unshares that end a connection's shares follow its disconnection.
func statusBefore(e events.Event) Status {
	switch e.Type {
	case events.TypeObjectShared:
		return StatusConnected
	case events.TypeObjectUnshared:
		if e.Reason == events.ReasonConnectionEnded {
			return StatusDisconnected
		}
		return StatusConnected
	case events.TypeConnectionAccepted, events.TypeConnectionDenied,
		events.TypeConnectionCancelled, events.TypeConnectionExpired:
		return StatusPending
	case events.TypeConnectionDisconnected:
		return StatusConnected
	}
	return StatusNone
}

// Evolve returns the state after e. It is the only place a connection's state changes, for
// loaded history, new events and views alike: [FromLast] and the views of package
// projections are built on it. A ConnectionRequested event starts a new connection and may
// follow only a terminal one (or none); any other event must name the connection of state
// and follow the status its type allows. It returns an error wrapping [ErrUnknownEvent] for
// a type it does not know and [ErrBadEvent] for an event that does not fit; state then comes
// back unchanged.
func Evolve(state Connection, e events.Event) (Connection, error) {
	to, ok := StatusAfter(e.Type)
	if e.Type.Object() {
		to, ok = statusBefore(e), true // a share changes the objects, not the connection
	}
	if !ok {
		return state, fmt.Errorf("%w: %q", ErrUnknownEvent, e.Type)
	}
	if e.Type == events.TypeConnectionRequested {
		if state.Status.Live() {
			return state, fmt.Errorf("%w: %s on %s connection %s", ErrBadEvent, e.Type, state.Status, state.ID)
		}
		return Connection{
			ID:          e.ConnectionID,
			Source:      e.SourceEntityID,
			Target:      e.TargetEntityID,
			Status:      to,
			RequestedBy: e.ActorUserID,
			RequestedAt: e.OccurredAt,
			UpdatedAt:   e.OccurredAt,
		}, nil
	}
	if state.ID != e.ConnectionID || state.Status != statusBefore(e) {
		return state, fmt.Errorf("%w: %s of %s on %q connection %s", ErrBadEvent, e.Type, e.ConnectionID, state.Status, state.ID)
	}
	state.Status = to
	state.UpdatedAt = e.OccurredAt // the time of the connection's last event, shares included
	return state, nil
}

// Presume returns a state that e fits, for a reader that must take every event even when
// some before it are lost to it: a projection, which must not stop on an event [Evolve]
// refuses. It is state in the status e's type follows when state is e's connection, so that
// what only the request told is kept; otherwise it is e's connection as e names it, in that
// status. Presume changes no state by itself: [Evolve] of the result and e does, and never
// refuses an event of a known type.
func Presume(state Connection, e events.Event) Connection {
	if state.ID != e.ConnectionID {
		return before(e)
	}
	state.Status = statusBefore(e)
	return state
}

// before is the state e follows as far as e alone tells it: its connection, in the status
// its type follows, with nothing of the request.
func before(e events.Event) Connection {
	return Connection{ID: e.ConnectionID, Source: e.SourceEntityID, Target: e.TargetEntityID, Status: statusBefore(e)}
}

// FromLast returns the state of a connection known only by its last event: [Evolve] of
// last from the state last follows. That is its id, entities and status, and, when last is
// the request itself, who requested it and when: [Connection.AsOfLastEvent] of any history
// that [Evolve] folds up to last, when its events name one pair as those of [Decide] do. It
// is what the decider needs, loaded with one read. It returns an error wrapping
// [ErrUnknownEvent] for a type it does not know.
func FromLast(last events.Event) (Connection, error) {
	if last.Type == events.TypeSharingSettingsChanged {
		return Connection{}, nil // an entity's settings, on the pair of the entity with itself
	}
	c, err := Evolve(before(last), last)
	if err != nil {
		return Connection{}, err
	}
	return c, nil
}

// AsOfLastEvent returns c as its last event alone tells it, which is what [FromLast] loads:
// c without who requested it and when, unless c is Pending, whose last event is the
// request. A state read from a fuller record (a view) goes through it, so that the decider
// sees the same state however the pair was loaded.
func (c Connection) AsOfLastEvent() Connection {
	if c.Status != StatusPending {
		c.RequestedBy, c.RequestedAt = "", time.Time{}
	}
	return c
}
