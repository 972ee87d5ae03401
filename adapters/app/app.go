// Package app is what every door (REST, NATS request/reply, durable NATS commands) calls: it
// authorises the user through the directory, records and replays the first outcome of each
// command id, has the store decide the command on its pair and append the one resulting
// event conditionally; it answers queries from the views and the list index.
//
// It declares the ports it needs, where they are used: [EventStore], [Views], [ListIndex],
// [Directory], [Outcomes] and [ExpiryFeed]. Package natsjs implements them on NATS JetStream,
// package memstore in memory; it imports neither.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/entityconn/entityconn/adapters/telemetry"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// ErrUnavailable is the family of errors that say "not now": the store cannot be reached or
// the views are behind. Edges answer 503; such outcomes are never replayed.
var ErrUnavailable = errors.New("service unavailable")

// ErrNotYetVisible is returned by queries with a minimum sequence that the views do not reach
// within [MinSequenceWait].
var ErrNotYetVisible = fmt.Errorf("%w: the views do not include the requested sequence yet", ErrUnavailable)

// ErrContended is returned when a command lost the race for its connection more than
// maxAttempts times in a row.
var ErrContended = fmt.Errorf("%w: the connection is changing concurrently; retry", domain.ErrConflict)

// MinSequenceWait is the longest a query waits for the views to include a minimum sequence.
const MinSequenceWait = 5 * time.Second

// MaxReasonLength bounds the reason of a denial or disconnection, in bytes.
const MaxReasonLength = 2000

// MaxPageSize is the largest page a list returns (contract §4).
const MaxPageSize = 300

// MaxPage is the largest page number a list accepts. Pages up to it that lie past the last
// connection are empty; a larger number is refused as an invalid value. With at most
// [MaxPageSize] items a page, it leaves room for 300 million connections per entity and keeps
// the offset of a page far from overflowing.
const MaxPage = 1_000_000

// Config holds what a [Service] works with.
type Config struct {
	Store     EventStore
	Views     Views
	Index     ListIndex // nil: lists read the views
	Directory Directory
	// Outcomes, if not nil, records the first outcome of each command id given by a caller
	// and answers its retries with it (rule 5); without it a retry is recognised only by its
	// event.
	Outcomes   Outcomes
	PendingTTL time.Duration    // 0: requests never expire
	Now        func() time.Time // nil: time.Now
	Metrics    *telemetry.Metrics
	Log        *slog.Logger
}

// Service runs commands and queries. Safe for concurrent use.
type Service struct {
	cfg   Config
	pairs pairCache
}

// New returns a service on cfg.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, pairs: pairCache{m: map[string]pair{}}}
}

// Principal is an authenticated user acting in one entity.
type Principal struct {
	UserID   string
	EntityID string
}

// Door names the way a command came in.
type Door string

// The doors. NATS request/reply and durable NATS commands are one door: a command id names
// the same command on both.
const (
	DoorREST Door = "rest"
	DoorNATS Door = "nats"
)

// CommandTimeout bounds one attempt of a command at the request doors (REST, NATS
// request/reply); the durable door's attempts are shorter. Each NATS request inside it has a
// bound of its own and is tried again while NATS cannot serve it. An attempt's deadline is
// also how long a retry that took over its key holds back a refusal (the attempt, cut off,
// may yet store the event), so it stays well under a client's usual 30 s of retries. It is
// shorter than a client's usual 10 s timeout of one request, so that such a client gets an
// answer it can act on (503 and Retry-After) rather than a timeout whose attempt still holds
// its key. A NATS caller may ask for less ([RequestTimeout]).
const CommandTimeout = 8 * time.Second

// RequestTimeout returns how long an attempt may run when its caller gives up after wait:
// a little less than wait, so that its answer arrives in time, and never more than
// [CommandTimeout]. A wait of zero or less means the caller did not say.
func RequestTimeout(wait time.Duration) time.Duration {
	if wait <= 0 {
		return CommandTimeout
	}
	return min(CommandTimeout, max(wait-max(wait/10, 100*time.Millisecond), wait/2))
}

