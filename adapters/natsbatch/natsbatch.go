// Package natsbatch stores messages in JetStream atomic batches (nats-server 2.12 and later,
// a stream with AllowAtomicPublish): [Publish] sends one batch, [Batcher] commits the writes
// that wait at the same time as one (group commit). The event store, the outcome records and
// the durable door's outcomes use it.
package natsbatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// CommitTimeout bounds the wait for a batch's commit: an append or a KV write, replicated and
// synced to disk.
const CommitTimeout = 4 * time.Second

// The headers of JetStream's atomic batch publish (nats-server 2.12 and later, a stream with
// AllowAtomicPublish): the messages of a batch carry its id and their place in it, and the
// last one, sent as a request, commits them all or none.
const (
	headerBatchID       = "Nats-Batch-Id"
	headerBatchSequence = "Nats-Batch-Sequence"
	headerBatchCommit   = "Nats-Batch-Commit"
)

// JetStream's error codes for an atomic batch whose message ids were stored before (the
// batch is stored already: ErrCodeBatchDuplicate) and for one the server could not take
// whole (a leader change while it was sent, too many batches at once).
const (
	ErrCodeBatchDuplicate  = 10201
	errCodeBatchIncomplete = 10176
	errCodeBatchInflight   = 10210
)

// Ack is JetStream's answer to a batch's commit: the stream sequence of its last message
// and how many it stored; or an error.
type Ack struct {
	Error  *jetstream.APIError `json:"error,omitempty"`
	Stream string              `json:"stream"`
	Seq    uint64              `json:"seq"`
	Count  int                 `json:"count"`
}

// Group commit (decision 32): conditional writes to one stream that wait at the same time
// are stored as one atomic batch, each message with its own condition, so that the server
// takes them with one request and answers them with one acknowledgement. It serves the
// appends of commands' single events (natsjs.Store), the writes of their outcome records
// (natsjs.Outcomes) and the durable door's outcomes. Nothing waits for company: a write that
// finds no group committing is sent at once, as it would be without group commit; the
// writes that arrive meanwhile make up the next group, sent as a batch when there are at
// least [GroupCommit.MinBatch] of them (a batch has a cost of its own) and each alone, side
// by side, when there are fewer. A batch never holds two writes of one key (an event's pair,
// a record's key: the second one's condition would refuse the batch) and is cut at
// [GroupCommit.MaxBatch] writes. When the server refuses a batch, or does not answer, each
// of its writes is sent again alone: one whose condition fails then fails as it would have
// alone, the others are stored, or found stored (an event's id is de-duplicated, and an
// append whose event is its pair's last is recognised; a record written already fails its
// condition, as a lost acknowledgement's retry does without group commit), so nothing is
// stored twice and nothing acknowledged is not stored.

// GroupCommit configures group commit.
type GroupCommit struct {
	// MaxBatch bounds the writes of a batch (the server takes at most 1,000); 1 or less
	// turns group commit off.
	MaxBatch int
	// MinBatch is the fewest writes sent as a batch (at least 2): fewer are sent alone, at
	// once, side by side. A stream of one replica on file storage stages each atomic batch in
	// a file store of its own, created, synced and removed per batch: 2.4–3.3 ms for a
	// batch of one message, 2.9–4.3 ms for 32, against about 0.2 ms for a single write synced
	// to disk (BenchmarkBatchCost, five runs). A batch pays once it holds some sixteen writes: with 8
	// or 16 clients making batches of 3 to 6, commands ran at a quarter to a third of the
	// raw rate with 2, and at 0.42–0.82 of it with 16 (docs/performance.md).
	MinBatch int
	// InFlight bounds the groups (a batch, or writes sent alone side by side) committing at
	// once.
	InFlight int
}

// DefaultGroupCommit is the configuration serve uses on the embedded server with fsync
// (decision 32).
var DefaultGroupCommit = GroupCommit{MaxBatch: 256, MinBatch: 16, InFlight: 2}

// ClusterGroupCommit is the configuration serve uses on a cluster (decision 32). A stream of
// several replicas stages an atomic batch in memory, not in a file store synced per batch, so
// the threshold that the file store's cost sets for one replica does not apply: groups of two
// or more go as batches, as the fault test and the deploy cluster's tests run them.
var ClusterGroupCommit = GroupCommit{MaxBatch: 256, MinBatch: 2, InFlight: 2}

// GroupStats counts what group commit did.
type GroupStats struct {
	// Writes is the number of writes committed, alone or in batches; Batches the number of
	// atomic batches sent (MinBatch or more writes); Batched the writes in those batches; Refused the
	// batches the server refused or did not answer, whose writes were sent again alone.
	Writes, Batches, Batched, Refused uint64
	// Committing is the time the batches took, from sending their first message to the
	// server's answer, added up.
	Committing time.Duration
}

// Batcher group-commits writes to streams that allow atomic batches: each write carries its
// own condition, if any, and a key of which a batch holds one write. The event store and
// the outcome records use one each; the durable door one for its outcomes.
type Batcher struct {
	nc  *nats.Conn
	cfg GroupCommit

	mu      sync.Mutex
	queue   []*groupWrite
	running int // goroutines taking and committing batches
	stats   GroupStats
}

// groupWrite is one write waiting in a group.
type groupWrite struct {
	ctx   context.Context
	msg   *nats.Msg // with its condition
	key   string    // a batch holds one write of a key
	alone func(context.Context) (uint64, error)
	seq   uint64
	err   error
	done  chan struct{}
}

