package domain

import (
	"time"

	"github.com/entityconn/entityconn/events/contract"
)

// Command is one of the commands of contract §1. Commands are plain values; the ids in them
// are chosen by the caller (derived from the command id, so that a retry produces the same
// event: rule 5).
type Command interface {
	// Name returns the command's name as in contract §1, one of the Command constants of
	// package contract such as [contract.CommandAcceptConnection].
	Name() string
}

// RequestConnection asks for a new connection from the acting entity to Target.
type RequestConnection struct {
	Target       string
	ConnectionID string // id of the new connection
	EventID      string
}

// AcceptConnection accepts the pending connection ConnectionID.
type AcceptConnection struct {
	ConnectionID string
	EventID      string
}

// DenyConnection denies the pending connection ConnectionID.
type DenyConnection struct {
	ConnectionID string
	Reason       string
	EventID      string
}

// CancelConnection withdraws the pending connection ConnectionID.
type CancelConnection struct {
	ConnectionID string
	EventID      string
}

// DisconnectConnection ends the connected connection ConnectionID.
type DisconnectConnection struct {
	ConnectionID string
	Reason       string
	EventID      string
}

// ExpireConnection is the service's own command: a request pending for TTL or longer expires.
type ExpireConnection struct {
	ConnectionID string
	TTL          time.Duration
	EventID      string
}

// Name implements [Command].
func (RequestConnection) Name() string { return contract.CommandRequestConnection }

// Name implements [Command].
func (AcceptConnection) Name() string { return contract.CommandAcceptConnection }

// Name implements [Command].
func (DenyConnection) Name() string { return contract.CommandDenyConnection }

// Name implements [Command].
func (CancelConnection) Name() string { return contract.CommandCancelConnection }

// Name implements [Command].
func (DisconnectConnection) Name() string { return contract.CommandDisconnectConnection }

// Name implements [Command].
func (ExpireConnection) Name() string { return contract.CommandExpireConnection }

// TargetConnection returns the connection id a command names, or "" for RequestConnection.
func TargetConnection(cmd Command) string {
	switch c := cmd.(type) {
	case AcceptConnection:
		return c.ConnectionID
	case DenyConnection:
		return c.ConnectionID
	case CancelConnection:
		return c.ConnectionID
	case DisconnectConnection:
		return c.ConnectionID
	case ExpireConnection:
		return c.ConnectionID
	}
	return ""
}