// CommandID identifies a command across retries: the key its caller gave (an
// Idempotency-Key on REST, a commandId on NATS) within the door it came through. The zero
// CommandID (no key) makes a command unrepeatable.
//
// A key names one command of one user acting in one entity at one door: the same key at
// another door, or from another user or entity, is another command, and its events get
// other ids.
type CommandID struct {
	Door Door
	Key  string
	// Retry says that an earlier attempt of this command may have stored its event and
	// ended without an answer (its process died, or it was unavailable): the command looks
	// for that event in the connection's history before it decides again.
	Retry bool
}

// Scope returns the scope of the key's idempotency record ([Outcomes.Begin]) for
// user: the door and the user. The acting entity and the command's content belong in the
// record's fingerprint, so that the key used again for another entity or command is refused
// as reused rather than taken for a retry.
func (id CommandID) Scope(user string) string { return string(id.Door) + ":" + user }

// Result is the outcome of an accepted command.
type Result struct {
	ConnectionID string
	// Sequence is the stream sequence of the command's event: a query with this minimum
	// sequence sees the command's effect.
	Sequence uint64
	// Replayed is true when the event was already stored by an earlier attempt of the same
	// command (same command id): nothing new was appended.
	Replayed bool
	// FromRecord is true when the answer is the recorded first outcome of the command id
	// (a refusal from the record is a [*RecordedError]).
	FromRecord bool
	// Status is the state the command left its connection in, when it has one: a request
	// is Pending, or Connected when the target's settings accepted it at once.
	Status domain.Status
}

// statusOf returns the status e leaves its connection in ("" for an event of no
// connection's state).
func statusOf(e events.Event) domain.Status {
	st, _ := domain.StatusAfter(e.Type)
	return st
}

// Execute runs cmd for p. id identifies the command across retries; a retry with the same id
// whose event is already stored returns that event's result rather than applying the command
// twice (rule 5). The ids inside cmd (EventID, ConnectionID of a request) are set here,
// derived from the door, the user, the acting entity, what the command names (the target of
// a request, the connection otherwise) and the key, so that the same key never yields the
// same ids for two different commands.
//
// Errors wrap the families of package domain, [ErrUnavailable] for infrastructure failures,
// [ErrContended] after repeated concurrent changes, and [ErrEventIDTaken] when the
// command's event id is stored for an event that is not this command's.
func (s *Service) Execute(ctx context.Context, p Principal, id CommandID, cmd domain.Command) (Result, error) {
	start := time.Now()
	var res Result
	var err error
	if id.Key != "" && s.cfg.Outcomes != nil && (id.Door == DoorREST || id.Door == DoorNATS) {
		res, err = s.recorded(ctx, p, id, cmd)
	} else {
		res, err = s.execute(ctx, p, id, cmd)
	}
	s.cfg.Metrics.Command(cmd.Name(), Outcome(err), time.Since(start))
	return res, err
}

