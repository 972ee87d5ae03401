package restclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/entityconn/entityconn/events/contract"
)

// Entity is an entity a user has access to, with the user's role in it ("admin" or "user"),
// in Zuora's shape: ParentID is nil for the root; Status is "Provisioned".
type Entity = contract.AccessibleEntity

// TenantEntity is an entity of the tenant, in Zuora's shape, as [Client.AllEntities] lists
// them.
type TenantEntity = contract.Entity

// Connection is one connection as the list of the API shows it. Status is one of Pending,
// Connected, Denied, Cancelled, Expired or Disconnected.
type Connection = contract.Connection

// HistoryItem is one event in the history of a connection; Type is an event type such as
// ConnectionRequested.
type HistoryItem = contract.HistoryItem

// Detail is a connection with its history, in the order the server sends it. Its Success is
// true: the client returns an error for any other answer.
type Detail = contract.Detail

// Result is the outcome of a command.
type Result struct {
	// ID is the connection's id: the new one for Request, the given one otherwise; empty
	// for Share and Unshare, whose events may be on several connections.
	ID string `json:"id"`
	// Sequence is the stream sequence of the command's event, from the Entityconn-Sequence
	// header; pass it as a minimum sequence to read your own write. 0 if the server sent none.
	Sequence uint64 `json:"sequence"`
	// Status is the state a Request left its connection in: "Pending", or "Connected" when
	// the target's sharing settings accepted it at once (contract §8). Empty for the other
	// commands, and possibly for a Request whose answer the server replayed from a record
	// made before it answered with a status.
	Status string `json:"status,omitempty"`
}

// ListOptions filters and pages [Client.List]. Zero fields are left to the server's defaults.
type ListOptions struct {
	// Type is "outbound" (the acting entity is the source), "inbound" (it is the target), or
	// empty for both.
	Type string
	// Status keeps only connections in this state, such as "Pending".
	Status string
	// Page is the page number, from 1.
	Page int
	// PageSize is the number of items per page, at most 300.
	PageSize int
	// MinSequence makes the server answer only once its views include this stream sequence
	// (waiting at most 5 s, then [ErrUnavailable]).
	MinSequence uint64
	// AsOf, when not zero, lists the connections as they were at that instant, from the
	// event log (contract §8); a time in the future fails with [ErrInvalid].
	AsOf time.Time
}

// setAsOf sets the asOf parameter of q to t in RFC 3339 (UTC), unless t is zero.
// pageParams sets the parameters every list takes: page, size, minimum sequence, as-of time
// (each left out when zero).
func pageParams(q url.Values, page, pageSize int, minSequence uint64, asOf time.Time) {
	if page > 0 {
		q.Set("page", strconv.Itoa(page))
	}
	if pageSize > 0 {
		q.Set("pageSize", strconv.Itoa(pageSize))
	}
	if minSequence > 0 {
		q.Set("minSequence", strconv.FormatUint(minSequence, 10))
	}
	setAsOf(q, asOf)
}

