package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/natsbatch"
	"github.com/entityconn/entityconn/adapters/natserr"
	"github.com/entityconn/entityconn/events"
)

// ErrConcurrentChange is returned by [Store.Append] when the pair got another event since
// the caller read it. The caller reloads and decides again.
var ErrConcurrentChange = app.ErrConcurrentChange

// ErrEventIDTaken is returned by [Store.Append] when the event's id is already stored for
// an event of another pair, type or connection: event ids are derived from command ids, so
// the command id was used for another command ([app.ErrEventIDTaken]).
var ErrEventIDTaken = app.ErrEventIDTaken

// ErrCorruptEvent is returned when a stored message is not an event this version can read
// ([app.ErrCorruptEvent]).
var ErrCorruptEvent = app.ErrCorruptEvent

// WithCorrelationID returns a context whose appends carry id in the header
// Entityconn-Correlation-Id of their events ([app.WithCorrelationID]).
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return app.WithCorrelationID(ctx, id)
}

// CorrelationID returns the correlation id of ctx, or "".
func CorrelationID(ctx context.Context) string { return app.CorrelationID(ctx) }

// Stored is an event with the stream sequence it was stored at ([app.Stored]).
type Stored = app.Stored

// Store is the event store on the stream ENTITYCONN_EVENTS. Each event is stored under
// entityconn.events.<source>.<target>.<Type>; the pair wildcard
// entityconn.events.<source>.<target>.* covers all events of all connections of a pair, which
// is what appends are conditional on (rule 2 across processes and replicas). A Store is safe
// for concurrent use.
type Store struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	group  *natsbatch.Batcher // nil: each conditional append is a publish of its own
}

// NewStore returns a store on the event stream of r. The single-event appends of its
// decisions ([Store.UpdatePair]) are committed in groups ([GroupCommit]) unless an option
// says otherwise.
func NewStore(r *Resources, opts ...StoreOption) *Store {
	s := &Store{js: r.JS, stream: r.Events}
	s.group = natsbatch.NewBatcher(r.JS.Conn(), natsbatch.DefaultGroupCommit)
	for _, o := range opts {
		o(s)
	}
	return s
}

// LastOfPair returns the last event of the pair (source, target) and whether there is one.
// It reads with a direct get, which a follower may serve: the result can be stale, and an
// append conditional on it then fails with [ErrConcurrentChange].
func (s *Store) LastOfPair(ctx context.Context, source, target string) (Stored, bool, error) {
	m, err := retrying(ctx, readTimeout, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
		return s.stream.GetLastMsgForSubject(ctx, events.PairSubject(source, target))
	})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Stored{}, false, nil
	}
	if err != nil {
		return Stored{}, false, fmt.Errorf("natsjs: last event of %s→%s: %w", source, target, err)
	}
	st, err := decodeRaw(m)
	return st, err == nil, err
}

// Append stores e if the last event of its pair is still at stream sequence expect (0: the
// pair has no event yet), and returns its sequence. It returns [ErrConcurrentChange] when
// another event got there first. Appending an event that is already stored (same event id,
// pair, type and connection, e.g. a retry after a lost acknowledgement) returns the stored
// event's sequence and no error: rule 5. When the id is stored for another event, which
// JetStream's de-duplication reports as a success, it returns [ErrEventIDTaken]. Only the
// pair's last event and, within the stream's duplicate window, the de-duplicated one are
// compared: an id reused outside the window on another pair is not detected here.
func (s *Store) Append(ctx context.Context, e events.Event, expect uint64) (uint64, error) {
	msg, _, err := conditionalMsg(ctx, e, expect)
	if err != nil {
		return 0, err
	}
	// A publish that timed out may have been stored: trying it again is safe, as the same
	// event id and expectation either find it (a duplicate, or the pair's last event is
	// ours) or store it once.
	ack, err := retrying(ctx, writeTimeout, func(ctx context.Context) (*jetstream.PubAck, error) {
		ack, err := s.js.PublishMsg(ctx, msg)
		if behindExpectation(err, expect) {
			// Not the leader's answer: ask again (the fault test saw a deposed leader's
			// refusal arrive before the real leader's acknowledgement of the same append).
			return nil, fmt.Errorf("%w: %w", natserr.ErrBehind, err)
		}
		return ack, err
	})
	if err == nil && ack.Duplicate {
		// JetStream answers a message id it has seen within its duplicate window with the
		// first message's sequence, whatever that message was.
		return s.stored(ctx, e, ack.Sequence)
	}
	if err == nil {
		return ack.Sequence, nil
	}
	if !isWrongLastSequence(err) {
		return 0, fmt.Errorf("natsjs: append %s: %w", e.Type, err)
	}
	// A single server checks the expected sequence before de-duplicating, so a retry of an
	// append that did succeed lands here: look whether the pair's last event is ours. The
	// stream's leader is asked, not any replica: a follower that has not applied the first
	// attempt's append yet would hide it, and the command would be told of a conflict with
	// its own event (seen under load on a cluster of three).
	last, lerr := s.leaderGet(ctx, msgGetRequest{LastBySubject: events.PairSubject(e.SourceEntityID, e.TargetEntityID)})
	if lerr == nil && last.Event.EventID == e.EventID {
		if !sameEvent(last.Event, e) {
			return 0, fmt.Errorf("%w: %s at sequence %d", ErrEventIDTaken, last.Event.Type, last.Sequence)
		}
		return last.Sequence, nil
	}
	return 0, ErrConcurrentChange
}

