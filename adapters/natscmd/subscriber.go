package natscmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsapi"
)

// Metadata keys the subscriber sets on every Watermill message, besides the publisher's own
// headers (other than the reserved Nats-* ones). They double as headers of poison messages.
const (
	// metaName is the key cqrs.JSONMarshaler and our marshaler name a command by.
	metaName         = "name"
	metaCommandID    = HeaderCommandID
	metaCommand      = HeaderCommand
	metaSubject      = HeaderOriginalSubject
	metaUser         = "Entityconn-User-Id"
	metaEntity       = "Entityconn-Entity-Id"
	metaConnectionID = "Entityconn-Connection-Id"
	metaDelivered    = "Entityconn-Delivered"
)

// unknownTopic is the Watermill topic of messages on subjects no command handler has. It
// contains a space so that it is never a subject.
const unknownTopic = "entityconn.commands (unknown command)"

// inbound is what the door knows of a command message before decoding its body.
type inbound struct {
	commandID     string
	user          string // the subject's user; "" when the subject is not a command's
	name          string // the subject's command name (or what followed entityconn.commands.)
	subject       string
	entity        string // the body's entityId, if the body has one
	connectionID  string // the body's connectionId, if the body has one
	correlationID string
	delivered     uint64 // 1 on the first delivery
}

func inboundOf(msg *message.Message) inbound {
	d, _ := strconv.ParseUint(msg.Metadata.Get(metaDelivered), 10, 64)
	return inbound{
		commandID:     msg.Metadata.Get(metaCommandID),
		user:          msg.Metadata.Get(metaUser),
		name:          msg.Metadata.Get(metaCommand),
		subject:       msg.Metadata.Get(metaSubject),
		entity:        msg.Metadata.Get(metaEntity),
		connectionID:  msg.Metadata.Get(metaConnectionID),
		correlationID: middleware.MessageCorrelationID(msg),
		delivered:     max(d, 1),
	}
}

// unmarshal turns a JetStream message into a Watermill message. It never fails: whatever the
// body, the message gets
//   - its UUID and command id: the body's commandId, else the Nats-Msg-Id header, else
//     "seq-<stream sequence>", all of which stay the same when the message is redelivered;
//   - the metadata "name" the command processor routes by (the subject's command token), so
//     that no message is acknowledged as "not handled", and the subject's user;
//   - a correlation id: the Entityconn-Correlation-Id, Correlation-Id or correlation_id
//     header, else the command id;
//   - the delivery count, the subject, and the body's entityId and connectionId if it has them.
func unmarshal(m jetstream.Msg) *message.Message {
	var peek struct {
		CommandID    string `json:"commandId"`
		EntityID     string `json:"entityId"`
		ConnectionID string `json:"connectionId"`
	}
	_ = json.Unmarshal(m.Data(), &peek) // best effort: the handler decodes strictly
	h := m.Headers()
	var seq, delivered uint64 = 0, 1
	if md, err := m.Metadata(); err == nil {
		seq, delivered = md.Sequence.Stream, md.NumDelivered
	}
	id := peek.CommandID
	if id == "" {
		id = h.Get(nats.MsgIdHdr)
	}
	if id == "" {
		id = "seq-" + strconv.FormatUint(seq, 10)
	}
	corr := ""
	for _, k := range []string{HeaderCorrelationID, HeaderPlainCorrelationID, HeaderWatermillCorrelationID} {
		if v := h.Get(k); v != "" && len(v) <= natsapi.MaxCommandIDLength {
			corr = v
			break
		}
	}
	if corr == "" {
		corr = id
	}
	wm := message.NewMessage(id, m.Data())
	for k, v := range h {
		if len(v) > 0 && !strings.HasPrefix(k, "Nats-") {
			wm.Metadata.Set(k, v[0])
		}
	}
	user, name := commandOf(m.Subject())
	wm.Metadata.Set(metaUser, user)
	wm.Metadata.Set(metaName, name)
	wm.Metadata.Set(metaCommand, name)
	wm.Metadata.Set(metaCommandID, id)
	wm.Metadata.Set(metaSubject, m.Subject())
	wm.Metadata.Set(metaEntity, peek.EntityID)
	wm.Metadata.Set(metaConnectionID, peek.ConnectionID)
	wm.Metadata.Set(metaDelivered, strconv.FormatUint(delivered, 10))
	wm.Metadata.Set(middleware.CorrelationIDMetadataKey, corr)
	return wm
}