func (s *Service) execute(ctx context.Context, p Principal, id CommandID, cmd domain.Command) (Result, error) {
	actor, err := s.actor(p)
	if err != nil {
		return Result{}, err
	}
	explicit := id.Key != ""
	if explicit && id.Door != DoorREST && id.Door != DoorNATS {
		return Result{}, fmt.Errorf("%w: command id of unknown door %q", domain.ErrInvalidValue, id.Door)
	}
	if !explicit {
		id.Key = uuid.NewString()
	}
	// ids derives the command's ids; object is what the command names (the target of a
	// request, the connection otherwise).
	ids := func(kind, object string) string {
		return deriveID(kind, string(id.Door), p.UserID, p.EntityID, cmd.Name(), object, id.Key)
	}
	var eventID, source, target string
	switch c := cmd.(type) {
	case domain.RequestConnection:
		if c.Target == "" {
			return Result{}, fmt.Errorf("%w: targetEntityId is required", domain.ErrMissingValue)
		}
		if !events.ValidID(c.Target) {
			return Result{}, fmt.Errorf("%w: targetEntityId %q does not match ^[A-Za-z0-9_-]{1,64}$", domain.ErrInvalidValue, truncate(c.Target))
		}
		eventID = ids("event", c.Target)
		c.EventID, c.ConnectionID = eventID, ids("connection", c.Target)
		cmd, source, target = c, p.EntityID, c.Target
	case domain.AcceptConnection:
		eventID = ids("event", c.ConnectionID)
		c.EventID = eventID
		cmd = c
	case domain.DenyConnection:
		eventID = ids("event", c.ConnectionID)
		c.EventID = eventID
		cmd = c
	case domain.CancelConnection:
		eventID = ids("event", c.ConnectionID)
		c.EventID = eventID
		cmd = c
	case domain.DisconnectConnection:
		eventID = ids("event", c.ConnectionID)
		c.EventID = eventID
		cmd = c
	case domain.ShareObject, domain.UnshareObject:
		return s.executeShare(ctx, p, actor, explicit, explicit && id.Retry, ids, cmd)
	case domain.ChangeSharingSettings:
		eventID = ids("event", "sharing-settings")
		c.EventID = eventID
		cmd, source, target = c, p.EntityID, p.EntityID
	default:
		return Result{}, fmt.Errorf("%w: command %s cannot be sent by a user", domain.ErrInvalidValue, cmd.Name())
	}
	if err := checkReason(cmd); err != nil {
		return Result{}, err
	}
	if source == "" {
		if source, target, err = s.locate(ctx, p.EntityID, domain.TargetConnection(cmd), preferred(cmd)); err != nil {
			return Result{}, err
		}
	}
	return s.decideAndAppend(ctx, decision{actor: actor, cmd: cmd, eventID: eventID, source: source, target: target,
		explicit: explicit, retry: explicit && id.Retry})
}

// decision is one command on its pair, ready to be decided: who acts, the command with its
// ids set, its event's id, the pair, and what is known of earlier attempts.
type decision struct {
	actor          domain.Actor
	cmd            domain.Command
	eventID        string
	source, target string
	// explicit: the command's id came from its caller, who may retry it.
	explicit bool
	// retry: an earlier attempt may have stored the event.
	retry bool
}

// decideAndAppend decides d on its pair and appends the event ([EventStore.UpdatePair]).
func (s *Service) decideAndAppend(ctx context.Context, d decision) (Result, error) {
	actor, cmd, eventID, source, target, explicit, retry := d.actor, d.cmd, d.eventID, d.source, d.target, d.explicit, d.retry
	if retry {
		// Before deciding afresh, look for the earlier attempt's event: once another event
		// follows it on the pair, the command may be allowed again (a request after a
		// cancel) and would be stored twice.
		if res, ok, err := s.earlier(ctx, cmd, eventID, source, target); err != nil || ok {
			return res, err
		}
	}
	var follow func(context.Context, PairState, events.Event) ([]events.Event, []Expect, error)
	var oursToo func(events.Event) bool
	switch cmd.(type) {
	case domain.DisconnectConnection:
		follow, oursToo = s.endShares(source, target), endedShareOf(eventID)
	case domain.RequestConnection:
		follow, oursToo = s.autoAccept(target, eventID), autoAcceptanceOf(eventID)
	}
	up, err := s.cfg.Store.UpdatePair(ctx, PairUpdate{
		Source: source, Target: target, EventID: eventID,
		Follow: follow, Ours: oursToo,
		Guess: s.guess(cmd, source, target, retry),
		Decide: func(ctx context.Context, state PairState) (events.Event, error) {
			st, err := s.stateFor(ctx, cmd, state, source, target)
			if err != nil {
				return events.Event{}, err
			}
			return domain.Decide(st, cmd, actor, s.cfg.Now().UTC())
		},
	})
	if err == nil {
		if up.Replayed {
			if !ours(cmd, source, target, up.Event) {
				return Result{}, fmt.Errorf("%w: %s at sequence %d", ErrEventIDTaken, up.Event.Type, up.Sequence)
			}
			return Result{ConnectionID: up.Event.ConnectionID, Sequence: up.Last, Replayed: true, Status: statusOf(up.Event)}, nil
		}
		if up.Event.ConnectionID != "" {
			s.pairs.put(up.Event.ConnectionID, pair{up.Event.SourceEntityID, up.Event.TargetEntityID})
		}
		status := statusOf(up.Event)
		if up.Last != up.Sequence && up.Event.Type == events.TypeConnectionRequested {
			status = domain.StatusConnected // accepted at once, in the same batch
		}
		return Result{ConnectionID: up.Event.ConnectionID, Sequence: up.Last, Status: status}, nil
	}
	if refusal(err) && explicit && (retry || up.Appended) {
		// A refusal is a command's outcome only if no attempt of it stored its event: one
		// may have (an earlier attempt, or an append of this one that timed out and was
		// refused on its retry), and someone acted after it. A history that cannot be read
		// leaves the outcome unknown: unavailable. A first attempt that has not appended
		// needs no look (every attempt claims the command's key before it runs, so none
		// came before it).
		res, ok, herr := s.earlier(ctx, cmd, eventID, source, target)
		if herr != nil {
			return Result{}, herr
		}
		if ok {
			return res, nil
		}
	}
	return Result{}, err // a refusal, ErrContended, or the store's error (ErrUnavailable)
}

