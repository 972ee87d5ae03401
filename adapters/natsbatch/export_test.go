package natsbatch

import (
	"context"

	"github.com/nats-io/nats.go"
)

// Write is a write waiting in a group, for the package's tests.
type Write = groupWrite

// NewWrite returns a write of msg under key, sent by alone when it goes by itself.
func NewWrite(ctx context.Context, msg *nats.Msg, key string, alone func(context.Context) (uint64, error)) *Write {
	return &groupWrite{ctx: ctx, msg: msg, key: key, alone: alone, done: make(chan struct{})}
}

// Result is the write's answer; ok is false while it has none.
func (w *Write) Result() (seq uint64, err error, ok bool) {
	select {
	case <-w.done:
		return w.seq, w.err, true
	default:
		return 0, nil, false
	}
}

// Subject is the subject of the write's message.
func (w *Write) Subject() string { return w.msg.Subject }

// Commit is commit.
func (b *Batcher) Commit(batch []*Write) bool { return b.commit(batch) }

// Queue puts ws in the queue; Take is take; Queued is the queue's length.
func (b *Batcher) Queue(ws ...*Write) { b.queue = append(b.queue, ws...) }
func (b *Batcher) Take() []*Write     { return b.take() }
func (b *Batcher) Queued() int        { return len(b.queue) }
