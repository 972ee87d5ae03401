package natsclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/events"
)

// Subscription is a running subscription to an entity's events, made by [Client.Subscribe].
// It is safe for concurrent use.
type Subscription interface {
	// Stop ends the subscription and waits until the handler call in progress, if any, has
	// returned; no call starts after it. Calling it again does nothing more. It must not be
	// called from the handler, which would wait for itself: a handler that wants to end its
	// subscription cancels the context given to Subscribe instead.
	Stop()
}

// SubscribeOption adjusts [Client.Subscribe].
type SubscribeOption func(*subscribeOptions)

type subscribeOptions struct {
	fromStart bool
	durable   string
	types     []events.Type
	onError   func(error)
}

// FromStart makes a new subscription deliver the entity's events from the start of the
// stream, its whole history, instead of only those stored from the moment it is made. For a
// [Durable] subscription it applies only when the durable consumer is created: one that
// already exists resumes where it stopped.
func FromStart() SubscribeOption {
	return func(o *subscribeOptions) { o.fromStart = true }
}

// Durable makes the subscription read through the durable JetStream consumers <name>-out and
// <name>-in, one per direction, created on first use and kept by the server until they are
// deleted, so that a subscription made again with the same name resumes after the last
// event acknowledged, even across restarts. name matches ^[A-Za-z0-9_-]{1,64}$ and, on a
// connection of [SignIn], starts with the user id (<userId>-<anything>, contract §5a: the
// service deletes a user's durables named otherwise); keep it to yourself, since a consumer
// is reached by its name. An event is acknowledged when the handler returns nil; when it
// returns an error the event is delivered again after a delay (1 s, doubling up to 30 s),
// before any later event of its direction: delivery is at least once, in stream order per
// direction, one event at a time per direction. A handler that takes longer than 30 s (the
// consumer's ack wait) gets the event again. Several subscriptions with the same name, in
// one process or many, share the consumers: each event goes to one of them. Without Durable
// the subscription reads through ordered consumers: ephemeral, at most once, with no
// acknowledgements.
//
// The consumers' filters follow the latest Subscribe's entity; their start positions are
// fixed when they are created.
func Durable(name string) SubscribeOption {
	return func(o *subscribeOptions) { o.durable = name }
}

// Types restricts the subscription to events of the given types: the others are skipped
// (and acknowledged) without reaching the handler. Every type must be one of [events.Types].
func Types(types ...events.Type) SubscribeOption {
	return func(o *subscribeOptions) { o.types = append(o.types, types...) }
}

// OnError receives the errors a subscription meets without ending: a handler error (after
// which a durable subscription delivers the event again and an ordered one does not), an
// event that does not decode (skipped, and terminated on a durable consumer), a failed
// acknowledgement, and the consumer's own transient errors such as missed heartbeats. f may
// be called from several goroutines at once. Without it such errors are dropped.
func OnError(f func(error)) SubscribeOption {
	return func(o *subscribeOptions) { o.onError = f }
}

// Settings of the consumers Subscribe makes.
const (
	// ackWait is how long a durable consumer waits for the handler before delivering again.
	ackWait = 30 * time.Second
	// firstRetry and lastRetry bound the delay before a durable consumer delivers an event
	// again after a handler error.
	firstRetry = time.Second
	lastRetry  = 30 * time.Second
	// dedupWindow is how many recent event ids a subscription remembers to drop redeliveries.
	dedupWindow = 1024
)