// refusal reports whether err is the decider's refusal of a command (as opposed to the
// store failing).
func refusal(err error) bool {
	return errors.Is(err, domain.ErrRuleViolation) || errors.Is(err, domain.ErrNotFound) ||
		errors.Is(err, domain.ErrPermission) || errors.Is(err, domain.ErrInvalidValue) ||
		errors.Is(err, domain.ErrMissingValue) || errors.Is(err, domain.ErrUnauthenticated)
}

// guess returns the pair's state as the list index has it, for the store to decide on first
// ([PairUpdate.Guess]): it saves reading the pair's last event (a read that waits behind the
// appends the server is syncing to disk). None for a command on an older connection of the
// pair (its history is in the store), for a retry (it has read the history already), and for
// expiry, which runs on every replica at once and takes the stored state, which tells a
// replayed expiry from a new one.
func (s *Service) guess(cmd domain.Command, source, target string, retry bool) *PairState {
	ix := s.cfg.Index
	_, expiry := cmd.(domain.ExpireConnection)
	_, settings := cmd.(domain.ChangeSharingSettings) // not in the index
	if ix == nil || !ix.Ready() || expiry || settings || retry {
		return nil
	}
	v, ok := ix.Pair(source, target)
	if !ok {
		return &PairState{}
	}
	if id := domain.TargetConnection(cmd); id != "" && id != v.ID {
		return nil
	}
	return &PairState{Sequence: v.Sequence, Latest: v.Connection()}
}

// bound narrows the store's search for the events of connection id of the pair (source,
// target) with the list index, which holds every connection up to the sequence it has read:
// a connection it knows was requested at the sequence it read that request at (or, when it
// cannot say, about its requestedAt); one it does not know was
// requested, if at all, after that sequence. Without the search, a pair with a long history
// is read event by event from its first, which took longer than a command may.
func (s *Service) bound(source, target, id string) Bound {
	ix := s.cfg.Index
	if ix == nil {
		return Bound{}
	}
	seq := ix.Sequence() // before the look-up: the index only grows
	if req := ix.RequestSequence(source, target, id); req > 0 {
		return Bound{From: req} // the history is read from its request on
	}
	if v, ok := ix.Connection(source, target, id); ok {
		return Bound{RequestedAt: v.RequestedAt}
	}
	return Bound{From: seq + 1}
}

// stateFor returns the state Decide needs: the pair's latest connection for a request, the
// named connection otherwise.
func (s *Service) stateFor(ctx context.Context, cmd domain.Command, state PairState, source, target string) (domain.Connection, error) {
	id := domain.TargetConnection(cmd)
	if state.Sequence == 0 {
		return domain.Connection{}, nil
	}
	if id == "" || state.Latest.ID == id {
		return state.Latest, nil
	}
	// The command names an older connection of the pair, which is necessarily terminal.
	hist, err := s.cfg.Store.Connection(ctx, source, target, id, s.bound(source, target, id))
	if err != nil {
		return domain.Connection{}, unavailable(err)
	}
	if len(hist) == 0 {
		return domain.Connection{}, nil
	}
	older, err := domain.FromLast(hist[len(hist)-1].Event)
	if err == nil && older.Status.Live() {
		// Rule 2: a connection older than the pair's latest has ended. A history that says
		// otherwise is behind the pair's last event (the append, conditional on that event
		// alone, would not notice): never decide on it.
		// Or the pair's last event was read from a replica that lags and the connection
		// is the latest: read both again.
		return domain.Connection{}, ErrReadAgain
	}
	return older, err
}

