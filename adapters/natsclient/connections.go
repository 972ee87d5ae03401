package natsclient

import (
	"context"
	"fmt"

	"github.com/entityconn/entityconn/events/contract"
)

// Connection is one connection as the list of the service shows it (contract §4). Status is
// one of Pending, Connected, Denied, Cancelled, Expired or Disconnected.
type Connection = contract.Connection

// HistoryItem is one event in the history of a connection; Type is an event type such as
// [events.TypeConnectionRequested].
type HistoryItem = contract.HistoryItem

// Detail is a connection with its history, oldest event first. Its Success is true: the
// client returns an error for any other answer.
type Detail = contract.Detail

// Result is the outcome of a command.
type Result struct {
	// ConnectionID is the connection's id: the new one for Request, the given one otherwise.
	ConnectionID string
	// Sequence is the stream sequence of the command's event, from the Entityconn-Sequence
	// header; pass it as a minimum sequence to read your own write. 0 if the service sent none.
	Sequence uint64
}

// ListOptions filters and pages [Client.List]. Zero fields are left to the service's defaults.
type ListOptions struct {
	// Type is "outbound" (the acting entity is the source), "inbound" (it is the target), or
	// empty for both.
	Type string
	// Status keeps only connections in this state, such as "Pending".
	Status string
	// Page is the page number, from 1 (the default).
	Page int
	// PageSize is the number of items per page: 30 by default, at most 300.
	PageSize int
	// MinSequence makes the service answer only once its views include this stream sequence,
	// such as a [Result.Sequence] (waiting at most 5 s, then [ErrUnavailable]).
	MinSequence uint64
}

// Request asks for a connection from the acting entity to the target entity and returns the
// new connection's id. It fails with [ErrPermission] unless the actor is an admin of the
// acting entity with access to the target, [ErrInvalid] for an unknown target or the acting
// entity itself, and [ErrRuleViolation] if the pair already has a live connection.
func (c *Client) Request(ctx context.Context, target string, opts ...CallOption) (Result, error) {
	if target == "" {
		return Result{}, fmt.Errorf("%w: target entity id is empty", ErrMissing)
	}
	return c.command(ctx, "request", request{TargetEntityID: target}, opts)
}

// Accept accepts the pending connection id, acting as its target entity. It fails with
// [ErrNotFound] for a connection the acting entity cannot see, [ErrPermission] from the
// source entity or for a non-admin, and [ErrRuleViolation] if it is not pending.
func (c *Client) Accept(ctx context.Context, id string, opts ...CallOption) (Result, error) {
	return c.connectionCommand(ctx, "accept", id, "", opts)
}

// Deny refuses the pending connection id, acting as its target entity, with an optional
// reason. Errors are as for [Client.Accept].
func (c *Client) Deny(ctx context.Context, id, reason string, opts ...CallOption) (Result, error) {
	return c.connectionCommand(ctx, "deny", id, reason, opts)
}

// Cancel withdraws the pending connection id, acting as its source entity. Errors are as for
// [Client.Accept], with the roles swapped.
func (c *Client) Cancel(ctx context.Context, id string, opts ...CallOption) (Result, error) {
	return c.connectionCommand(ctx, "cancel", id, "", opts)
}

// Disconnect ends the connected connection id, acting as its source or target entity, with an
// optional reason. It fails with [ErrRuleViolation] if the connection is not connected; other
// errors are as for [Client.Accept].
func (c *Client) Disconnect(ctx context.Context, id, reason string, opts ...CallOption) (Result, error) {
	return c.connectionCommand(ctx, "disconnect", id, reason, opts)
}

func (c *Client) connectionCommand(ctx context.Context, endpoint, id, reason string, opts []CallOption) (Result, error) {
	if id == "" {
		return Result{}, fmt.Errorf("%w: connection id is empty", ErrMissing)
	}
	return c.command(ctx, endpoint, request{ConnectionID: id, Reason: reason}, opts)
}

// List returns one page of the acting entity's connections, newest request first. The slice
// is never nil. It fails with [ErrInvalid] for an unknown type or status.
func (c *Client) List(ctx context.Context, lo ListOptions, opts ...CallOption) ([]Connection, error) {
	var out contract.List
	body := request{Type: lo.Type, Status: lo.Status, Page: lo.Page, PageSize: lo.PageSize, MinSequence: lo.MinSequence}
	if err := c.query(ctx, "list", body, opts, &out); err != nil {
		return nil, err
	}
	if out.EntityConnections == nil {
		out.EntityConnections = []Connection{}
	}
	return out.EntityConnections, nil
}

// Get returns the connection id with its history. With minSequence > 0 the service answers
// only once its views include that stream sequence, such as a [Result.Sequence] (waiting at
// most 5 s, then [ErrUnavailable]). It fails with [ErrNotFound] for a connection the acting
// entity cannot see. The returned History is never nil.
func (c *Client) Get(ctx context.Context, id string, minSequence uint64, opts ...CallOption) (Detail, error) {
	if id == "" {
		return Detail{}, fmt.Errorf("%w: connection id is empty", ErrMissing)
	}
	var d Detail
	if err := c.query(ctx, "get", request{ConnectionID: id, MinSequence: minSequence}, opts, &d); err != nil {
		return Detail{}, err
	}
	if d.History == nil {
		d.History = []HistoryItem{}
	}
	return d, nil
}
