package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
	stamp    string // the event stream's identity, as Run found it
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
// read is logged and resumed after the last event applied ([followEvents]).
func (l *ListIndex) Run(ctx context.Context) error {
	began := time.Now()
	var target uint64
	var stamp string
	err := Attempts(ctx, func(ctx context.Context) error {
		info, err := l.r.Events.Info(ctx)
		if err == nil {
			target, stamp = info.State.LastSeq, streamStamp(info)
		}
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("natsjs: list index: event stream: %w", err)
	}
	l.mu.Lock()
	l.stamp = stamp
	l.mu.Unlock()
	if l.idx.Sequence() >= target {
		l.markReady(began)
	}
	n := 0
	for ev, err := range followEvents(ctx, l.r, allEvents, l.idx.Sequence(), 2*signalEvery, l.log.With("follower", "list index")) {
		if err != nil {
			l.log.Error("list index: event skipped", "sequence", ev.Sequence, "err", err)
		}
		l.idx.Apply(ev.Sequence, ev.Event) // of no known type when skipped: moves the sequence only
		n++
		if live := ev.Pending == 0; live || n%signalEvery == 0 {
			if live || ev.Sequence >= target {
				l.markReady(began)
			}
			l.signal()
		}
	}
	return ctx.Err()
}

// signalEvery is how many events the index applies, while loading, between wake-ups of its
// waiters; once live it wakes them after each event.
const signalEvery = 1024

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

// Connection returns the view of connection id of the pair (source, target), as far as the
// index has read the event stream (see [projections.Index.Connection]).
func (l *ListIndex) Connection(source, target, id string) (projections.View, bool) {
	return l.idx.Connection(source, target, id)
}

// RequestSequence returns the stream sequence of connection id's request, or 0 if the index
// has not read it (see [projections.Index.RequestSequence]).
func (l *ListIndex) RequestSequence(source, target, id string) uint64 {
	return l.idx.RequestSequence(source, target, id)
}

// Find returns the view of connection id if entity is its source or target, as far as the
// index has read the event stream (see [projections.Index.Find]).
func (l *ListIndex) Find(entity, id string) (projections.View, bool) {
	return l.idx.Find(entity, id)
}

// Span returns where connection id is in the log, as far as the index has read it (see
// [projections.Index.Span]).
func (l *ListIndex) Span(source, target, id string) (requested, last uint64, events int) {
	return l.idx.Span(source, target, id)
}

// Shares returns the objects shared over connection id of the pair, as far as the index has
// read the event stream.
func (l *ListIndex) Shares(source, target, id string) []projections.Share {
	return l.idx.Shares(source, target, id)
}

// SharedObjects returns entity's shares in direction d, as far as the index has read the
// event stream.
func (l *ListIndex) SharedObjects(entity string, d projections.Direction) []projections.Share {
	return l.idx.SharedObjects(entity, d)
}

// WaitCaughtUp returns once the index includes every event the stream held when it was
// called, or an error when ctx ends first or the stream cannot be asked.
func (l *ListIndex) WaitCaughtUp(ctx context.Context) error {
	info, err := retrying(ctx, readTimeout, func(ctx context.Context) (*jetstream.StreamInfo, error) { return l.r.Events.Info(ctx) })
	if err != nil {
		return err
	}
	return l.WaitFor(ctx, info.State.LastSeq)
}

// Pair returns the view of the pair's latest connection and the stream sequence of its last
// event, as far as the index has read; false if the pair has none there.
func (l *ListIndex) Pair(source, target string) (projections.View, bool) {
	return l.idx.Pair(source, target)
}

// streamStamp identifies an event stream: its name and when it was created. An index
// snapshot is only read back onto the stream it was taken from.
func streamStamp(info *jetstream.StreamInfo) string {
	return fmt.Sprintf("%s created %d", info.Config.Name, info.Created.UnixNano())
}

// ErrSnapshotMismatch is returned by [ListIndex.LoadSnapshot] for a snapshot of another
// event stream, or of more events than the stream holds.
var ErrSnapshotMismatch = errors.New("natsjs: the list index snapshot is not of this event stream")

// SaveSnapshot writes the index to the file path (through a temporary file and a rename),
// so that the next start of this process reads it instead of the whole event stream. It
// writes nothing and returns false while the index has not loaded. Call it after Run has
// returned, so that the snapshot ends where the index stopped.
func (l *ListIndex) SaveSnapshot(path string) (bool, error) {
	l.mu.Lock()
	ready, stamp := l.isReady, l.stamp
	l.mu.Unlock()
	if !ready {
		return false, nil
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return false, err
	}
	err = l.idx.WriteTo(f, []byte(stamp))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return false, fmt.Errorf("natsjs: save the list index: %w", err)
	}
	return true, nil
}

// LoadSnapshot reads a snapshot that [ListIndex.SaveSnapshot] wrote into the index, which then
// reads the event stream from where the snapshot ends. Call it before Run. It returns an
// error wrapping [fs.ErrNotExist] when there is no snapshot, [projections.ErrBadSnapshot] for
// a damaged one and [ErrSnapshotMismatch] for one of another stream; the index is then left
// empty and Run reads the whole stream.
func (l *ListIndex) LoadSnapshot(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	idx, stamp, err := projections.ReadIndex(f)
	if err != nil {
		return fmt.Errorf("natsjs: list index snapshot %s: %w", path, err)
	}
	info, err := l.r.Events.Info(ctx)
	if err != nil {
		return fmt.Errorf("natsjs: list index snapshot: event stream: %w", err)
	}
	if string(stamp) != streamStamp(info) || idx.Sequence() > info.State.LastSeq {
		return fmt.Errorf("%w: snapshot of %q at %d, stream %q at %d", ErrSnapshotMismatch, stamp, idx.Sequence(), streamStamp(info), info.State.LastSeq)
	}
	l.idx = idx
	return nil
}