// earlier finds the event of an earlier attempt of this command, wherever it is in the
// connection's history (someone may have acted after it), so that the retry replays its
// outcome (rule 5). An error means the history could not be read.
func (s *Service) earlier(ctx context.Context, cmd domain.Command, eventID, source, target string) (Result, bool, error) {
	id := domain.TargetConnection(cmd)
	if r, ok := cmd.(domain.RequestConnection); ok {
		id = r.ConnectionID
	}
	hist, err := s.cfg.Store.Connection(ctx, source, target, id, s.bound(source, target, id))
	if err != nil {
		return Result{}, false, unavailable(err)
	}
	for _, st := range hist {
		if st.Event.EventID == eventID {
			if !ours(cmd, source, target, st.Event) {
				return Result{}, false, fmt.Errorf("%w: %s at sequence %d", ErrEventIDTaken, st.Event.Type, st.Sequence)
			}
			return Result{ConnectionID: st.Event.ConnectionID, Sequence: st.Sequence, Replayed: true}, true, nil
		}
	}
	return Result{}, false, nil
}

// ours reports whether e, stored with cmd's event id, is cmd's event: on the pair (source,
// target), of the type cmd produces, for the connection cmd names (a request: the one it
// creates). Event ids are derived from commands, so an event that is not cmd's means the id
// was reused for another command, and its result must not be taken for cmd's.
func ours(cmd domain.Command, source, target string, e events.Event) bool {
	var t events.Type
	id := domain.TargetConnection(cmd)
	switch c := cmd.(type) {
	case domain.RequestConnection:
		t, id = events.TypeConnectionRequested, c.ConnectionID
		if autoAcceptanceOf(c.EventID)(e) {
			t = events.TypeConnectionAccepted // the last of its batch
		}
	case domain.ChangeSharingSettings:
		t, id = events.TypeSharingSettingsChanged, ""
	case domain.AcceptConnection:
		t = events.TypeConnectionAccepted
	case domain.DenyConnection:
		t = events.TypeConnectionDenied
	case domain.CancelConnection:
		t = events.TypeConnectionCancelled
	case domain.DisconnectConnection:
		t = events.TypeConnectionDisconnected
		if endedShareOf(c.EventID)(e) {
			t = events.TypeObjectUnshared // the last of its batch
		}
	case domain.ExpireConnection:
		t = events.TypeConnectionExpired
	default:
		return false
	}
	return e.Type == t && e.ConnectionID == id && e.SourceEntityID == source && e.TargetEntityID == target
}

func (s *Service) actor(p Principal) (domain.Actor, error) {
	dir := s.cfg.Directory.Current()
	if dir == nil {
		return domain.Actor{}, fmt.Errorf("%w: no directory loaded", ErrUnavailable)
	}
	if !events.ValidID(p.EntityID) {
		return domain.Actor{}, fmt.Errorf("%w: entity id %q does not match ^[A-Za-z0-9_-]{1,64}$", domain.ErrInvalidValue, truncate(p.EntityID))
	}
	return dir.Actor(p.UserID, p.EntityID)
}

