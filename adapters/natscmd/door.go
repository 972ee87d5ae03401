package natscmd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/natsbatch"
	"github.com/entityconn/entityconn/adapters/zuora"
	"github.com/entityconn/entityconn/domain"
)

// Defaults of [Config].
const (
	DefaultAckWait    = 3 * time.Second
	DefaultBudget     = 30 * time.Second
	DefaultMaxDeliver = 5
)

// maxInFlight bounds the commands one door handles at once, and the messages it buffers.
const maxInFlight = 512

// maxAckPending bounds the commands delivered and not yet acknowledged, over all replicas.
const maxAckPending = 1024

// Config configures a [Door]. The zero value is usable.
type Config struct {
	// Replicas of the streams Start creates or updates (see [Setup]); 0 means 1.
	Replicas int
	// Log receives warnings (commands not handled now, poisoned commands, failed
	// acknowledgements); nil discards them.
	Log *slog.Logger
	// AckWait is how long the server waits without news of a delivered command (an
	// acknowledgement, or word that it is in progress) before it delivers it again, to any
	// replica; 0 means [DefaultAckWait]. A door says a command is in progress every third of
	// AckWait while it handles it, so AckWait is how soon a command whose door died, or whose
	// delivery was lost on the way (a consumer leader changing), is delivered again.
	AckWait time.Duration
	// Budget bounds the handling of one delivery, retries and publications included, to
	// about three quarters of it: an attempt to a quarter, retries to start within a quarter;
	// 0 means [DefaultBudget]. It also caps the delay before a nacked command comes back.
	Budget time.Duration
	// MaxDeliver is how many times a command is delivered at most; 0 means
	// [DefaultMaxDeliver]. A command that still fails for a transient reason on its last
	// delivery gets an error outcome and goes to the poison stream.
	MaxDeliver int
	// GroupCommit is how outcomes published at the same time are stored together
	// ([natsbatch.GroupCommit]); the zero value means [natsbatch.DefaultGroupCommit], a MaxBatch
	// of 1 publishes each on its own.
	GroupCommit natsbatch.GroupCommit

	// hook, for tests, is called at the stages of handling named by the stage constants.
	hook func(stage string)
}

// Stages at which Config.hook is called.
const (
	stageExecuted  = "executed"  // the executor returned an outcome; nothing published yet
	stagePublished = "published" // the outcome is published; the message is not acked yet
)

func (c Config) withDefaults() Config {
	if c.Replicas < 1 {
		c.Replicas = 1
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.Budget <= 0 {
		c.Budget = DefaultBudget
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	return c
}

// consumerConfig is the durable consumer every replica shares.
func consumerConfig(c Config) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "entityconn durable command door (all replicas)",
		FilterSubject: CommandPrefix + ".>",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    c.MaxDeliver,
		MaxAckPending: maxAckPending,
	}
}

// Door is the durable asynchronous command door: it handles the commands on the stream
// ENTITYCONN_COMMANDS through a Watermill router and CQRS command processor, and publishes
// one outcome per command on ENTITYCONN_OUTCOMES. Stop it with Stop.
type Door struct {
	cfg    Config
	x      *natsapi.Executor
	js     jetstream.JetStream
	log    *slog.Logger
	router *message.Router
	sub    *subscriber
	group  *natsbatch.Batcher // of the outcomes' publications; nil: none

	attempt    time.Duration // bound of one execution of a command
	pubTimeout time.Duration // bound of one publication (outcome, poison)

	runDone  chan struct{}
	stopOnce sync.Once
}

