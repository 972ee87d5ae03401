package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// ListIndex keeps every view in this process's memory ([projections.Index], about 70 bytes a
// connection), fed straight from the event stream, so that a list is answered without reading
// the views bucket: listing one entity's views from the bucket costs the server a message
// (with its headers) per view, read from its message blocks. The index reads the whole
// stream when it starts; until it has caught up with the stream as it was then, [ListIndex.Ready]
// is false and lists are read from the bucket. The views bucket stays what other services
// watch. Safe for concurrent use.
type ListIndex struct {
	r   *Resources
	log *slog.Logger
	idx *projections.Index

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced when the index moves on
	ready    chan struct{} // closed once caught up
	isReady  bool
	loadedIn time.Duration
}

// NewListIndex returns an index of the views of r's events; start [ListIndex.Run]. log may be
// nil.
func NewListIndex(r *Resources, log *slog.Logger) *ListIndex {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ListIndex{r: r, log: log, idx: projections.NewIndex(), changed: make(chan struct{}), ready: make(chan struct{})}
}

// Run reads the event stream into the index until ctx ends, and returns ctx's error. A failed
// read is logged and resumed after the last event applied.
func (l *ListIndex) Run(ctx context.Context) error {
	began := time.Now()
	var target uint64
	err := Attempts(ctx, func(ctx context.Context) error {
		info, err := l.r.Events.Info(ctx)
		if err == nil {
			target = info.State.LastSeq
		}
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("natsjs: list index: event stream: %w", err)
	}
	if target == 0 {
		l.markReady(began)
	}
	for {
		err := l.follow(ctx, target, began)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.log.Warn("list index: reading the event stream again", "after", l.idx.Sequence(), "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// signalEvery is how many events the index applies, while loading, between wake-ups of its
// waiters; once live it wakes them after each event.
const signalEvery = 1024

func (l *ListIndex) follow(ctx context.Context, target uint64, began time.Time) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.SubjectPrefix + ".>"}}
	if seq := l.idx.Sequence(); seq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq+1
	}
	cons, err := l.r.Events.OrderedConsumer(ctx, cfg)
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2 * signalEvery))
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for n := 1; ; n++ {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		md, err := msg.Metadata()
		if err != nil {
			return err
		}
		seq := md.Sequence.Stream
		e, err := events.Decode(msg.Data())
		if err != nil {
			l.log.Error("list index: event skipped", "sequence", seq, "err", err)
			e = events.Event{} // of no known type: moves the sequence only
		}
		l.idx.Apply(seq, e)
		if live := md.NumPending == 0; live || n%signalEvery == 0 {
			if live || seq >= target {
				l.markReady(began)
			}
			l.signal()
		}
	}
}

func (l *ListIndex) signal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *ListIndex) markReady(began time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.isReady {
		l.isReady, l.loadedIn = true, time.Since(began)
		close(l.ready)
		l.log.Info("list index loaded", "connections", l.idx.Len(), "in", l.loadedIn.Round(time.Millisecond))
	}
}

// Ready reports whether the index has caught up with the event stream as it was when Run
// started; from then on it answers lists.
func (l *ListIndex) Ready() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.isReady
}

// WaitReady returns once the index is ready, with the time loading took, or ctx's error.
func (l *ListIndex) WaitReady(ctx context.Context) (time.Duration, error) {
	select {
	case <-l.ready:
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.loadedIn, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Sequence returns the stream sequence of the last event in the index.
func (l *ListIndex) Sequence() uint64 { return l.idx.Sequence() }

// WaitFor returns once the index includes every event up to stream sequence seq, or
// [ErrNotProjected] when ctx ends first.
func (l *ListIndex) WaitFor(ctx context.Context, seq uint64) error {
	for {
		l.mu.Lock()
		ch := l.changed
		l.mu.Unlock()
		if l.idx.Sequence() >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for %d: %w", ErrNotProjected, seq, ctx.Err())
		case <-ch:
		}
	}
}

// List returns entity's views in the directions ds, in no particular order.
func (l *ListIndex) List(entity string, ds ...projections.Direction) []projections.View {
	return l.idx.List(entity, ds...)
}

// Pair returns the view of the pair's latest connection and the stream sequence of its last
// event, as far as the index has read; false if the pair has none there.
func (l *ListIndex) Pair(source, target string) (projections.View, bool) {
	return l.idx.Pair(source, target)
}
