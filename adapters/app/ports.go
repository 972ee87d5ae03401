package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// The ports: what the service needs from the world, declared here, where they are used.
// Package natsjs implements them on NATS JetStream (the service's store); package memstore
// implements them in memory, for tests of the service and its doors that need no NATS. One
// contract suite (package storetest) holds both to the same behaviour.

// Stored is an event with its position in the event log (its stream sequence).
type Stored struct {
	Event    events.Event
	Sequence uint64
}

// PairState is the state of a pair of entities as a command decides on it: the sequence of
// the pair's last event (0: the pair has none), which the append is conditional on, and the
// state of the pair's latest connection (the zero Connection: none).
type PairState struct {
	Sequence uint64
	Latest   domain.Connection
}

// PairUpdate describes one decision on a pair for [EventStore.UpdatePair].
type PairUpdate struct {
	Source, Target string
	// EventID is the id of the event the decision stores: if the pair's last event has it,
	// the decision was stored already (by an earlier attempt of the command) and is not made
	// again.
	EventID string
	// Guess, if not nil, is a state to decide on first without reading the store (the list
	// index's): it may be behind, so a refusal on it is not final (the pair is read and the
	// decision made again), and the append is conditional on its sequence.
	Guess *PairState
	// Decide returns the event to store on state, or the command's refusal. Returning
	// [ErrReadAgain] makes the store read the pair again and call it again.
	Decide func(ctx context.Context, state PairState) (events.Event, error)
	// Follow, if not nil, returns the events to store after the decided one, on the same
	// pair and state, in the same atomic batch: the ends of a disconnected connection's
	// shares (rule 6), a request's acceptance by the target's settings (contract §8); and
	// the conditions on other pairs the batch is stored on (the target's settings).
	Follow func(ctx context.Context, state PairState, e events.Event) ([]events.Event, []Expect, error)
	// Ours, if not nil, reports whether the pair's last event is one that Follow adds for
	// this decision: then, too, the decision was stored already.
	Ours func(e events.Event) bool
}

// Pair is an ordered pair of entities.
type Pair struct{ Source, Target string }

// PairsUpdate describes one decision on several pairs, stored as one atomic batch, for
// [EventStore.UpdatePairs]: a share with several targets (contract §7).
type PairsUpdate struct {
	Pairs []Pair // distinct
	// Ours reports whether a pair's last event is one of this decision's: an earlier
	// attempt stored the batch, and it is not decided again.
	Ours func(e events.Event) bool
	// Decide returns the events to store on the states of the pairs (states[i] of
	// Pairs[i]), in order, or the command's refusal. No event: nothing to store.
	Decide func(ctx context.Context, states []PairState) ([]events.Event, error)
	// Guesses, if not nil, are states of the pairs (Guesses[i] of Pairs[i]) to decide on
	// first without reading the store (the list index's), as [PairUpdate.Guess]: the
	// appends are conditional on them, and a refusal decided on them is decided again on
	// the stored states.
	Guesses []PairState
}

// PairsResult is what [EventStore.UpdatePairs] did.
type PairsResult struct {
	// Stored are the events appended, in order; with Replayed, the one of this decision
	// found as a pair's last event.
	Stored []Stored
	// Sequence is the sequence of the last event stored; when nothing was, the latest of
	// the pairs' last events as read, which a query waits for to see the state decided on.
	Sequence uint64
	Replayed bool
	// Appended: an append was tried (see [Update]).
	Appended bool
}

// Update is what [EventStore.UpdatePair] did.
type Update struct {
	// Stored is the decided event; with Replayed, the pair's last event found to be the
	// decision's.
	Stored
	// Last is the sequence of the last event stored with it ([PairUpdate.Follow]); Stored's
	// when it was stored alone.
	Last uint64
	// Replayed: the pair's last event has the update's event id; it was not decided again.
	Replayed bool
	// Appended: an append was tried, so the decision's event may be stored even when the
	// update fails (an error, or a refusal on a later state).
	Appended bool
}