// appendMsg returns the message that appends e: its body, its id for de-duplication, its
// connection, and the correlation id of ctx.
func appendMsg(ctx context.Context, e events.Event) (*nats.Msg, error) {
	data, err := events.Encode(e)
	if err != nil {
		return nil, err
	}
	msg := &nats.Msg{Subject: AppendSubject(e), Data: data, Header: nats.Header{}}
	msg.Header.Set(events.HeaderMsgID, e.EventID)
	if e.ConnectionID != "" {
		msg.Header.Set(events.HeaderConnectionID, e.ConnectionID)
	}
	if id := CorrelationID(ctx); id != "" {
		msg.Header.Set(events.HeaderCorrelationID, id)
	}
	return msg, nil
}

// conditionalMsg returns the message that appends e on the condition that the last event
// of its pair is at sequence expect (0: none), and the pair's subject filter.
func conditionalMsg(ctx context.Context, e events.Event, expect uint64) (*nats.Msg, string, error) {
	if err := e.Validate(); err != nil {
		return nil, "", err
	}
	msg, err := appendMsg(ctx, e)
	if err != nil {
		return nil, "", err
	}
	pair := events.PairSubject(e.SourceEntityID, e.TargetEntityID)
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expect, 10))
	msg.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, pair)
	return msg, pair, nil
}

// stored checks that the event at seq, which JetStream named as the one e's id was first
// stored with, is e, and returns seq if so.
func (s *Store) stored(ctx context.Context, e events.Event, seq uint64) (uint64, error) {
	m, err := s.stream.GetMsg(ctx, seq)
	if err != nil {
		return 0, fmt.Errorf("natsjs: append %s: read the duplicate at %d: %w", e.Type, seq, err)
	}
	st, err := decodeRaw(m)
	if err != nil {
		return 0, err
	}
	if !sameEvent(st.Event, e) {
		return 0, fmt.Errorf("%w: %s at sequence %d", ErrEventIDTaken, st.Event.Type, seq)
	}
	return seq, nil
}

// sameEvent reports whether stored is the event e: same id, pair, type and connection. Times
// differ between attempts of one command, so they are not compared.
func sameEvent(stored, e events.Event) bool {
	return stored.EventID == e.EventID && stored.Type == e.Type && stored.ConnectionID == e.ConnectionID &&
		stored.SourceEntityID == e.SourceEntityID && stored.TargetEntityID == e.TargetEntityID
}

// behindExpectation reports whether err is a "wrong last sequence" that names, as the pair's
// last, a sequence before expect. expect was read as the pair's last event, and events are
// never removed, so the stream's leader cannot answer that: a server that is behind did (a
// deposed leader, in the moment after a partition heals).
func behindExpectation(err error, expect uint64) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		return false
	}
	last, ok := strings.CutPrefix(apiErr.Description, "wrong last sequence: ")
	if !ok {
		return false
	}
	seq, perr := strconv.ParseUint(strings.TrimSpace(last), 10, 64)
	return perr == nil && seq < expect
}

func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// bySequence reads the events of connection id at from and, if it is another, at to: all of
// them, when the caller knows there are no others ([Bound.Events]).
func (s *Store) bySequence(ctx context.Context, id string, seqs ...uint64) ([]Stored, error) {
	var out []Stored
	for _, seq := range seqs {
		if len(out) > 0 && out[len(out)-1].Sequence == seq {
			break
		}
		st, err := s.leaderGet(ctx, msgGetRequest{Seq: seq})
		if err != nil {
			return nil, fmt.Errorf("natsjs: history of %s: event %d: %w", id, seq, err)
		}
		if st.Event.ConnectionID != id {
			return nil, fmt.Errorf("natsjs: history of %s: event %d is of connection %s", id, seq, st.Event.ConnectionID)
		}
		out = append(out, st)
	}
	return out, nil
}

// PairEvents yields the events of the pair (source, target) from stream sequence from on, in
// order, one read from the stream's leader each ([Store.leaderGet]). It stops at the first
// error, which it yields.
func (s *Store) PairEvents(ctx context.Context, source, target string, from uint64) iter.Seq2[Stored, error] {
	pair := events.PairSubject(source, target)
	return func(yield func(Stored, error) bool) {
		for seq := max(from, 1); ; {
			st, err := s.leaderGet(ctx, msgGetRequest{Seq: seq, NextBySubject: pair})
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return
			}
			if err != nil {
				yield(Stored{}, fmt.Errorf("natsjs: events of %s→%s: %w", source, target, err))
				return
			}
			if !yield(st, nil) {
				return
			}
			seq = st.Sequence + 1
		}
	}
}