// locate finds the pair of connection id as seen from entity, in the list index or the views,
// waiting once for them to catch up if neither shows it: a command may follow the request
// that created the connection faster than the projector.
func (s *Service) locate(ctx context.Context, entity, id string, first projections.Direction) (source, target string, err error) {
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return "", "", fmt.Errorf("%w: connection id %q is not a UUID", domain.ErrInvalidValue, truncate(id))
	}
	if pr, ok := s.pairs.get(id); ok {
		if pr.source != entity && pr.target != entity {
			return "", "", fmt.Errorf("%w: %s", domain.ErrConnectionNotFound, id)
		}
		return pr.source, pr.target, nil
	}
	ix := s.cfg.Index
	if ix != nil && !ix.Ready() {
		ix = nil // still loading: the views know more
	}
	for attempt := 0; ; attempt++ {
		// The list index follows the event stream in this process: it knows the connection
		// as soon as its request is stored, even while the projector is held up (a replica
		// taking over the projection, the views bucket without a leader).
		if ix != nil {
			if v, ok := ix.Find(entity, id); ok {
				s.pairs.put(id, pair{v.SourceEntityID, v.TargetEntityID})
				return v.SourceEntityID, v.TargetEntityID, nil
			}
		}
		for _, d := range []projections.Direction{first, other(first)} {
			v, ok, err := s.cfg.Views.Get(ctx, d, entity, id)
			if err != nil {
				return "", "", unavailable(err)
			}
			if ok {
				s.pairs.put(id, pair{v.SourceEntityID, v.TargetEntityID})
				return v.SourceEntityID, v.TargetEntityID, nil
			}
		}
		if attempt > 0 {
			return "", "", fmt.Errorf("%w: %s", domain.ErrConnectionNotFound, id)
		}
		wctx, cancel := context.WithTimeout(ctx, MinSequenceWait)
		var err error
		if ix != nil {
			err = ix.WaitCaughtUp(wctx)
		} else {
			err = s.cfg.Views.WaitCaughtUp(wctx)
		}
		cancel()
		if err != nil {
			return "", "", unavailable(err)
		}
	}
}

func preferred(cmd domain.Command) projections.Direction {
	switch cmd.(type) {
	case domain.AcceptConnection, domain.DenyConnection:
		return projections.Inbound
	}
	return projections.Outbound
}

func other(d projections.Direction) projections.Direction {
	if d == projections.Outbound {
		return projections.Inbound
	}
	return projections.Outbound
}

func checkReason(cmd domain.Command) error {
	var reason string
	switch c := cmd.(type) {
	case domain.DenyConnection:
		reason = c.Reason
	case domain.DisconnectConnection:
		reason = c.Reason
	}
	if len(reason) > MaxReasonLength {
		return fmt.Errorf("%w: reason is %d bytes, at most %d allowed", domain.ErrInvalidValue, len(reason), MaxReasonLength)
	}
	return nil
}

// idSpace is the UUID namespace of ids derived from command ids.
var idSpace = uuid.MustParse("5b0e5f4e-7c38-4c8e-9d47-1f6f3d5a2c10")

// deriveID returns a UUID that depends only on its parts, so that a retried command gets
// the same event and connection ids as its first attempt. Parts are joined with NUL; only the
// last may contain one (it is the caller's key), so different parts never give the same bytes.
func deriveID(parts ...string) string {
	return uuid.NewSHA1(idSpace, []byte(strings.Join(parts, "\x00"))).String()
}

func unavailable(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if errors.Is(err, domain.ErrConflict) || errors.Is(err, ErrCorruptEvent) || errors.Is(err, ErrEventIDTaken) || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// truncate keeps user input in error messages short.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Outcome names the category of err for metrics: "ok" for nil.
func Outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, domain.ErrPermission):
		return "permission"
	case errors.Is(err, domain.ErrUnauthenticated):
		return "authentication"
	case errors.Is(err, domain.ErrMissingValue):
		return "missing"
	case errors.Is(err, domain.ErrInvalidValue):
		return "invalid"
	case errors.Is(err, domain.ErrRuleViolation):
		return "rule_violation"
	case errors.Is(err, domain.ErrNotFound):
		return "not_found"
	case errors.Is(err, domain.ErrConflict):
		return "conflict"
	}
	return "error"
}

type pair struct{ source, target string }

// pairCache remembers which pair a connection id belongs to: a fact that never changes.
// It is bounded by starting afresh when full.
type pairCache struct {
	mu sync.RWMutex
	m  map[string]pair
}

const pairCacheSize = 100_000

func (c *pairCache) get(id string) (pair, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.m[id]
	return p, ok
}

func (c *pairCache) put(id string, p pair) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= pairCacheSize {
		c.m = make(map[string]pair, pairCacheSize/4)
	}
	c.m[id] = p
}