// Subscribe calls handler with the events of entity in both directions, those where it is
// the source (entityconn.events.<entity>.>) and those where it is the target
// (entityconn.events.*.<entity>.*). By default it reads through ordered consumers from now
// on; see [FromStart], [Durable], [Types] and [OnError].
//
// Each direction has a consumer of its own, filtered to the direction's subjects: NATS
// permissions let a user create consumers on the event stream only with one filter, of an
// entity it can access (contract §5a). Events come in stream order within a direction, so
// every connection's events come in order; the two directions interleave as they arrive.
//
// handler is called from one goroutine at a time. Events of a type this package does not
// know (written by a newer service, [events.ErrUnknownType]) are skipped, and an event whose
// id was among the last 1024 handled is not handed over again (a redelivery).
//
// ctx bounds the setup and the subscription's life: the subscription stops when ctx ends or
// when [Subscription.Stop] is called. Subscribe fails with an error wrapping [ErrInvalid] for
// an entity id that does not match ^[A-Za-z0-9_-]{1,64}$, a bad durable name or an unknown
// type, [ErrMissing] for a nil handler, [ErrUnavailable] when the event stream does not
// exist (entityconn never ran on this NATS), and with the server's error when the user may
// not read the entity's events.
func (c *Client) Subscribe(ctx context.Context, entity string, handler func(events.Event) error, opts ...SubscribeOption) (Subscription, error) {
	if !events.ValidID(entity) {
		return nil, fmt.Errorf("%w: entity id %q does not match ^[A-Za-z0-9_-]{1,64}$", ErrInvalid, entity)
	}
	if handler == nil {
		return nil, fmt.Errorf("%w: Subscribe needs a handler", ErrMissing)
	}
	var so subscribeOptions
	for _, o := range opts {
		o(&so)
	}
	if so.durable != "" && !events.ValidID(so.durable) {
		return nil, fmt.Errorf("%w: durable name %q does not match ^[A-Za-z0-9_-]{1,64}$", ErrInvalid, so.durable)
	}
	if user := c.inboxUser(); so.durable != "" && user != "" && !strings.HasPrefix(so.durable, user+"-") {
		// The service deletes a user's durable consumers named otherwise (contract §5a).
		return nil, fmt.Errorf("%w: durable name %q: a durable consumer of user %s is named %s-<anything>", ErrInvalid, so.durable, user, user)
	}
	types := map[events.Type]bool{}
	for _, t := range so.types {
		if !t.Known() {
			return nil, fmt.Errorf("%w: event type %q is not one of events.Types", ErrInvalid, t)
		}
		types[t] = true
	}
	s := &subscription{
		c: c, durable: so.durable != "", handler: handler, onError: so.onError, types: types,
		seen: newWindow(dedupWindow), stopping: make(chan struct{}), stopped: make(chan struct{}),
	}
	var start uint64
	if !so.fromStart && !s.durable {
		var err error
		if start, err = c.nextSequence(ctx, directions(entity)[0].filter); err != nil {
			return nil, err
		}
	}
	for _, d := range directions(entity) {
		var cons jetstream.Consumer
		var err error
		if s.durable {
			cons, err = c.durableConsumer(ctx, entity, so, d)
		} else {
			cons, err = c.orderedConsumer(ctx, start, d.filter)
		}
		if err == nil {
			var cc jetstream.ConsumeContext
			cc, err = cons.Consume(s.handle, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				s.report(fmt.Errorf("natsclient: consumer: %w", err))
			}))
			if err != nil {
				err = fmt.Errorf("natsclient: consume %s: %w", events.Stream, err)
			}
			s.cons, s.ccs = append(s.cons, cons), append(s.ccs, cc)
		}
		if err != nil {
			s.Stop()
			return nil, err
		}
	}
	go func() {
		select {
		case <-ctx.Done():
			s.Stop()
		case <-s.stopping:
		}
	}()
	return s, nil
}

// inboxUser returns the user id of the connection's inbox prefix (_INBOX_<userId>, what
// [SignIn] sets), or "" for another prefix, such as the service's own.
func (c *Client) inboxUser() string {
	rest, ok := strings.CutPrefix(c.nc.NewInbox(), "_INBOX_")
	if user, _, _ := strings.Cut(rest, "."); ok && events.ValidID(user) {
		return user
	}
	return ""
}

// direction is one direction of an entity's events: the consumer filter, and the suffix of a
// durable subscription's consumer name.
type direction struct {
	filter, suffix string
}

// directions returns the outbound and inbound filters of entity. They never overlap: neither
// pattern contains the other.
func directions(entity string) []direction {
	p := events.SubjectPrefix + "."
	return []direction{{p + entity + ".>", "out"}, {p + "*." + entity + ".*", "in"}}
}

// nextSequence returns the stream sequence the next event will get, read off a consumer made
// for the purpose (the stream's info, which would tell, is not for users to read: it lists
// every subject). Ordered consumers start there, so that one the library recreates (after a
// reconnect) before the first event still starts where the subscription began.
func (c *Client) nextSequence(ctx context.Context, filter string) (uint64, error) {
	probe, err := c.js.CreateConsumer(ctx, events.Stream, jetstream.ConsumerConfig{
		FilterSubject: filter, DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckNonePolicy,
		InactiveThreshold: 10 * time.Second, MemoryStorage: true,
	})
	if err != nil {
		return 0, streamError(err)
	}
	info := probe.CachedInfo()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	_ = c.js.DeleteConsumer(dctx, events.Stream, info.Name)
	return info.Delivered.Stream + 1, nil
}

// orderedConsumer creates an ephemeral ordered consumer on filter, from stream sequence start
// (0: from the first event).
func (c *Client) orderedConsumer(ctx context.Context, start uint64, filter string) (jetstream.Consumer, error) {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverAllPolicy}
	if start > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	}
	cons, err := c.js.OrderedConsumer(ctx, events.Stream, cfg)
	if err != nil {
		return nil, streamError(err)
	}
	return cons, nil
}

// durableConsumer creates the durable consumer <so.durable>-<d.suffix>, or updates it. One
// unacknowledged event at a time keeps the stream order through redeliveries.
func (c *Client) durableConsumer(ctx context.Context, entity string, so subscribeOptions, d direction) (jetstream.Consumer, error) {
	name := so.durable + "-" + d.suffix
	cfg := jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "entityconn events of " + entity + " (natsclient)",
		FilterSubject: d.filter,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: 1,
		MaxDeliver:    -1,
	}
	if so.fromStart {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	existing, err := c.js.Consumer(ctx, events.Stream, name)
	switch {
	case err == nil:
		// The start position of an existing consumer cannot change: keep it.
		old := existing.CachedInfo().Config
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = old.DeliverPolicy, old.OptStartSeq, old.OptStartTime
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, streamError(err)
	}
	cons, err := c.js.CreateOrUpdateConsumer(ctx, events.Stream, cfg)
	if err != nil {
		return nil, streamError(err)
	}
	return cons, nil
}

