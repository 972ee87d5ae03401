// Package natsclient is a typed Go client of entityconn for other services, over NATS
// (contract §5): the commands and queries of the micro service entityconn
// (entityconn.api.<userId>.request, accept, deny, cancel, disconnect, list and get, share,
// unshare and shared for the shared objects of contract §7, and settings for the sharing
// settings of contract §8; list, get and shared also as of a time), and subscriptions to an
// entity's events on the stream ENTITYCONN_EVENTS.
//
// Errors the service answers come back as [*Error] values that [errors.Is] matches against
// this package's sentinels ([ErrRuleViolation], [ErrPermission], ...), the same families as
// package restclient uses for the REST API.
//
// Commands are applied at most once. Each command carries a command id, the caller's
// ([CommandID]) or one the client generates; the service replays the first outcome of a
// command id to any retry by the same user for 24 hours. When no reply comes within its
// timeout the client asks once more with the same command id, so a lost reply never applies
// a command twice; while the service answers that this first attempt is still in flight it
// keeps asking, with a backoff, for up to one more timeout. It retries nothing else: an
// error answer, no responders or a closed connection come back at once.
//
// A directory user signs in to the service's NATS with its client id and secret, and may then
// act only as itself: a request goes to entityconn.api.<userId>.<endpoint>, the subject
// names the actor, and the service applies that user's permissions in the acting entity.
// Connect with [SignIn]'s options, which also set the inbox prefix the user's NATS
// permissions allow (_INBOX_<userId>). A service user of the directory may act as any user.
//
// The package depends only on the standard library, nats.go and its jetstream package,
// google/uuid and package events, so that other services can import it cheaply.
package natsclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/events/contract"
)

// SubjectPrefix starts the subject of every endpoint of the micro service:
// entityconn.api.<userId>.<endpoint>.
const SubjectPrefix = "entityconn.api"

// InboxPrefix returns the inbox prefix of userID's connections: replies and deliveries to a
// user go to _INBOX_<userId>.>, which no other user may read.
func InboxPrefix(userID string) string { return "_INBOX_" + userID }

// SignIn returns the connection options of a directory user: its client id and secret as
// user name and password, and [InboxPrefix](userID), without which replies would go where
// the user may not read them. Use them with nats.Connect.
func SignIn(clientID, secret, userID string) []nats.Option {
	return []nats.Option{nats.UserInfo(clientID, secret), nats.CustomInboxPrefix(InboxPrefix(userID))}
}

// DefaultTimeout is how long the client waits for one reply unless [WithTimeout] says
// otherwise.
const DefaultTimeout = 10 * time.Second

// Headers of a successful command's reply.
const (
	headerSequence     = "Entityconn-Sequence"
	headerTimeout      = "Entityconn-Timeout-Ms" // how long the client waits for this reply
	headerConnectionID = "Entityconn-Connection-Id"
)

// Client talks to the entityconn service over one NATS connection. It is safe for concurrent
// use; its zero value is not usable, build it with [New]. Closing the connection is the
// caller's business.
//
// Besides the errors each method names, every call may fail with [ErrUnavailable] (no
// service listens, it is not ready, or no reply came in time), with its context's error
// (wrapped), or with the connection's error (wrapped, such as [nats.ErrConnectionClosed]).
type Client struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	timeout time.Duration
	actor   actor
}

// actor is who a call acts as: a user and the entity the user acts in.
type actor struct {
	userID, entityID string
}

// Option configures a [Client] in [New].
type Option func(*Client)

// WithTimeout sets how long the client waits for one reply (default 10 s). A call that gets
// no reply in time asks once more, so it takes at most about twice d, or less if its context
// ends sooner. A d of 0 or less keeps the default.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithActor makes every call act as the user userID in the entity entityID, unless the call
// says otherwise with [As]. Without it every call needs [As]. A user may act only as itself
// (a service user, as anyone).
func WithActor(userID, entityID string) Option {
	return func(c *Client) { c.actor = actor{userID: userID, entityID: entityID} }
}