// query returns q as a URL's query, "?" included, or "" when q is empty.
func query(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func setAsOf(q url.Values, t time.Time) {
	if !t.IsZero() {
		q.Set("asOf", t.UTC().Format(time.RFC3339Nano))
	}
}

// Page is one page of connections, newest request first.
type Page struct {
	Items []Connection
	// NextPage is the server's URL of the next page, or empty on the last page.
	NextPage string
}

// Entities returns the entities the client's user has access to, with its role in each, in
// directory order: [Client.AccessibleEntities] of [Client.User]. Errors are those two
// methods'.
func (c *Client) Entities(ctx context.Context) ([]Entity, error) {
	user, err := c.User(ctx)
	if err != nil {
		return nil, err
	}
	return c.AccessibleEntities(ctx, user)
}

// AccessibleEntities returns the entities user has access to, with its role in each, in
// directory order (GET /v1/users/{username}/accessible-entities). A user may read its own; an
// admin of any entity anyone's. It fails with [ErrPermission] for another user's when the
// client's user is not an admin, and [ErrNotFound] for a user that does not exist. Errors
// are [*APIError] values or transport errors.
func (c *Client) AccessibleEntities(ctx context.Context, user string) ([]Entity, error) {
	if user == "" {
		return nil, fmt.Errorf("%w: user id is empty", ErrMissing)
	}
	var out contract.AccessibleEntities
	if _, err := c.do(ctx, http.MethodGet, c.base+"/v1/users/"+url.PathEscape(user)+"/accessible-entities", nil, callOptions{}, &out); err != nil {
		return nil, err
	}
	if out.Entities == nil {
		out.Entities = []Entity{}
	}
	return out.Entities, nil
}

// AllEntities returns every entity of the tenant, in directory order (GET /v1/entities),
// which any user may list. Errors are [*APIError] values or transport errors.
func (c *Client) AllEntities(ctx context.Context) ([]TenantEntity, error) {
	var out contract.Entities
	if _, err := c.do(ctx, http.MethodGet, c.base+"/v1/entities", nil, callOptions{}, &out); err != nil {
		return nil, err
	}
	if out.Entities == nil {
		out.Entities = []TenantEntity{}
	}
	return out.Entities, nil
}

// Request asks for a connection from the acting entity to the target entity and returns the
// new connection's id and its status: Pending, or Connected when the target's sharing
// settings accept requests from the acting entity at once. It fails with [ErrPermission] unless the user is an admin of the
// acting entity with access to the target, [ErrInvalid] for an unknown target or the acting
// entity itself, and [ErrRuleViolation] if the pair already has a live connection.
func (c *Client) Request(ctx context.Context, target string, opts ...CallOption) (Result, error) {
	if target == "" {
		return Result{}, fmt.Errorf("%w: target entity id is empty", ErrMissing)
	}
	var out contract.Requested
	h, err := c.do(ctx, http.MethodPost, c.base+"/v1/entity-connections",
		map[string]string{"targetEntityId": target}, collect(opts), &out)
	if err != nil {
		return Result{}, err
	}
	if out.ID == "" {
		return Result{}, fmt.Errorf("restclient: request answered without a connection id")
	}
	return Result{ID: out.ID, Sequence: sequenceOf(h), Status: out.Status}, nil
}

// Accept accepts the pending connection id, acting as its target entity. It fails with
// [ErrNotFound] for a connection the acting entity cannot see, [ErrPermission] from the
// source entity or for a non-admin, and [ErrRuleViolation] if it is not pending.
func (c *Client) Accept(ctx context.Context, id string, opts ...CallOption) (Result, error) {
	return c.command(ctx, id, "accept", "", opts)
}

// Deny refuses the pending connection id, acting as its target entity, with an optional
// reason (sent only when not empty). Errors are as for [Client.Accept].
func (c *Client) Deny(ctx context.Context, id, reason string, opts ...CallOption) (Result, error) {
	return c.command(ctx, id, "deny", reason, opts)
}

// Cancel withdraws the pending connection id, acting as its source entity. Errors are as for
// [Client.Accept], with the roles swapped.
func (c *Client) Cancel(ctx context.Context, id string, opts ...CallOption) (Result, error) {
	return c.command(ctx, id, "cancel", "", opts)
}

// Disconnect ends the connected connection id, acting as its source or target entity, with an
// optional reason (sent only when not empty). It fails with [ErrRuleViolation] if the
// connection is not connected; other errors are as for [Client.Accept].
func (c *Client) Disconnect(ctx context.Context, id, reason string, opts ...CallOption) (Result, error) {
	return c.command(ctx, id, "disconnect", reason, opts)
}

// command sends PUT /v1/entity-connections/{id}/{action}.
func (c *Client) command(ctx context.Context, id, action, reason string, opts []CallOption) (Result, error) {
	if id == "" {
		return Result{}, fmt.Errorf("%w: connection id is empty", ErrMissing)
	}
	var body any
	if reason != "" {
		body = map[string]string{"reason": reason}
	}
	h, err := c.do(ctx, http.MethodPut, c.base+"/v1/entity-connections/"+url.PathEscape(id)+"/"+action,
		body, collect(opts), nil)
	if err != nil {
		return Result{}, err
	}
	return Result{ID: id, Sequence: sequenceOf(h)}, nil
}

func collect(opts []CallOption) callOptions {
	var co callOptions
	for _, o := range opts {
		o(&co)
	}
	return co
}

// List returns one page of the acting entity's connections. The page's Items is never nil.
func (c *Client) List(ctx context.Context, opts ListOptions) (Page, error) {
	q := url.Values{}
	if opts.Type != "" {
		q.Set("type", opts.Type)
	}
	if opts.Status != "" {
		q.Set("status", opts.Status)
	}
	pageParams(q, opts.Page, opts.PageSize, opts.MinSequence, opts.AsOf)
	return c.listPage(ctx, c.base+"/v1/entity-connections"+query(q))
}

func (c *Client) listPage(ctx context.Context, target string) (Page, error) {
	var out contract.List
	if _, err := c.do(ctx, http.MethodGet, target, nil, callOptions{}, &out); err != nil {
		return Page{}, err
	}
	if out.EntityConnections == nil {
		out.EntityConnections = []Connection{}
	}
	return Page{Items: out.EntityConnections, NextPage: out.NextPage}, nil
}

// ListAll returns every connection that opts selects, from opts.Page (or the first) to the
// last page, by following each page's nextPage. A nextPage on another host is asked of the
// client's own base URL instead, so the token is never sent elsewhere. The pages are read one
// after the other, not as one snapshot: a connection requested meanwhile may shift another
// across a page boundary, so that it is missed or listed twice.
func (c *Client) ListAll(ctx context.Context, opts ListOptions) ([]Connection, error) {
	page, err := c.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	return allPages(ctx, c, "/v1/entity-connections", page.Items, page.NextPage, func(ctx context.Context, target string) ([]Connection, string, error) {
		p, err := c.listPage(ctx, target)
		return p.Items, p.NextPage, err
	})
}

// allPages returns items, the first page's, followed by those of every page from next on:
// fetch reads the page at a URL and returns its items and its nextPage. A nextPage is asked
// of the client's own base URL ([Client.resolveNext]); path is the list's, against which a
// relative nextPage is resolved. A nextPage that repeats an earlier one is an error.
func allPages[T any](ctx context.Context, c *Client, path string, items []T, next string, fetch func(context.Context, string) ([]T, string, error)) ([]T, error) {
	base, err := url.Parse(c.base + path)
	if err != nil {
		return nil, fmt.Errorf("restclient: base URL: %w", err)
	}
	seen := map[string]bool{}
	for next != "" {
		target, err := c.resolveNext(base, next)
		if err != nil {
			return nil, err
		}
		if seen[target] {
			return nil, fmt.Errorf("restclient: nextPage %q repeats an earlier page", next)
		}
		seen[target] = true
		var more []T
		if more, next, err = fetch(ctx, target); err != nil {
			return nil, err
		}
		items = append(items, more...)
	}
	return items, nil
}

// resolveNext turns a nextPage link into a URL on the client's own scheme and host.
func (c *Client) resolveNext(base *url.URL, next string) (string, error) {
	ref, err := url.Parse(next)
	if err != nil {
		return "", fmt.Errorf("restclient: nextPage %q: %w", next, err)
	}
	u := base.ResolveReference(ref)
	// A server behind a proxy may name itself by an address the client cannot reach, and a
	// token must not go to a host the user did not configure.
	u.Scheme, u.Host, u.User = base.Scheme, base.Host, base.User
	return u.String(), nil
}

// Get returns the connection id with its history. With minSequence > 0 the server answers
// only once its views include that stream sequence, such as a [Result.Sequence] (waiting at
// most 5 s, then [ErrUnavailable]). It fails with [ErrNotFound] for a connection the acting
// entity cannot see. The returned History is never nil.
func (c *Client) Get(ctx context.Context, id string, minSequence uint64) (Detail, error) {
	q := url.Values{}
	if minSequence > 0 {
		q.Set("minSequence", strconv.FormatUint(minSequence, 10))
	}
	return c.get(ctx, id, q)
}

// GetAsOf returns the connection id as it was at the instant asOf, with its history up to
// then, from the event log (contract §8); a zero asOf reads it as it is now. It fails with
// [ErrNotFound] for a connection that did not exist then or that the acting entity cannot
// see, and with [ErrInvalid] for a time in the future. The returned History is never nil.
func (c *Client) GetAsOf(ctx context.Context, id string, asOf time.Time) (Detail, error) {
	q := url.Values{}
	setAsOf(q, asOf)
	return c.get(ctx, id, q)
}

func (c *Client) get(ctx context.Context, id string, q url.Values) (Detail, error) {
	if id == "" {
		return Detail{}, fmt.Errorf("%w: connection id is empty", ErrMissing)
	}
	target := c.base + "/v1/entity-connections/" + url.PathEscape(id)
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	var d Detail
	if _, err := c.do(ctx, http.MethodGet, target, nil, callOptions{}, &d); err != nil {
		return Detail{}, err
	}
	if d.History == nil {
		d.History = []HistoryItem{}
	}
	return d, nil
}

// SharingSettings returns the sources whose requests the acting entity accepts at once
// (contract §8; GET /v1/entity-sharing-settings): entity ids, ["*"] for every source, or an
// empty, non-nil slice for none. Any user of the acting entity may read them; others fail
// with [ErrPermission].
func (c *Client) SharingSettings(ctx context.Context) ([]string, error) {
	var out contract.SharingSettings
	if _, err := c.do(ctx, http.MethodGet, c.base+"/v1/entity-sharing-settings", nil, callOptions{}, &out); err != nil {
		return nil, err
	}
	if out.AutoAcceptFrom == nil {
		out.AutoAcceptFrom = []string{}
	}
	return out.AutoAcceptFrom, nil
}

// SetSharingSettings sets which sources' requests the acting entity accepts at once
// (PUT /v1/entity-sharing-settings): entity ids, []string{"*"} for every source, or nil (or
// an empty slice) for none. A request from an accepted source is then Connected at once,
// accepted by system:auto-accept; requests already Pending stay so. The returned Result has
// the stream sequence of the change and no connection id. It fails with [ErrPermission]
// unless the user is an admin of the acting entity, and [ErrInvalid] for a malformed id, one
// named twice, the acting entity itself or "*" beside another id.
func (c *Client) SetSharingSettings(ctx context.Context, autoAcceptFrom []string, opts ...CallOption) (Result, error) {
	body := contract.SharingSettings{AutoAcceptFrom: autoAcceptFrom}
	if body.AutoAcceptFrom == nil {
		body.AutoAcceptFrom = []string{}
	}
	h, err := c.do(ctx, http.MethodPut, c.base+"/v1/entity-sharing-settings", body, collect(opts), nil)
	if err != nil {
		return Result{}, err
	}
	return Result{Sequence: sequenceOf(h)}, nil
}