// Start creates or updates the streams ([Setup] with cfg.Replicas) and the durable consumer
// entityconn-commands, and handles commands with x until Stop. ctx bounds the start-up calls
// only. Several doors, in one process or many, share the work: each command is delivered to
// one of them at a time. Start fails when the streams or the consumer cannot be created
// (e.g. JetStream unavailable, or streams that exist with another retention).
//
// x must not be nil. The door never closes nc. Commands are handled concurrently (up to 512
// per door) and in no guaranteed order: a command that depends on another (accept after
// request) should be published once the other's outcome is known.
func Start(ctx context.Context, nc *nats.Conn, x *natsapi.Executor, cfg Config) (*Door, error) {
	cfg = cfg.withDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natscmd: %w", err)
	}
	if err := Setup(ctx, js, cfg.Replicas); err != nil {
		return nil, err
	}
	consumer := consumerConfig(cfg)
	if _, err := js.CreateOrUpdateConsumer(ctx, StreamCommands, consumer); err != nil {
		return nil, fmt.Errorf("natscmd: consumer %s: %w", ConsumerName, err)
	}
	d := &Door{
		cfg: cfg, x: x, js: js, log: cfg.Log,
		attempt:    cfg.Budget / 4,
		pubTimeout: max(cfg.Budget/8, 100*time.Millisecond),
		runDone:    make(chan struct{}),
	}
	group := cfg.GroupCommit
	if group == (natsbatch.GroupCommit{}) {
		group = natsbatch.DefaultGroupCommit
	}
	d.group = natsbatch.NewBatcher(nc, group)
	topics := []string{unknownTopic}
	for _, name := range natsapi.Commands {
		topics = append(topics, topicOf(name))
	}
	d.sub = newSubscriber(js, consumer, cfg.Log, topics, maxInFlight, d.nakDelay)
	d.sub.progress = cfg.AckWait / 3

	wlog := watermillLogger(cfg.Log)
	d.router, err = message.NewRouter(message.RouterConfig{CloseTimeout: cfg.Budget}, wlog)
	if err != nil {
		return nil, fmt.Errorf("natscmd: router: %w", err)
	}
	poison, err := middleware.PoisonQueueWithFilter(poisonPublisher{js: js, timeout: d.pubTimeout}, PoisonPrefix, isPoison)
	if err != nil {
		return nil, fmt.Errorf("natscmd: poison queue: %w", err)
	}
	// Outermost first. Retry gives a transient failure a few quick attempts within one
	// delivery; lastDelivery turns a failure on the last delivery, or a panic on any, into an
	// error outcome and poison; the poison queue moves poisoned commands away and lets them
	// be acked. Recoverer turns a panic while handling into an error; the router recovers
	// from a panic in the middleware outside it (and nacks the message).
	d.router.AddMiddleware(
		middleware.CorrelationID,
		poison,
		d.lastDelivery,
		middleware.Retry{
			MaxRetries:          3,
			InitialInterval:     min(100*time.Millisecond, cfg.Budget/40),
			MaxInterval:         cfg.Budget / 8,
			Multiplier:          2,
			MaxElapsedTime:      cfg.Budget / 4,
			RandomizationFactor: 0.25,
			ShouldRetry:         func(p middleware.RetryParams) bool { return !isPoison(p.Err) && !isPanic(p.Err) },
		}.Middleware,
		middleware.Recoverer,
	)
	proc, err := cqrs.NewCommandProcessorWithConfig(d.router, cqrs.CommandProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.CommandProcessorGenerateSubscribeTopicParams) (string, error) {
			return topicOf(p.CommandName), nil
		},
		SubscriberConstructor: func(cqrs.CommandProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return d.sub, nil
		},
		Marshaler: commandMarshaler{},
		Logger:    wlog,
	})
	if err != nil {
		return nil, fmt.Errorf("natscmd: command processor: %w", err)
	}
	if err := proc.AddHandlers(handlers(d)...); err != nil {
		return nil, fmt.Errorf("natscmd: command handlers: %w", err)
	}
	d.router.AddConsumerHandler("entityconn.commands.unknown", unknownTopic, d.sub, d.unknown)

	runErr := make(chan error, 1)
	go func() {
		defer close(d.runDone)
		runErr <- d.router.Run(context.Background())
	}()
	select {
	case <-d.router.Running():
	case <-d.runDone:
		return nil, fmt.Errorf("natscmd: router: %w", <-runErr)
	}
	go d.sub.run()
	return d, nil
}

