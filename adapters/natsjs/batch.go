package natsjs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/natsbatch"
	"github.com/entityconn/entityconn/events"
)

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
	ack, err := retrying(ctx, writeTimeout, func(ctx context.Context) (natsbatch.Ack, error) {
		return natsbatch.Publish(ctx, s.js.Conn(), msgs)
	})
	if err != nil {
		var apiErr *jetstream.APIError
		if isWrongLastSequence(err) || errors.As(err, &apiErr) && apiErr.ErrorCode == natsbatch.ErrCodeBatchDuplicate {
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
