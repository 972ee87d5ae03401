package natsclient

import (
	"context"
	"fmt"
	"time"

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
	// ConnectionID is the connection's id: the new one for Request, the given one otherwise;
	// empty for Share and Unshare, whose events may be on several connections.
	ConnectionID string
	// Sequence is the stream sequence of the command's event, from the Entityconn-Sequence
	// header; pass it as a minimum sequence to read your own write. 0 if the service sent none.
	Sequence uint64
	// Status is the state a Request left its connection in: "Pending", or "Connected" when
	// the target's sharing settings accepted it at once (contract §8). Empty for the other
	// commands, and possibly for a Request whose answer the service replayed from a record
	// made before it answered with a status.
	Status string
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
	// AsOf, when not zero, lists the connections as they were at that instant, from the
	// event log (contract §8); a time in the future fails with [ErrInvalid].
	AsOf time.Time
}

// asOf is the asOf field of a request: t in RFC 3339 (UTC), or empty for the zero time.
func asOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Request asks for a connection from the acting entity to the target entity and returns the
// new connection's id and its status: Pending, or Connected when the target's sharing
// settings accept requests from the acting entity at once. It fails with [ErrPermission] unless the actor is an admin of the
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
	body := request{Type: lo.Type, Status: lo.Status, Page: lo.Page, PageSize: lo.PageSize, MinSequence: lo.MinSequence, AsOf: asOf(lo.AsOf)}
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
	return c.get(ctx, request{ConnectionID: id, MinSequence: minSequence}, opts)
}

// GetAsOf returns the connection id as it was at the instant asOf, with its history up to
// then, from the event log (contract §8); a zero asOf reads it as it is now. It fails with
// [ErrNotFound] for a connection that did not exist then or that the acting entity cannot
// see, and with [ErrInvalid] for a time in the future. The returned History is never nil.
func (c *Client) GetAsOf(ctx context.Context, id string, asOfTime time.Time, opts ...CallOption) (Detail, error) {
	return c.get(ctx, request{ConnectionID: id, AsOf: asOf(asOfTime)}, opts)
}

func (c *Client) get(ctx context.Context, body request, opts []CallOption) (Detail, error) {
	if body.ConnectionID == "" {
		return Detail{}, fmt.Errorf("%w: connection id is empty", ErrMissing)
	}
	var d Detail
	if err := c.query(ctx, "get", body, opts, &d); err != nil {
		return Detail{}, err
	}
	if d.History == nil {
		d.History = []HistoryItem{}
	}
	return d, nil
}

// SharedObject is one object shared over a Connected connection (contract §7), as the list
// of shared objects shows it.
type SharedObject = contract.SharedObject

// SharedOptions filters and pages [Client.SharedObjects]. Zero fields are left to the
// service's defaults.
type SharedOptions struct {
	// Direction is "sharedBy" (the objects the acting entity shares), "sharedWith" (those
	// shared with it), or empty for both.
	Direction string
	// ObjectType keeps only objects of this type, such as "Product".
	ObjectType string
	// Page is the page number, from 1 (the default).
	Page int
	// PageSize is the number of items per page: 30 by default, at most 300.
	PageSize int
	// MinSequence makes the service answer only once its views include this stream sequence,
	// such as a [Result.Sequence] (waiting at most 5 s, then [ErrUnavailable]).
	MinSequence uint64
	// AsOf, when not zero, lists the objects shared as of that instant, from the event log
	// (contract §8); a time in the future fails with [ErrInvalid].
	AsOf time.Time
}

// Share shares the object (objectType, such as "Product", and objectID) from the acting
// entity with each of targets, at most 50 entities, over their Connected connections: with
// all of them or, if any refuses, with none. Sharing an object again is a success that stores
// nothing. The returned Result has the stream sequence of the last event and no connection
// id. It fails with [ErrPermission] unless the actor is an admin of the acting entity,
// [ErrRuleViolation] if a target has no Connected connection from the acting entity (the
// message names it), [ErrInvalid] for a malformed type or id, a target named twice or the
// acting entity itself, and [ErrMissing] for an empty type, id or list of targets (without
// calling the service).
func (c *Client) Share(ctx context.Context, objectType, objectID string, targets []string, opts ...CallOption) (Result, error) {
	if err := checkObject(objectType, objectID, targets); err != nil {
		return Result{}, err
	}
	return c.objectCommand(ctx, "share", request{ObjectType: objectType, ObjectID: objectID, ToEntityIDs: targets}, opts)
}