// handlers returns the CQRS handlers of d, one per command of natsapi.Commands: the
// subscriber makes a topic of each of those, and a topic without a handler would hold its
// messages unacknowledged (TestEveryCommandHasAHandler).
func handlers(d *Door) []cqrs.CommandHandler {
	return []cqrs.CommandHandler{
		commandHandler[requestConnection](d),
		commandHandler[acceptConnection](d),
		commandHandler[denyConnection](d),
		commandHandler[cancelConnection](d),
		commandHandler[disconnectConnection](d),
		commandHandler[shareObject](d),
		commandHandler[unshareObject](d),
	}
}

// Stop stops taking commands, lets the ones already received be handled and acknowledged
// (each within about three quarters of AckWait: attempts and retries are bounded), then
// stops the router. Commands not yet received stay on the stream for the other doors or the
// next start. Stop does not close nc. Calling Stop again does nothing. Safe for concurrent
// use.
//
// Stop it before the views and the projector stop: a command in flight may wait for the
// views to catch up.
func (d *Door) Stop() {
	d.stopOnce.Do(func() {
		d.sub.stop()
		if err := d.router.Close(); err != nil {
			d.log.Warn("natscmd: close router", "err", err)
		}
		<-d.runDone
	})
}

// handle runs one command whose body has been decoded (or not: env.err).
func (d *Door) handle(ctx context.Context, name string, env *envelope) error {
	in := inboundOf(cqrs.OriginalMessageFromCtx(ctx))
	pid := processID()
	var o natsapi.Outcome
	if env.err != nil {
		o = natsapi.Failure(pid, env.err)
	} else {
		req := env.req
		req.CommandID = in.commandID // the same on every delivery: replayed, not applied twice
		actx, cancel := context.WithTimeout(app.WithCorrelationID(ctx, in.correlationID), d.attempt)
		o = d.x.Execute(actx, name, in.user, req, pid)
		cancel()
	}
	d.stage(stageExecuted)
	return d.settle(ctx, in, o, pid)
}

// unknown handles a message on a subject that names no command.
func (d *Door) unknown(msg *message.Message) error {
	in := inboundOf(msg)
	pid := processID()
	o := natsapi.Failure(pid, fmt.Errorf("%w: unknown command %q (subject %s): the subjects are %s.<userId>.<command>, the commands %s",
		domain.ErrInvalidValue, in.name, in.subject, CommandPrefix, strings.Join(commandNames(), ", ")))
	return d.settle(msg.Context(), in, o, pid)
}

// settle publishes the outcome of a command, unless it failed for a transient reason, in
// which case it returns an error that gets it retried. Malformed commands are published and
// then poisoned.
func (d *Door) settle(ctx context.Context, in inbound, o natsapi.Outcome, pid string) error {
	kind := classify(o)
	if kind == transient {
		return &retryError{o: o, pid: pid}
	}
	if err := d.publishOutcome(ctx, in, o); err != nil {
		return err
	}
	d.stage(stagePublished)
	if kind == malformed {
		d.log.Warn("natscmd: malformed command moved to the poison stream",
			"command", in.name, "commandId", in.commandID, "status", o.Status, "message", o.Message)
		return &poisonError{reason: o.Message}
	}
	return nil
}

// lastDelivery is a middleware: when handling fails (other than poison) on the last
// delivery the server will make, it publishes the error outcome and poisons the command, so
// that every command gets its outcome. Earlier failures are returned: the message is nacked
// and delivered again later. A panic is not a failure that another delivery can cure: on
// any delivery it gets an internal error outcome (500) and the command is poisoned.
func (d *Door) lastDelivery(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err == nil || isPoison(err) {
			return out, err
		}
		in := inboundOf(msg)
		if p, ok := panicOf(err); ok {
			return out, d.panicked(msg, in, p)
		}
		var re *retryError
		var o natsapi.Outcome
		if errors.As(err, &re) {
			o = re.o
		} else {
			pid := processID()
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				err = fmt.Errorf("%w: %w", app.ErrUnavailable, err)
			}
			o = natsapi.Failure(pid, err)
			if o.Status == http.StatusInternalServerError {
				d.log.Error("natscmd: command failed", "processId", pid, "commandId", in.commandID, "err", err)
			}
		}
		if in.delivered < uint64(d.cfg.MaxDeliver) {
			d.log.Warn("natscmd: command not handled now; it will be delivered again",
				"command", in.name, "commandId", in.commandID, "delivery", in.delivered, "status", o.Status, "message", o.Message)
			return out, err
		}
		if perr := d.publishOutcome(msg.Context(), in, o); perr != nil {
			return out, errors.Join(err, perr)
		}
		reason := fmt.Sprintf("gave up after %d deliveries: %s", in.delivered, o.Message)
		d.log.Warn("natscmd: command moved to the poison stream", "command", in.name, "commandId", in.commandID, "reason", reason)
		return nil, &poisonError{reason: reason}
	}
}