// New returns a client that calls the service over nc. It does not contact the service: a
// service that is not running shows up as [ErrUnavailable] on the first call. It fails only
// for a nil connection.
func New(nc *nats.Conn, opts ...Option) (*Client, error) {
	if nc == nil {
		return nil, fmt.Errorf("%w: natsclient.New needs a NATS connection", ErrMissing)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsclient: jetstream: %w", err)
	}
	c := &Client{nc: nc, js: js, timeout: DefaultTimeout}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// CallOption adjusts one call.
type CallOption func(*callOptions)

type callOptions struct {
	actor     actor
	commandID string
}

// As makes the call act as the user userID in the entity entityID, instead of the actor of
// [WithActor].
func As(userID, entityID string) CallOption {
	return func(o *callOptions) { o.actor = actor{userID: userID, entityID: entityID} }
}

// CommandID sends id (at most 255 bytes) as the command's id. The service replays the first
// outcome of a command id to every retry, by the same user, for 24 hours: the command is
// applied at most once. The same id with another command fails with [ErrInvalid]; while the
// first attempt is still in flight, with [ErrConflict]. Without it (or with ""), the client
// generates a random id for the call. Queries ignore it.
func CommandID(id string) CallOption {
	return func(o *callOptions) { o.commandID = id }
}

// collect applies opts over the client's defaults and checks that there is an actor.
func (c *Client) collect(opts []CallOption) (callOptions, error) {
	co := callOptions{actor: c.actor}
	for _, o := range opts {
		o(&co)
	}
	switch {
	case co.actor.userID == "":
		return co, fmt.Errorf("%w: no actor user id: use natsclient.WithActor or natsclient.As", ErrMissing)
	case co.actor.entityID == "":
		return co, fmt.Errorf("%w: no acting entity id: use natsclient.WithActor or natsclient.As", ErrMissing)
	case !events.ValidID(co.actor.userID):
		return co, fmt.Errorf("%w: actor user id %q does not match ^[A-Za-z0-9_-]{1,64}$", ErrInvalid, co.actor.userID)
	}
	return co, nil
}

// request is the body of every call (contract §5), as the service decodes it.
type request struct {
	actorUser      string // the subject's user: who acts
	CommandID      string `json:"commandId,omitempty"`
	EntityID       string `json:"entityId"`
	TargetEntityID string `json:"targetEntityId,omitempty"`
	ConnectionID   string `json:"connectionId,omitempty"`
	Reason         string `json:"reason,omitempty"`

	Type        string `json:"type,omitempty"`
	Status      string `json:"status,omitempty"`
	Page        int    `json:"page,omitempty"`
	PageSize    int    `json:"pageSize,omitempty"`
	MinSequence uint64 `json:"minSequence,omitempty"`
	AsOf        string `json:"asOf,omitempty"`

	ObjectType    string   `json:"objectType,omitempty"`
	ObjectID      string   `json:"objectId,omitempty"`
	ToEntityIDs   []string `json:"toEntityIds,omitempty"`
	FromEntityIDs []string `json:"fromEntityIds,omitempty"`
	Direction     string   `json:"direction,omitempty"`

	// AutoAcceptFrom, when not nil, makes a body to the settings endpoint a change.
	AutoAcceptFrom *[]string `json:"autoAcceptFrom,omitempty"`
}

// Backoff between asking again for a command whose first attempt is still in flight.
const (
	minPoll = 50 * time.Millisecond
	maxPoll = time.Second
)

// call sends body to the endpoint and returns the successful reply, or the [*Error] it
// answered, or the client's own *Error when no service answered. When no reply comes within
// the timeout it asks once more with the same body (so the same command id); if that attempt
// finds the first still in flight, it asks again with a backoff until a timeout more has
// passed.
func (c *Client) call(ctx context.Context, endpoint string, body request) (*nats.Msg, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("natsclient: %s: encode request: %w", endpoint, err)
	}
	subject := SubjectPrefix + "." + body.actorUser + "." + endpoint
	var retryUntil time.Time // set once an attempt timed out
	poll := minPoll
	for {
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
		if dl, ok := actx.Deadline(); ok {
			// The service ends the attempt in time to answer it (a 503 to retry rather
			// than a timeout whose attempt would still hold the command id).
			msg.Header.Set(headerTimeout, strconv.FormatInt(max(1, time.Until(dl).Milliseconds()), 10))
		}
		reply, err := c.nc.RequestMsgWithContext(actx, msg)
		cancel()
		switch {
		case err == nil:
			e := replyError(reply, body.CommandID)
			if e == nil {
				return reply, nil
			}
			if !retryUntil.IsZero() && e.inFlight() && time.Now().Add(poll).Before(retryUntil) {
				// Our own timed-out attempt is still being handled: its outcome will be
				// replayed once it is recorded.
				if err := sleep(ctx, poll); err != nil {
					return nil, fmt.Errorf("natsclient: %s: %w", endpoint, err)
				}
				poll = min(2*poll, maxPoll)
				continue
			}
			return nil, e
		case ctx.Err() != nil:
			return nil, fmt.Errorf("natsclient: %s: %w", endpoint, ctx.Err())
		case errors.Is(err, nats.ErrNoResponders):
			return nil, &Error{Status: http.StatusServiceUnavailable, CommandID: body.CommandID, cause: err,
				Message: "no entityconn service answers on " + subject}
		case errors.Is(err, context.DeadlineExceeded):
			if retryUntil.IsZero() {
				retryUntil = time.Now().Add(c.timeout)
				continue
			}
			return nil, &Error{Status: http.StatusGatewayTimeout, CommandID: body.CommandID, cause: nats.ErrTimeout,
				Message: fmt.Sprintf("no reply on %s within %v, twice", subject, c.timeout)}
		default:
			return nil, fmt.Errorf("natsclient: %s: %w", endpoint, err)
		}
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send sends one command to its endpoint, with its actor and command id, and returns the
// successful reply.
func (c *Client) send(ctx context.Context, endpoint string, body request, opts []CallOption) (*nats.Msg, error) {
	co, err := c.collect(opts)
	if err != nil {
		return nil, err
	}
	body.actorUser, body.EntityID = co.actor.userID, co.actor.entityID
	body.CommandID = co.commandID
	if body.CommandID == "" {
		body.CommandID = uuid.NewString()
	}
	return c.call(ctx, endpoint, body)
}

// command sends one command of a connection to its endpoint and returns its result.
func (c *Client) command(ctx context.Context, endpoint string, body request, opts []CallOption) (Result, error) {
	reply, err := c.send(ctx, endpoint, body, opts)
	if err != nil {
		return Result{}, err
	}
	var out contract.Requested // accept and the others answer without the id
	if len(reply.Data) > 0 {
		if err := json.Unmarshal(reply.Data, &out); err != nil {
			return Result{}, fmt.Errorf("natsclient: %s: decode reply: %w", endpoint, err)
		}
	}
	res := Result{ConnectionID: out.ID, Sequence: sequenceOf(reply.Header), Status: out.Status}
	if res.ConnectionID == "" {
		res.ConnectionID = reply.Header.Get(headerConnectionID)
	}
	if res.ConnectionID == "" {
		res.ConnectionID = body.ConnectionID
	}
	if res.ConnectionID == "" {
		return Result{}, fmt.Errorf("natsclient: %s: reply without a connection id", endpoint)
	}
	return res, nil
}

// query sends a list, get, shared or settings read and decodes its reply into out.
func (c *Client) query(ctx context.Context, endpoint string, body request, opts []CallOption, out any) error {
	co, err := c.collect(opts)
	if err != nil {
		return err
	}
	body.actorUser, body.EntityID = co.actor.userID, co.actor.entityID
	reply, err := c.call(ctx, endpoint, body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(reply.Data, out); err != nil {
		return fmt.Errorf("natsclient: %s: decode reply: %w", endpoint, err)
	}
	return nil
}

// sequenceOf reads the Entityconn-Sequence header; 0 when it is absent or not a number.
func sequenceOf(h nats.Header) uint64 {
	n, err := strconv.ParseUint(strings.TrimSpace(h.Get(headerSequence)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