// subscriber is a Watermill [message.Subscriber] over the door's one durable pull consumer.
// It pulls every subject of the command stream and hands each message to the output of its
// topic (the topic of a command is its name's, whoever sends it), or to [unknownTopic]. Outputs exist from
// construction, so no message is routed before its handler subscribed.
//
// Each message is handled in its own goroutine, at most maxInFlight at once; once the
// router acks a message it is acknowledged to JetStream (double ack, so the server confirmed
// it), once it nacks it is negatively acknowledged with a delay, and redelivered.
type subscriber struct {
	js       jetstream.JetStream
	consumer jetstream.ConsumerConfig
	log      *slog.Logger
	nakDelay func(delivered uint64) time.Duration
	// progress is how often a command being handled is reported in progress (0: never).
	progress time.Duration
	outputs  map[string]chan *message.Message // by topic; fixed at construction
	slots    chan struct{}
	batch    int

	mu       sync.Mutex
	iter     jetstream.MessagesContext
	cons     jetstream.Consumer // nil: create (or update) the consumer before pulling
	stopping bool
	stopCh   chan struct{}
	loopDone chan struct{}
	inflight sync.WaitGroup

	outMu  sync.RWMutex
	closed bool
}

func newSubscriber(js jetstream.JetStream, consumer jetstream.ConsumerConfig, log *slog.Logger, topics []string, inFlight int, nakDelay func(uint64) time.Duration) *subscriber {
	s := &subscriber{
		js: js, consumer: consumer, log: log, nakDelay: nakDelay,
		outputs: map[string]chan *message.Message{},
		slots:   make(chan struct{}, inFlight),
		batch:   inFlight,
		stopCh:  make(chan struct{}), loopDone: make(chan struct{}),
	}
	for _, t := range topics {
		s.outputs[t] = make(chan *message.Message)
	}
	return s
}

// Subscribe returns the output of topic. The router calls it once per handler; ctx is not
// used, the output closes when the subscriber does.
func (s *subscriber) Subscribe(_ context.Context, topic string) (<-chan *message.Message, error) {
	ch, ok := s.outputs[topic]
	if !ok {
		return nil, fmt.Errorf("natscmd: no output for topic %q", topic)
	}
	return ch, nil
}

// Close closes the outputs. The router calls it once per handler when it closes; the door
// closes the router only after every message pulled has been acked or nacked.
func (s *subscriber) Close() error {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for _, ch := range s.outputs {
		close(ch)
	}
	return nil
}

// run pulls until stop is called or the connection is closed for good. A consumer that
// disappears (deleted by an operator, a lost stream) is created again after a pause.
func (s *subscriber) run() {
	defer close(s.loopDone)
	pause := 100 * time.Millisecond
	missed := 0 // pulls that ended with missed heartbeats since the consumer was last created
	for {
		it, err := s.open()
		if errors.Is(err, errStopping) {
			return
		}
		if err == nil {
			var got int
			got, err = s.pull(it)
			if s.isStopping() {
				return
			}
			if got > 0 {
				pause = 100 * time.Millisecond // it worked: the next failure is a new one
			}
			it.Stop()
			// Missed heartbeats (the consumer's leader failed, or the connection moved to
			// another server) are cured by pulling again from the consumer's new leader:
			// no API request, which would wait for the cluster as much as the pulls do.
			// A consumer that is gone is created again; so is the consumer on every third
			// time pulls miss their heartbeats (it may have been deleted while nobody
			// pulled, which pulls do not report).
			if missed++; !errors.Is(err, jetstream.ErrNoHeartbeat) || missed > 2 {
				s.mu.Lock()
				s.cons = nil
				s.mu.Unlock()
				missed = 0
			}
		}
		if s.js.Conn().IsClosed() {
			s.log.Warn("natscmd: connection closed; no more commands are taken", "err", err)
			return
		}
		s.log.Warn("natscmd: pulling commands failed; trying again", "err", err, "pause", pause)
		select {
		case <-s.stopCh:
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
}

var errStopping = errors.New("natscmd: stopping")

// open creates (or updates) the durable consumer and starts pulling from it.
func (s *subscriber) open() (jetstream.MessagesContext, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return nil, errStopping
	}
	c := s.cons
	if c == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		if c, err = s.js.CreateOrUpdateConsumer(ctx, StreamCommands, s.consumer); err != nil {
			return nil, fmt.Errorf("natscmd: consumer %s: %w", s.consumer.Durable, err)
		}
		s.cons = c
	}
	// A small buffer: messages waiting in it have their acknowledgement timers running.
	// Short pulls with frequent heartbeats: a consumer that disappears is noticed within
	// seconds (Next reports the missing heartbeats) and created again.
	it, err := c.Messages(jetstream.PullMaxMessages(s.batch), jetstream.PullExpiry(10*time.Second), jetstream.PullHeartbeat(2*time.Second))
	if err != nil {
		return nil, fmt.Errorf("natscmd: pull from %s: %w", s.consumer.Durable, err)
	}
	s.iter = it
	return it, nil
}