// errPanicked is the error of a command whose handling panicked: it belongs to no family,
// so its outcome is an internal error (500) whose message names only the process id.
var errPanicked = errors.New("natscmd: panic while handling the command")

// panicked logs a panic that handling the command in msg raised (with its stack), publishes
// the command's internal error outcome and returns the poison error that moves the command
// to the poison stream and lets it be acknowledged. If the outcome cannot be published, it
// returns that failure: the command is delivered again.
func (d *Door) panicked(msg *message.Message, in inbound, p middleware.RecoveredPanicError) error {
	pid := processID()
	value := headerValue(fmt.Sprint(p.V))
	if len(value) > 200 {
		value = value[:200] + "…"
	}
	d.log.Error("natscmd: panic while handling a command; it gets an internal error outcome and goes to the poison stream",
		"processId", pid, "command", in.name, "commandId", in.commandID, "delivery", in.delivered, "panic", value, "stack", p.Stacktrace)
	if err := d.publishOutcome(msg.Context(), in, natsapi.Failure(pid, errPanicked)); err != nil {
		return err
	}
	return &poisonError{reason: fmt.Sprintf("panic while handling the command (processId %s): %s", pid, value)}
}

// publishOutcome publishes the one outcome of a command, de-duplicated by its command id:
// publishing it again after a crash (before the ack) within DuplicateWindow stores it once.
func (d *Door) publishOutcome(ctx context.Context, in inbound, o natsapi.Outcome) error {
	body := Outcome{CommandID: in.commandID, OK: o.OK(), ConnectionID: o.ConnectionID, Sequence: o.Sequence}
	if !body.OK {
		body.ConnectionID = in.connectionID
		body.Error = &OutcomeError{Code: o.Code, Message: o.Message}
	}
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("natscmd: encode outcome: %w", err)
	}
	id := "outcome-" + in.commandID
	newMsg := func() *nats.Msg {
		msg := &nats.Msg{Subject: OutcomeAppendPrefix + strings.TrimPrefix(OutcomeSubject(in.entity), OutcomePrefix), Data: data, Header: nats.Header{}}
		msg.Header.Set(nats.MsgIdHdr, id)
		msg.Header.Set(HeaderCommandID, in.commandID)
		msg.Header.Set(HeaderCommand, headerValue(in.name))
		msg.Header.Set(HeaderCorrelationID, in.correlationID)
		msg.Header.Set(HeaderWatermillCorrelationID, in.correlationID)
		return msg
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.pubTimeout)
	defer cancel()
	// Alone, or again after its batch was refused or unanswered: the message id stores it
	// once.
	alone := func(ctx context.Context) (uint64, error) {
		ack, err := d.js.PublishMsg(ctx, newMsg())
		if err != nil {
			return 0, err
		}
		return ack.Sequence, nil
	}
	if d.group != nil {
		_, err = d.group.Write(pctx, newMsg(), id, alone)
	} else {
		_, err = alone(pctx)
	}
	if err != nil {
		return fmt.Errorf("%w: natscmd: publish outcome of %s: %w", app.ErrUnavailable, in.commandID, err)
	}
	return nil
}

