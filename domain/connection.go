package domain

import (
	"fmt"
	"time"

	"github.com/entityconn/entityconn/events"
)

// Status is the state of a connection (contract §1).
type Status string

// The states of a connection. StatusNone is the state of a pair that never had one.
const (
	StatusNone         Status = ""
	StatusPending      Status = "Pending"
	StatusConnected    Status = "Connected"
	StatusDenied       Status = "Denied"
	StatusCancelled    Status = "Cancelled"
	StatusExpired      Status = "Expired"
	StatusDisconnected Status = "Disconnected"
)

// Statuses lists the states a connection can be in, live ones first.
var Statuses = []Status{StatusPending, StatusConnected, StatusDenied, StatusCancelled, StatusExpired, StatusDisconnected}

// ParseStatus returns the status named s (exact spelling of contract §1), or an error wrapping
// [ErrInvalidValue].
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses {
		if string(st) == s {
			return st, nil
		}
	}
	return StatusNone, fmt.Errorf("%w: status %q is not one of Pending, Connected, Denied, Cancelled, Expired, Disconnected", ErrInvalidValue, s)
}

// Live reports whether s is Pending or Connected: the states rule 2 allows once per pair.
func (s Status) Live() bool { return s == StatusPending || s == StatusConnected }

// StatusAfter returns the status an event of type t leaves its connection in, and false for
// an unknown type.
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

// statusBefore is the only status an event of type t may be applied to.
func statusBefore(t events.Type) Status {
	switch t {
	case events.TypeConnectionAccepted, events.TypeConnectionDenied,
		events.TypeConnectionCancelled, events.TypeConnectionExpired:
		return StatusPending
	case events.TypeConnectionDisconnected:
		return StatusConnected
	}
	return StatusNone
}

// Connection is the state of one connection, as its events left it. The zero value is the
// state of a pair that has no connection yet.
type Connection struct {
	ID          string
	Source      string
	Target      string
	Status      Status
	RequestedBy string
	RequestedAt time.Time
	UpdatedAt   time.Time
}

// Evolve returns the state after e. It is the only place a connection's state changes, for
// loaded history and new events alike. A ConnectionRequested event starts a new connection
// and may follow only a terminal one (or none); any other event must name the connection of
// state and follow the status its type allows. It returns an error wrapping [ErrUnknownEvent]
// for a type it does not know and [ErrBadEvent] for an event that does not fit.
func Evolve(state Connection, e events.Event) (Connection, error) {
	to, ok := StatusAfter(e.Type)
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
	if state.ID != e.ConnectionID || state.Status != statusBefore(e.Type) {
		return state, fmt.Errorf("%w: %s of %s on %q connection %s", ErrBadEvent, e.Type, e.ConnectionID, state.Status, state.ID)
	}
	state.Status = to
	state.UpdatedAt = e.OccurredAt
	return state, nil
}

// FromLast returns the state of a connection known only by its last event: its id, entities
// and status, and, when last is the request itself, who requested it and when. It is what
// the decider needs, loaded with one read. It returns an error wrapping [ErrUnknownEvent] for
// a type it does not know.
func FromLast(last events.Event) (Connection, error) {
	to, ok := StatusAfter(last.Type)
	if !ok {
		return Connection{}, fmt.Errorf("%w: %q", ErrUnknownEvent, last.Type)
	}
	c := Connection{
		ID:        last.ConnectionID,
		Source:    last.SourceEntityID,
		Target:    last.TargetEntityID,
		Status:    to,
		UpdatedAt: last.OccurredAt,
	}
	if last.Type == events.TypeConnectionRequested {
		c.RequestedBy, c.RequestedAt = last.ActorUserID, last.OccurredAt
	}
	return c, nil
}