// pull hands messages over until the iterator ends; it returns how many it handed over and
// why it ended.
func (s *subscriber) pull(it jetstream.MessagesContext) (int, error) {
	for n := 0; ; n++ {
		s.slots <- struct{}{}
		m, err := it.Next()
		if err != nil {
			<-s.slots
			return n, err
		}
		s.inflight.Add(1)
		go func() {
			defer s.inflight.Done()
			defer func() { <-s.slots }()
			s.deliver(m)
		}()
	}
}

// deliver hands m to the router and acknowledges it as the router says. It runs outside
// the router, so it recovers from a panic itself (the process must not exit for one message):
// it logs it and, if the router never got the message, terminates it so that it is not
// delivered again only to panic again. Such a command gets no outcome.
func (s *subscriber) deliver(m jetstream.Msg) {
	routed := false
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("natscmd: panic while taking a command", "routed", routed, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !routed {
				if err := m.TermWithReason("entityconn: panic while taking the command"); err != nil {
					s.log.Warn("natscmd: terminate", "err", err)
				}
			}
		}
	}()
	wm := unmarshal(m)
	// Not derived from the door's lifetime: Stop lets handlers finish. Each attempt and
	// publication bounds itself.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wm.SetContext(ctx)
	in := inboundOf(wm) // before the router owns wm
	topic := topicOf(in.name)
	if _, ok := s.outputs[topic]; !ok || in.user == "" {
		topic = unknownTopic
	}
	if !s.send(topic, wm) {
		_ = m.Nak()
		return
	}
	routed = true
	var tick <-chan time.Time
	if s.progress > 0 {
		t := time.NewTicker(s.progress)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			// Still handling it: the server must not deliver it again yet.
			if err := m.InProgress(); err != nil {
				s.log.Debug("natscmd: in progress", "commandId", in.commandID, "err", err)
			}
			continue
		case <-wm.Acked():
			actx, acancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := m.DoubleAck(actx)
			acancel()
			if err != nil {
				// The command is handled; a redelivery replays its outcome (same command id).
				s.log.Warn("natscmd: acknowledge", "commandId", in.commandID, "err", err)
			}
		case <-wm.Nacked():
			if err := m.NakWithDelay(s.nakDelay(in.delivered)); err != nil {
				s.log.Warn("natscmd: negative acknowledge", "commandId", in.commandID, "err", err)
			}
		}
		return
	}
}

func (s *subscriber) send(topic string, wm *message.Message) bool {
	s.outMu.RLock()
	defer s.outMu.RUnlock()
	if s.closed {
		return false
	}
	s.outputs[topic] <- wm
	return true
}

// stop stops pulling and waits until every message pulled has been acked or nacked.
// Messages already buffered are still handled.
func (s *subscriber) stop() {
	s.mu.Lock()
	if !s.stopping {
		s.stopping = true
		close(s.stopCh)
		if s.iter != nil {
			s.iter.Drain()
		}
	}
	s.mu.Unlock()
	<-s.loopDone
	s.inflight.Wait()
}

func (s *subscriber) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// watermillLogger adapts log for Watermill. Its routine messages (handler started, ...) are
// logged at debug level, and its errors (a handler returned an error: the message is nacked)
// as warnings: the door logs what it decides about each command itself.
func watermillLogger(log *slog.Logger) watermill.LoggerAdapter {
	return watermill.NewSlogLoggerWithLevelMapping(log, map[slog.Level]slog.Level{
		slog.LevelInfo:  slog.LevelDebug,
		slog.LevelError: slog.LevelWarn,
	})
}
