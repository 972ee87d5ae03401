package domain

import (
	"fmt"
	"time"
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

// Connection is the state of one connection, as its events left it ([Evolve]). The zero
// value is the state of a pair that has no connection yet.
type Connection struct {
	ID          string
	Source      string
	Target      string
	Status      Status
	RequestedBy string
	RequestedAt time.Time
	UpdatedAt   time.Time
}