// Bound narrows where [EventStore.Connection] looks for a connection's events. The zero
// Bound looks everywhere.
type Bound struct {
	// From: the connection's request, if it exists, is at this sequence or later.
	From uint64
	// RequestedAt, when not zero, is about when the connection was requested (its view's
	// requestedAt); clocks may differ by up to a minute.
	RequestedAt time.Time
	// Events and To, when Events is 1 or 2, say that the connection has that many events:
	// its request at From and its last at To, which are read by sequence, without searching
	// the pair's subjects. Only a reader that knows the index has caught up with the log may
	// say so (an as-of read).
	Events int
	To     uint64
}

// EventStore is the event log, the source of truth. Events of a pair are appended only on
// the state they were decided on (rule 2 across processes and replicas).
type EventStore interface {
	// UpdatePair reads the pair's state, asks u.Decide for an event and appends it on the
	// condition that the pair has not changed since; when it has, it reads the pair and asks
	// again, a bounded number of times ([ErrContended] after that). A refusal from Decide is
	// returned as it is. An event stored already (the same event id, pair, type and
	// connection, e.g. a retry after a lost answer) is not stored twice: its sequence is
	// returned. Errors of the store wrap [ErrUnavailable].
	UpdatePair(ctx context.Context, u PairUpdate) (Update, error)
	// UpdatePairs is UpdatePair for a decision on several pairs: it reads each pair, asks
	// u.Decide for the events and appends them as one atomic batch (all or none) on the
	// condition that none of the pairs has changed since.
	UpdatePairs(ctx context.Context, u PairsUpdate) (PairsResult, error)
	// Connection returns the events of connection id on the pair (source, target), oldest
	// first, or none; it reads what a decision may rely on (never a lagging copy).
	Connection(ctx context.Context, source, target, id string, b Bound) ([]Stored, error)
	// LastOfPair returns the pair's last event, and false when it has none; it may lag
	// behind the stream's leader. The pair of an entity with itself holds its sharing
	// settings.
	LastOfPair(ctx context.Context, source, target string) (Stored, bool, error)
}

// Views are the Outbound and Inbound views as the projector has written them.
type Views interface {
	// Get returns connection id's view in direction d of entity.
	Get(ctx context.Context, d projections.Direction, entity, id string) (projections.View, bool, error)
	// List returns entity's views in the directions ds, in no particular order.
	List(ctx context.Context, entity string, ds ...projections.Direction) ([]projections.View, error)
	// WaitFor returns once the views include every event up to sequence seq.
	WaitFor(ctx context.Context, seq uint64) error
	// Progress returns the sequence of the last event the views include.
	Progress() uint64
	// WaitCaughtUp returns once the views include every event stored when it was called.
	WaitCaughtUp(ctx context.Context) error
	// Follow calls f with every view of entity in the directions ds, then with a Live
	// marker, then with every change, until ctx ends or f returns false.
	Follow(ctx context.Context, entity string, ds []projections.Direction, f func(Change) bool) error
}

// Change is one entry of [Views.Follow]: a view as stored, or the marker that the current
// views have all been delivered (Live true, no view).
type Change struct {
	Direction projections.Direction
	View      projections.View
	Live      bool
}

