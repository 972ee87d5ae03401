package natsjs

import (
	"context"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/events"
)

// Group commit (decision 32): the conditional appends of single events that wait at the
// same time are stored as one atomic batch, each message with its own pair's condition, so
// that the server writes (and syncs to disk) them together and answers them with one
// acknowledgement. Nothing waits for company: an append that finds a batch slot free is sent
// at once, alone, as a plain publish; the appends that arrive while the batches in flight
// are committing make up the next one. A batch never holds two events of one pair (the
// second one's condition would refuse the batch); it is cut at [GroupCommit.MaxBatch]
// events. When the server refuses a batch, or does not answer, each of its appends is sent
// again alone ([Store.Append]): one whose pair has changed then fails as it would have
// alone, the others are stored (or found stored: their ids are de-duplicated, and an append
// whose event is its pair's last is recognised), so no event is stored twice and none is
// acknowledged without being stored.

// GroupCommit configures group commit.
type GroupCommit struct {
	// MaxBatch bounds the events of a batch (the server takes at most 1,000).
	MaxBatch int
	// InFlight bounds the batches committing at once.
	InFlight int
}

// DefaultGroupCommit is the configuration of [NewStore].
var DefaultGroupCommit = GroupCommit{MaxBatch: 256, InFlight: 2}

// StoreOption configures a [Store].
type StoreOption func(*Store)

// WithGroupCommit sets the group commit of a store's single-event appends; a MaxBatch of 1
// or less turns it off, so that each append is a publish of its own.
func WithGroupCommit(g GroupCommit) StoreOption {
	return func(s *Store) { s.group = newGroupCommit(s, g) }
}

type groupCommit struct {
	s   *Store
	cfg GroupCommit

	mu      sync.Mutex
	queue   []*groupAppend
	running int // batches being taken or committed
	stats   GroupStats
}

// GroupStats counts what group commit did.
type GroupStats struct {
	// Appends is the number of appends committed, alone or in batches; Batches the number of
	// batches of two or more of them; Batched the appends in those batches; Refused the
	// batches the server refused or did not answer, whose appends were sent again alone.
	Appends, Batches, Batched, Refused uint64
}

// GroupStats returns what the store's group commit has done so far (zero without it).
func (s *Store) GroupStats() GroupStats {
	if s.group == nil {
		return GroupStats{}
	}
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return s.group.stats
}

// groupAppend is one append waiting in a group.
type groupAppend struct {
	ctx    context.Context
	e      events.Event
	expect uint64
	msg    *nats.Msg
	seq    uint64
	err    error
	done   chan struct{}
}

func newGroupCommit(s *Store, cfg GroupCommit) *groupCommit {
	if cfg.MaxBatch <= 1 {
		return nil
	}
	cfg.MaxBatch = min(cfg.MaxBatch, 1000)
	cfg.InFlight = max(cfg.InFlight, 1)
	return &groupCommit{s: s, cfg: cfg}
}

// append is [Store.Append] through the group.
func (g *groupCommit) append(ctx context.Context, e events.Event, expect uint64) (uint64, error) {
	if err := e.Validate(); err != nil {
		return 0, err
	}
	msg, err := appendMsg(ctx, e)
	if err != nil {
		return 0, err
	}
	a := &groupAppend{ctx: ctx, e: e, expect: expect, msg: msg, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, a)
	start := g.running < g.cfg.InFlight
	if start {
		g.running++
	}
	g.mu.Unlock()
	if start {
		go g.flush()
	}
	select {
	case <-a.done:
		return a.seq, a.err
	case <-ctx.Done():
		// It may still be stored (so may an append whose answer is lost): a retry of the
		// command finds it.
		return 0, ctx.Err()
	}
}

// flush commits batches while appends wait.
func (g *groupCommit) flush() {
	for {
		g.mu.Lock()
		batch := g.take()
		if len(batch) == 0 {
			g.running--
			g.mu.Unlock()
			return
		}
		g.stats.Appends += uint64(len(batch))
		if len(batch) > 1 {
			g.stats.Batches++
			g.stats.Batched += uint64(len(batch))
		}
		g.mu.Unlock()
		if !g.commit(batch) {
			g.mu.Lock()
			g.stats.Refused++
			g.mu.Unlock()
		}
	}
}

// take removes the next batch from the queue: the oldest appends, at most one per pair and
// MaxBatch in all. Appends whose caller has gone are answered and dropped. The caller holds
// g.mu.
func (g *groupCommit) take() []*groupAppend {
	var batch, rest []*groupAppend
	pairs := map[string]bool{}
	for _, a := range g.queue {
		if err := a.ctx.Err(); err != nil {
			a.err = err
			close(a.done)
			continue
		}
		pair := events.PairSubject(a.e.SourceEntityID, a.e.TargetEntityID)
		if len(batch) == g.cfg.MaxBatch || pairs[pair] {
			rest = append(rest, a)
			continue
		}
		pairs[pair] = true
		batch = append(batch, a)
	}
	clear(g.queue)
	g.queue = append(g.queue[:0], rest...)
	return batch
}

// commit stores batch, and answers each of its appends. It returns false when a batch of
// two or more was refused or not answered, and its appends were sent alone.
func (g *groupCommit) commit(batch []*groupAppend) bool {
	if len(batch) == 1 {
		a := batch[0]
		a.seq, a.err = g.s.Append(a.ctx, a.e, a.expect)
		close(a.done)
		return true
	}
	msgs := make([]*nats.Msg, len(batch))
	for i, a := range batch {
		a.msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(a.expect, 10))
		a.msg.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, events.PairSubject(a.e.SourceEntityID, a.e.TargetEntityID))
		msgs[i] = a.msg
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	ack, err := g.s.publishBatch(ctx, msgs)
	cancel()
	if err == nil && ack.Count == len(batch) {
		for i, a := range batch {
			a.seq = ack.Seq - uint64(len(batch)-1-i)
			close(a.done)
		}
		return true
	}
	// Refused whole (a pair changed, an id seen before, the leader changing) or unanswered:
	// each append on its own finds out which.
	var wg sync.WaitGroup
	for _, a := range batch {
		wg.Go(func() {
			a.seq, a.err = g.s.Append(a.ctx, a.e, a.expect)
			close(a.done)
		})
	}
	wg.Wait()
	return false
}