// streamError wraps a JetStream error, as ErrUnavailable when the event stream is missing.
func streamError(err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("natsclient: %w: stream %s: %w", ErrUnavailable, events.Stream, err)
	}
	return fmt.Errorf("natsclient: stream %s: %w", events.Stream, err)
}

// subscription implements Subscription.
type subscription struct {
	c       *Client
	durable bool
	handler func(events.Event) error
	onError func(error)
	types   map[events.Type]bool // empty: every type
	cons    []jetstream.Consumer
	ccs     []jetstream.ConsumeContext

	mu   sync.Mutex // held while a message is handled: one handler call at a time
	seen *window    // guarded by mu

	halted   atomic.Bool
	stopOnce sync.Once
	stopping chan struct{} // closed when Stop begins
	stopped  chan struct{} // closed when Stop is done
}

// handle settles one message: skip (unknown type, redelivery), terminate (malformed), or hand
// over and acknowledge, or nak on a handler error.
func (s *subscription) handle(msg jetstream.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.halted.Load() {
		if s.durable {
			_ = msg.Nak() // another subscriber, or the next one, gets it without waiting
		}
		return
	}
	e, err := events.Decode(msg.Data())
	switch {
	case errors.Is(err, events.ErrUnknownType):
		s.ack(msg)
	case err != nil:
		s.report(fmt.Errorf("natsclient: event on %s: %w", msg.Subject(), err))
		if s.durable {
			_ = msg.Term()
		}
	case s.seen.has(e.EventID), len(s.types) > 0 && !s.types[e.Type]:
		s.ack(msg)
	default:
		if err := s.handler(e); err != nil {
			s.report(fmt.Errorf("natsclient: handler, event %s (%s): %w", e.EventID, e.Type, err))
			if s.durable {
				_ = msg.NakWithDelay(retryDelay(msg))
			}
			return
		}
		s.seen.add(e.EventID)
		s.ack(msg)
	}
}

// ack acknowledges msg on a durable consumer and waits for the server to confirm, so that
// a subscription stopped right after does not get the event again.
func (s *subscription) ack(msg jetstream.Msg) {
	if !s.durable {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.c.timeout)
	defer cancel()
	if err := msg.DoubleAck(ctx); err != nil {
		s.report(fmt.Errorf("natsclient: ack: %w", err))
	}
}

// retryDelay is the delay before the next delivery of msg: firstRetry, doubling with each
// delivery up to lastRetry.
func retryDelay(msg jetstream.Msg) time.Duration {
	n := uint64(1)
	if meta, err := msg.Metadata(); err == nil && meta.NumDelivered > 0 {
		n = meta.NumDelivered
	}
	d := firstRetry
	for i := uint64(1); i < n && d < lastRetry; i++ {
		d *= 2
	}
	return min(d, lastRetry)
}

func (s *subscription) report(err error) {
	if s.onError != nil {
		s.onError(err)
	}
}

// Stop implements [Subscription.Stop]. A durable subscription drains: the messages already
// received are given back (nak) at once rather than after the ack wait. An ordered one
// deletes its consumer rather than leave it to expire.
func (s *subscription) Stop() {
	s.stopOnce.Do(func() {
		s.halted.Store(true)
		close(s.stopping)
		for _, cc := range s.ccs {
			if s.durable {
				cc.Drain()
			} else {
				cc.Stop()
			}
		}
		for _, cc := range s.ccs {
			<-cc.Closed()
		}
		s.mu.Lock() // waits for the handler in progress, if any
		s.deleteOrdered()
		s.mu.Unlock()
		close(s.stopped)
	})
	<-s.stopped
}

// deleteOrdered deletes the server's consumers of an ordered subscription; they would expire
// by themselves after 5 minutes of inactivity.
func (s *subscription) deleteOrdered() {
	if s.durable {
		return
	}
	for _, cons := range s.cons {
		info := cons.CachedInfo()
		if info == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.c.timeout)
		_ = s.c.js.DeleteConsumer(ctx, events.Stream, info.Name)
		cancel()
	}
}

// window remembers the last n event ids.
type window struct {
	ids  map[string]struct{}
	ring []string
	next int
}

func newWindow(n int) *window {
	return &window{ids: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (w *window) has(id string) bool {
	_, ok := w.ids[id]
	return ok
}

func (w *window) add(id string) {
	if w.has(id) {
		return
	}
	if old := w.ring[w.next]; old != "" {
		delete(w.ids, old)
	}
	w.ring[w.next] = id
	w.ids[id] = struct{}{}
	w.next = (w.next + 1) % len(w.ring)
}