// ListIndex holds every view in memory, fed by the event log in order.
type ListIndex interface {
	// Ready reports whether the index has caught up with the log as it was at its start.
	Ready() bool
	// Sequence returns the sequence of the last event in the index.
	Sequence() uint64
	// WaitFor returns once the index includes every event up to sequence seq.
	WaitFor(ctx context.Context, seq uint64) error
	// WaitCaughtUp returns once the index includes every event stored when it was called.
	WaitCaughtUp(ctx context.Context) error
	// List returns entity's views in the directions ds, in no particular order.
	List(entity string, ds ...projections.Direction) []projections.View
	// Pair returns the view of the pair's latest connection.
	Pair(source, target string) (projections.View, bool)
	// Connection returns the view of connection id of the pair.
	Connection(source, target, id string) (projections.View, bool)
	// RequestSequence returns the stream sequence of connection id's request, 0 if unknown.
	RequestSequence(source, target, id string) uint64
	// Span returns the sequences of connection id's request and last event, and how many
	// events it has, as far as the index has read (zeros if unknown).
	Span(source, target, id string) (requested, last uint64, events int)
	// Find returns the view of connection id if entity is its source or target.
	Find(entity, id string) (projections.View, bool)
	// Shares returns the objects shared over connection id of the pair.
	Shares(source, target, id string) []projections.Share
	// SharedObjects returns entity's shares in direction d (projections.SharedBy or
	// projections.SharedWith), in no particular order.
	SharedObjects(entity string, d projections.Direction) []projections.Share
}

// Directory holds the directory of entities and users the service authorises with.
type Directory interface {
	// Current returns the directory in force, or nil when none is loaded yet.
	Current() *domain.Directory
	// Changed returns a channel that is closed the next time Current is replaced. Take it
	// before reading Current, so that no change falls in between.
	Changed() <-chan struct{}
}

// Outcomes records the first outcome of each command id, so that a retry is answered with
// it instead of being applied again (rule 5).
type Outcomes interface {
	// Begin returns the first outcome recorded for key within scope and fingerprint
	// (replay), or a claim on the key. It waits while another attempt holds the key, and
	// returns [ErrInFlight] if ctx ends first, [ErrKeyReused] for a key first used with
	// another fingerprint.
	Begin(ctx context.Context, scope, key, fingerprint string) (json.RawMessage, Claim, error)
}

// Claim is the right to handle a key, from [Outcomes.Begin]. Exactly one of Complete or
// Release is called.
type Claim interface {
	// Retry reports whether an earlier attempt claimed the key and ended without an outcome:
	// its event may be stored.
	Retry() bool
	// EarlierMayRun reports whether an earlier attempt may still be running and store the
	// command's event (its lease ran out, its deadline has not).
	EarlierMayRun() bool
	// WaitEarlier waits until no earlier attempt may run, and reports false at once if ctx
	// would end first.
	WaitEarlier(ctx context.Context) bool
	// Complete records outcome as the key's first outcome.
	Complete(ctx context.Context, outcome json.RawMessage) error
	// Release gives the key up without an outcome, so that a retry is handled afresh.
	Release(ctx context.Context) error
}

// Errors the ports return.
var (
	// ErrReadAgain, returned by a [PairUpdate]'s Decide, says that what it read disagrees
	// with the pair's state it was given (one of the reads lags): read both again.
	ErrReadAgain = errors.New("app: a read of the pair lags behind another; read again")
	// ErrEventIDTaken: a command's event id is stored for an event that is not the command's.
	ErrEventIDTaken = fmt.Errorf("%w: its event id is stored for another event", ErrKeyReused)
	// ErrCorruptEvent: a stored event cannot be read.
	ErrCorruptEvent = errors.New("stored message is not a valid event")
	// ErrInFlight is returned by [Outcomes.Begin] when the same key is being handled.
	ErrInFlight = fmt.Errorf("%w: a request with this idempotency key is still in progress", domain.ErrConflict)
	// ErrEarlierAttempt: a command refused while an earlier attempt of it may still store
	// its event; a retry with the same key gets the outcome.
	ErrEarlierAttempt = errors.New("an earlier attempt of this command may still be running; retry with the same key or command id")
	// ErrKeyReused: an idempotency key or command id first used for a different request.
	ErrKeyReused = fmt.Errorf("%w: the idempotency key was already used for a different request", domain.ErrInvalidValue)
)

type correlationKey struct{}

// WithCorrelationID returns a context whose appended events carry id as their correlation id.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID returns the correlation id of ctx, or "".
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}