// Bound narrows where [Store.Connection] looks for a connection's events ([app.Bound]): a
// connection's request is looked for among the pair's requests from a minute before
// RequestedAt, and everywhere from From if it is not there (the service's and the servers'
// clocks may differ). The zero Bound looks everywhere.
type Bound = app.Bound

// Connection returns the events of connection id on the pair (source, target), oldest first,
// or none if the pair has no such connection. A connection's events are contiguous among the
// pair's (rule 2), so the walk starts at the connection's request: the pair's latest request
// when that is the connection's, else the one b points at, else the first event from b.From.
//
// It reads from the stream's leader, not with direct gets, which any replica may answer from
// a state that lags: commands decide on this history (a command on an older connection of
// the pair, a retry looking for its earlier attempt's event), and their appends are
// conditional on the pair's last event only, which a lagging history would not contradict.
// Under faults a follower's answer had missed a deny, and an accept of the denied connection
// was stored.
func (s *Store) Connection(ctx context.Context, source, target, id string, b Bound) ([]Stored, error) {
	if b.From > 0 && (b.Events == 1 && b.To == b.From || b.Events == 2 && b.To > b.From) {
		return s.bySequence(ctx, id, b.From, b.To)
	}
	from := max(b.From, 1)
	requests := events.Subject(source, target, events.TypeConnectionRequested)
	last, err := s.leaderGet(ctx, msgGetRequest{LastBySubject: requests})
	switch {
	case err == nil && last.Event.ConnectionID == id:
		from = last.Sequence
	case err != nil && !errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, fmt.Errorf("natsjs: history of %s: %w", id, err)
	case err != nil:
		return nil, nil // the pair has no request at all
	case !b.RequestedAt.IsZero():
		since := b.RequestedAt.Add(-time.Minute)
		req := msgGetRequest{StartTime: &since, NextBySubject: requests}
		for {
			st, err := s.leaderGet(ctx, req)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("natsjs: history of %s: %w", id, err)
			}
			if st.Event.ConnectionID == id {
				from = st.Sequence
				break
			}
			req = msgGetRequest{Seq: st.Sequence + 1, NextBySubject: requests}
		}
	}
	var out []Stored
	for st, err := range s.PairEvents(ctx, source, target, from) {
		if err != nil {
			return nil, err
		}
		if st.Event.ConnectionID == id {
			out = append(out, st)
		} else if len(out) > 0 {
			break // the next connection of the pair has started
		}
	}
	return out, nil
}

// msgGetRequest is the body of a JetStream message get ($JS.API.STREAM.MSG.GET.<stream>).
type msgGetRequest struct {
	Seq           uint64     `json:"seq,omitempty"`
	StartTime     *time.Time `json:"start_time,omitempty"`
	NextBySubject string     `json:"next_by_subj,omitempty"`
	LastBySubject string     `json:"last_by_subj,omitempty"`
}

type msgGetResponse struct {
	Message *struct {
		Sequence uint64 `json:"seq"`
		Data     []byte `json:"data"`
	} `json:"message"`
	Error *jetstream.APIError `json:"error"`
}

// leaderGet reads one event with a (non-direct) message get, which only the stream's leader
// answers: it sees every event the stream has acknowledged. nats.go's Stream.GetMsg uses
// direct gets on a stream that allows them, as the event stream does.
func (s *Store) leaderGet(ctx context.Context, req msgGetRequest) (Stored, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Stored{}, err
	}
	return retrying(ctx, readTimeout, func(ctx context.Context) (Stored, error) {
		msg, err := s.js.Conn().RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+events.Stream, body)
		if err != nil {
			return Stored{}, err
		}
		var resp msgGetResponse
		if err := json.Unmarshal(msg.Data, &resp); err != nil {
			return Stored{}, fmt.Errorf("natsjs: message get: %w", err)
		}
		if resp.Error != nil {
			if resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
				return Stored{}, jetstream.ErrMsgNotFound
			}
			return Stored{}, resp.Error
		}
		if resp.Message == nil {
			return Stored{}, errors.New("natsjs: message get: empty answer")
		}
		return decodeRaw(&jetstream.RawStreamMsg{Sequence: resp.Message.Sequence, Data: resp.Message.Data})
	})
}

func decodeRaw(m *jetstream.RawStreamMsg) (Stored, error) {
	e, err := events.Decode(m.Data)
	if err != nil {
		return Stored{}, fmt.Errorf("%w: sequence %d: %w", ErrCorruptEvent, m.Sequence, err)
	}
	return Stored{Event: e, Sequence: m.Sequence}, nil
}
