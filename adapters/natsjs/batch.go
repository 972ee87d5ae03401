package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/events"
)

// The headers of JetStream's atomic batch publish (nats-server 2.12 and later, a stream with
// AllowAtomicPublish): the messages of a batch carry its id and their place in it, and the
// last one, sent as a request, commits them all or none.
const (
	headerBatchID       = "Nats-Batch-Id"
	headerBatchSequence = "Nats-Batch-Sequence"
	headerBatchCommit   = "Nats-Batch-Commit"
)

// JetStream's error codes for an atomic batch whose message ids were stored before (the
// batch is stored already) and for one the server could not take whole (a leader change
// while it was sent, too many batches at once).
const (
	errCodeBatchDuplicate  = 10201
	errCodeBatchIncomplete = 10176
	errCodeBatchInflight   = 10210
)

// batchAck is JetStream's answer to a batch's commit: the stream sequence of its last message
// and how many it stored; or an error.
type batchAck struct {
	Error  *jetstream.APIError `json:"error,omitempty"`
	Stream string              `json:"stream"`
	Seq    uint64              `json:"seq"`
	Count  int                 `json:"count"`
}

// AppendBatch stores es, in order, as one atomic batch: all of them or none. The first event
// of each pair in expect carries the condition that the pair's last event is at the
// sequence given (0: none), so the batch is stored only if no pair has changed; it returns
// [ErrConcurrentChange] if one has, and also when the batch is stored already (its events'
// ids are within the stream's duplicate window): reading the pairs then shows it. The events
// of a batch are stored at consecutive sequences. A batch of one event is an [Store.Append].
func (s *Store) AppendBatch(ctx context.Context, es []events.Event, expect []app.Expect) ([]uint64, error) {
	if len(es) == 0 {
		return nil, nil
	}
	if len(es) == 1 && len(expect) <= 1 {
		var x uint64
		for _, e := range expect {
			if e.Source == es[0].SourceEntityID && e.Target == es[0].TargetEntityID {
				x = e.Sequence
			}
		}
		seq, err := s.Append(ctx, es[0], x)
		return []uint64{seq}, err
	}
	msgs := make([]*nats.Msg, len(es))
	for i, e := range es {
		if err := e.Validate(); err != nil {
			return nil, err
		}
		m, err := appendMsg(ctx, e)
		if err != nil {
			return nil, err
		}
		msgs[i] = m
	}
	// Each condition goes on a message of its own (a message carries one): the first of its
	// pair's, else the first message still without one.
	for _, x := range expect {
		at := slices.IndexFunc(es, func(e events.Event) bool {
			return e.SourceEntityID == x.Source && e.TargetEntityID == x.Target
		})
		if at < 0 || msgs[at].Header.Get(jetstream.ExpectedLastSubjSeqSubjHeader) != "" {
			at = slices.IndexFunc(msgs, func(m *nats.Msg) bool { return m.Header.Get(jetstream.ExpectedLastSubjSeqSubjHeader) == "" })
		}
		if at < 0 {
			return nil, fmt.Errorf("natsjs: a batch of %d events cannot carry %d conditions", len(es), len(expect))
		}
		msgs[at].Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(x.Sequence, 10))
		msgs[at].Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, events.PairSubject(x.Source, x.Target))
	}
	// A batch that timed out may have been stored: sending it again (under a new batch id)
	// is safe, as its message ids and conditions either find it or store it once.
	ack, err := retrying(ctx, writeTimeout, func(ctx context.Context) (batchAck, error) {
		return s.publishBatch(ctx, msgs)
	})
	if err != nil {
		var apiErr *jetstream.APIError
		if isWrongLastSequence(err) || errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeBatchDuplicate {
			return nil, ErrConcurrentChange
		}
		return nil, fmt.Errorf("natsjs: append a batch of %d events: %w", len(es), err)
	}
	if ack.Count != len(es) {
		return nil, fmt.Errorf("natsjs: append a batch of %d events: the server stored %d", len(es), ack.Count)
	}
	seqs := make([]uint64, len(es))
	for i := range seqs {
		seqs[i] = ack.Seq - uint64(len(es)-1-i)
	}
	return seqs, nil
}

// publishBatch sends msgs as one atomic batch under a new batch id and waits for the
// commit's answer.
func (s *Store) publishBatch(ctx context.Context, msgs []*nats.Msg) (batchAck, error) {
	return publishBatch(ctx, s.js.Conn(), msgs)
}

// publishBatch sends msgs on nc as one atomic batch under a new batch id and waits for the
// commit's answer.
func publishBatch(ctx context.Context, nc *nats.Conn, msgs []*nats.Msg) (batchAck, error) {
	id := uuid.NewString()
	for i, m := range msgs {
		m.Header.Set(headerBatchID, id)
		m.Header.Set(headerBatchSequence, strconv.Itoa(i+1))
		m.Header.Del(headerBatchCommit)
		if i < len(msgs)-1 {
			if err := nc.PublishMsg(m); err != nil {
				return batchAck{}, err
			}
		}
	}
	last := msgs[len(msgs)-1]
	last.Header.Set(headerBatchCommit, "1")
	resp, err := nc.RequestMsgWithContext(ctx, last)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return batchAck{}, jetstream.ErrNoStreamResponse
		}
		return batchAck{}, err
	}
	var ack batchAck
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return batchAck{}, fmt.Errorf("%w: %w", jetstream.ErrInvalidJSAck, err)
	}
	if ack.Error != nil {
		if ack.Error.ErrorCode == errCodeBatchIncomplete || ack.Error.ErrorCode == errCodeBatchInflight {
			// Not a refusal of the batch: send it again.
			return batchAck{}, fmt.Errorf("%w: %w", jetstream.ErrNoStreamResponse, ack.Error)
		}
		return batchAck{}, ack.Error
	}
	return ack, nil
}