// Unshare stops sharing the object from the acting entity with each of targets: all of them
// or none. It fails with [ErrRuleViolation] if the object is not shared with one of them
// (the message names it); other errors are as for [Client.Share].
func (c *Client) Unshare(ctx context.Context, objectType, objectID string, targets []string, opts ...CallOption) (Result, error) {
	if err := checkObject(objectType, objectID, targets); err != nil {
		return Result{}, err
	}
	return c.objectCommand(ctx, "unshare", request{ObjectType: objectType, ObjectID: objectID, FromEntityIDs: targets}, opts)
}

func checkObject(objectType, objectID string, targets []string) error {
	switch {
	case objectType == "":
		return fmt.Errorf("%w: object type is empty", ErrMissing)
	case objectID == "":
		return fmt.Errorf("%w: object id is empty", ErrMissing)
	case len(targets) == 0:
		return fmt.Errorf("%w: no entity to share with or unshare from", ErrMissing)
	}
	return nil
}

func (c *Client) objectCommand(ctx context.Context, endpoint string, body request, opts []CallOption) (Result, error) {
	reply, err := c.send(ctx, endpoint, body, opts)
	if err != nil {
		return Result{}, err
	}
	return Result{Sequence: sequenceOf(reply.Header)}, nil
}

// SharedObjects returns one page of the objects the acting entity shares and of those shared
// with it, newest share first. The slice is never nil. Any user of the acting entity may
// read it. It fails with [ErrInvalid] for an unknown direction or a malformed object type.
func (c *Client) SharedObjects(ctx context.Context, so SharedOptions, opts ...CallOption) ([]SharedObject, error) {
	var out contract.SharedObjects
	body := request{Direction: so.Direction, ObjectType: so.ObjectType, Page: so.Page, PageSize: so.PageSize, MinSequence: so.MinSequence, AsOf: asOf(so.AsOf)}
	if err := c.query(ctx, "shared", body, opts, &out); err != nil {
		return nil, err
	}
	if out.SharedObjects == nil {
		out.SharedObjects = []SharedObject{}
	}
	return out.SharedObjects, nil
}

// SharingSettings returns the sources whose requests the acting entity accepts at once
// (contract §8): entity ids, ["*"] for every source, or an empty, non-nil slice for none.
// Any user of the acting entity may read them; others fail with [ErrPermission].
func (c *Client) SharingSettings(ctx context.Context, opts ...CallOption) ([]string, error) {
	var out contract.SharingSettings
	if err := c.query(ctx, "settings", request{}, opts, &out); err != nil {
		return nil, err
	}
	if out.AutoAcceptFrom == nil {
		out.AutoAcceptFrom = []string{}
	}
	return out.AutoAcceptFrom, nil
}

// SetSharingSettings sets which sources' requests the acting entity accepts at once:
// entity ids, []string{"*"} for every source, or nil (or an empty slice) for none. A request
// from an accepted source is then Connected at once, accepted by system:auto-accept;
// requests already Pending stay so. The returned Result has the stream sequence of the
// change and no connection id. It fails with [ErrPermission] unless the actor is an admin
// of the acting entity, and [ErrInvalid] for a malformed id, one named twice, the acting
// entity itself or "*" beside another id.
func (c *Client) SetSharingSettings(ctx context.Context, autoAcceptFrom []string, opts ...CallOption) (Result, error) {
	from := autoAcceptFrom
	if from == nil {
		from = []string{}
	}
	reply, err := c.send(ctx, "settings", request{AutoAcceptFrom: &from}, opts)
	if err != nil {
		return Result{}, err
	}
	return Result{Sequence: sequenceOf(reply.Header)}, nil
}