// nakDelay is how long a nacked command waits before it is delivered again: 1 s, 2 s, 4 s,
// then a sixth of the budget (5 s by default) each time. Longer delays made a command nacked
// through a long fault come back only after its caller had given up (the fault test saw 30 s
// without a durable answer while the other doors answered).
func (d *Door) nakDelay(delivered uint64) time.Duration {
	delay := time.Second << min(max(delivered, 1)-1, 10)
	return min(delay, max(d.cfg.Budget/6, time.Second))
}

func (d *Door) stage(s string) {
	if d.cfg.hook != nil {
		d.cfg.hook(s)
	}
}

// Kinds of outcome.
const (
	settled   = iota // accepted or refused for a business reason (401, 403, 404, 409 rule): ack
	transient        // not now (5xx, 409 conflict/lock): retry, then deliver again
	malformed        // the command itself is wrong (400, 413, 422): publish, poison, ack
)

// classify returns the kind of o: by its error's family in the one error table
// ([zuora.KindOf]), or, for an outcome without its error, by the family of its status and
// code ([zuora.ErrorOf]).
func classify(o natsapi.Outcome) int {
	if o.OK() {
		return settled
	}
	err := o.Err
	if err == nil {
		err = zuora.ErrorOf(o.Status, o.Code)
	}
	switch zuora.KindOf(err) {
	case zuora.Retry:
		return transient
	case zuora.Malformed:
		return malformed
	}
	return settled
}

// retryError is a transient failure, with the outcome to publish if it is the last try.
type retryError struct {
	o   natsapi.Outcome
	pid string
}

func (e *retryError) Error() string {
	return fmt.Sprintf("natscmd: not handled now (status %d, processId %s): %s", e.o.Status, e.pid, e.o.Message)
}

// poisonError marks a command that can never succeed; its outcome is published already.
type poisonError struct{ reason string }

func (e *poisonError) Error() string { return e.reason }

func isPoison(err error) bool {
	var pe *poisonError
	return errors.As(err, &pe)
}

// panicOf returns the panic that middleware.Recoverer turned into err, if it did.
func panicOf(err error) (middleware.RecoveredPanicError, bool) {
	var p middleware.RecoveredPanicError
	ok := errors.As(err, &p)
	return p, ok
}

func isPanic(err error) bool {
	_, ok := panicOf(err)
	return ok
}

// poisonPublisher is the Watermill publisher of the poison queue: it publishes a poisoned
// command to entityconn.poison.commands.<name> with its body, its metadata as headers, the
// reason in Entityconn-Poison-Reason, and Nats-Msg-Id poison-<commandId>.
type poisonPublisher struct {
	js      jetstream.JetStream
	timeout time.Duration
}

func (p poisonPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		in := inboundOf(m)
		rest, _ := strings.CutPrefix(in.subject, CommandPrefix+".")
		nm := &nats.Msg{Subject: topic + "." + poisonToken(rest), Data: m.Payload, Header: nats.Header{}}
		for k, v := range m.Metadata {
			if !strings.HasPrefix(k, "Nats-") {
				nm.Header.Set(k, headerValue(v))
			}
		}
		nm.Header.Set(HeaderPoisonReason, headerValue(m.Metadata.Get(middleware.ReasonForPoisonedKey)))
		nm.Header.Set(nats.MsgIdHdr, "poison-"+in.commandID)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(m.Context()), p.timeout)
		_, err := p.js.PublishMsg(ctx, nm)
		cancel()
		if err != nil {
			return fmt.Errorf("natscmd: publish poison %s: %w", in.commandID, err)
		}
	}
	return nil
}

func (poisonPublisher) Close() error { return nil }

// poisonToken keeps the poison subject valid whatever followed entityconn.commands.
func poisonToken(rest string) string {
	if rest == "" || strings.HasPrefix(rest, ".") || strings.HasSuffix(rest, ".") || strings.Contains(rest, "..") || strings.ContainsAny(rest, "*> \t") {
		return "_"
	}
	return rest
}

// headerValue keeps a header value on one line.
func headerValue(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

func commandNames() []string {
	var names []string
	for _, n := range natsapi.Commands {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func processID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