// NewBatcher returns a batcher on nc, nil when cfg turns group commit off.
func NewBatcher(nc *nats.Conn, cfg GroupCommit) *Batcher {
	if cfg.MaxBatch <= 1 {
		return nil
	}
	cfg.MaxBatch = min(cfg.MaxBatch, 1000)
	cfg.MinBatch = min(max(cfg.MinBatch, 2), cfg.MaxBatch)
	cfg.InFlight = max(cfg.InFlight, 1)
	return &Batcher{nc: nc, cfg: cfg}
}

// Stats returns what the batcher has done so far (zero for nil).
func (b *Batcher) Stats() GroupStats {
	if b == nil {
		return GroupStats{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// Write stores msg, which carries its condition, with the next batch, and returns its stream
// sequence. alone is how it is written by itself: when it is the only write waiting, and
// when its batch is refused; it must tell a write stored already (a batch whose answer was
// lost) from a new one, as a retry of a write must. Messages of one batch go to one stream.
func (b *Batcher) Write(ctx context.Context, msg *nats.Msg, key string, alone func(context.Context) (uint64, error)) (uint64, error) {
	w := &groupWrite{ctx: ctx, msg: msg, key: key, alone: alone, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, w)
	start := b.running < b.cfg.InFlight
	if start {
		b.running++
	}
	b.mu.Unlock()
	if start {
		go b.flush()
	}
	select {
	case <-w.done:
		return w.seq, w.err
	case <-ctx.Done():
		// It may still be stored (so may a write whose answer is lost): a retry of the
		// command finds it.
		return 0, ctx.Err()
	}
}

// flush commits batches while writes wait.
func (b *Batcher) flush() {
	for {
		b.mu.Lock()
		batch := b.take()
		if len(batch) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		b.stats.Writes += uint64(len(batch))
		if len(batch) >= b.cfg.MinBatch {
			b.stats.Batches++
			b.stats.Batched += uint64(len(batch))
		}
		b.mu.Unlock()
		b.commit(batch)
	}
}

// counted adds a batch's commit to the stats.
func (b *Batcher) counted(took time.Duration, refused bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stats.Committing += took
	if refused {
		b.stats.Refused++
	}
}

// take removes the next batch from the queue: the oldest writes, at most one per key and
// MaxBatch in all. Writes whose caller has gone are answered and dropped. The caller holds
// b.mu.
func (b *Batcher) take() []*groupWrite {
	var batch, rest []*groupWrite
	keys := map[string]bool{}
	for _, w := range b.queue {
		if err := w.ctx.Err(); err != nil {
			w.err = err
			close(w.done)
			continue
		}
		if len(batch) == b.cfg.MaxBatch || keys[w.key] {
			rest = append(rest, w)
			continue
		}
		keys[w.key] = true
		batch = append(batch, w)
	}
	clear(b.queue)
	b.queue = append(b.queue[:0], rest...)
	return batch
}

// commit stores batch, and answers each of its writes. It returns false when it was sent
// as a batch that was refused or not answered, and its writes were sent alone.
func (b *Batcher) commit(batch []*groupWrite) bool {
	if len(batch) < b.cfg.MinBatch {
		b.alone(batch)
		return true
	}
	msgs := make([]*nats.Msg, len(batch))
	for i, w := range batch {
		msgs[i] = w.msg
	}
	ctx, cancel := context.WithTimeout(context.Background(), CommitTimeout)
	began := time.Now()
	ack, err := Publish(ctx, b.nc, msgs)
	cancel()
	ok := err == nil && ack.Count == len(batch)
	b.counted(time.Since(began), !ok)
	if ok {
		for i, w := range batch {
			w.seq = ack.Seq - uint64(len(batch)-1-i)
			close(w.done)
		}
		return true
	}
	// Refused whole (a condition failed, an id seen before, the leader changing) or
	// unanswered: each write on its own finds out which.
	b.alone(batch)
	return false
}

// alone sends each of ws by itself, side by side, and answers them.
func (b *Batcher) alone(ws []*groupWrite) {
	if len(ws) == 1 {
		w := ws[0]
		w.seq, w.err = w.alone(w.ctx)
		close(w.done)
		return
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			w.seq, w.err = w.alone(w.ctx)
			close(w.done)
		})
	}
	wg.Wait()
}

// Publish sends msgs on nc as one atomic batch under a new batch id and waits for the
// commit's answer. A batch the server could not take whole (it may be sent again) is reported
// as jetstream.ErrNoStreamResponse; a refusal as the server's *jetstream.APIError.
func Publish(ctx context.Context, nc *nats.Conn, msgs []*nats.Msg) (Ack, error) {
	id := uuid.NewString()
	for i, m := range msgs {
		m.Header.Set(headerBatchID, id)
		m.Header.Set(headerBatchSequence, strconv.Itoa(i+1))
		m.Header.Del(headerBatchCommit)
		if i < len(msgs)-1 {
			if err := nc.PublishMsg(m); err != nil {
				return Ack{}, err
			}
		}
	}
	last := msgs[len(msgs)-1]
	last.Header.Set(headerBatchCommit, "1")
	resp, err := nc.RequestMsgWithContext(ctx, last)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return Ack{}, jetstream.ErrNoStreamResponse
		}
		return Ack{}, err
	}
	var ack Ack
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return Ack{}, fmt.Errorf("%w: %w", jetstream.ErrInvalidJSAck, err)
	}
	if ack.Error != nil {
		if ack.Error.ErrorCode == errCodeBatchIncomplete || ack.Error.ErrorCode == errCodeBatchInflight {
			// Not a refusal of the batch: send it again.
			return Ack{}, fmt.Errorf("%w: %w", jetstream.ErrNoStreamResponse, ack.Error)
		}
		return Ack{}, ack.Error
	}
	return ack, nil
}
