package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/telemetry"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// Keys of the views bucket that are not views.
const (
	checkpointKey = "projector.checkpoint"
	leaseKey      = "projector.lease"
)

// Projector applies events to the views. One replica at a time projects: it holds a lease
// (key projector.lease, renewed every second) and reads the event stream with an ordered
// consumer from its checkpoint (key projector.checkpoint): the last stream sequence whose
// views are written. A restart resumes after the checkpoint: it neither replays the log nor
// skips an event.
//
// Events are applied in batches (what has arrived, up to 512): the views a batch changes are
// written once each, pipelined, each conditional on the revision it was read at; the
// checkpoint follows once all of them are stored. Applying an event is idempotent by stream
// sequence ([projections.Apply]), so events applied again after a crash between the writes
// and the checkpoint change nothing, and two projectors at once (a lease taken over from one
// that still runs) do no harm: the loser of a conditional write re-reads and re-applies.
type Projector struct {
	r       *Resources
	log     *slog.Logger
	metrics *telemetry.Metrics
	lease   *lease
	batch   int

	// onBatch, when set, is told the checkpoint after every batch; with stopAt > 0, project
	// returns errCaughtUp once the checkpoint reaches stopAt (Rebuild).
	onBatch func(checkpoint uint64)
	stopAt  uint64

	// cache holds views as last written by this projector, with their revisions, so that
	// most events need no read. Only the projector's goroutine uses it.
	cache map[string]cachedView
	// checkpointRev is the revision of the checkpoint key as this projector last wrote it.
	checkpointRev uint64
	checkpoint    uint64
}

type cachedView struct {
	view projections.View
	rev  uint64 // 0: the key has no value
}

// maxCachedViews bounds the projector's cache; past it the cache starts afresh.
const maxCachedViews = 200_000

// NewProjector returns a projector writing the views of r. holder names this process in
// the lease; a process restarted with the same holder (the same data directory) takes its
// old lease back at once instead of waiting for it to expire. log and metrics may be nil.
func NewProjector(r *Resources, holder string, log *slog.Logger, metrics *telemetry.Metrics) *Projector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Projector{r: r, log: log, metrics: metrics, batch: 512,
		lease: &lease{kv: r.Views, key: leaseKey, holder: holder, log: log}}
}

// Run projects until ctx ends and returns ctx's error. While another process holds the lease
// it waits. Failures to write are retried (with backoff) until they succeed: an event is
// never skipped. Events that cannot be decoded, or of unknown types, are logged and passed
// over.
func (p *Projector) Run(ctx context.Context) error {
	return p.lease.whileHeld(ctx, p.project)
}

// readCheckpoint returns the stored checkpoint and its revision.
func (p *Projector) readCheckpoint(ctx context.Context) (seq, rev uint64, err error) {
	e, err := p.r.Views.Get(ctx, checkpointKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	seq, err = strconv.ParseUint(string(e.Value()), 10, 64)
	return seq, e.Revision(), err
}

// project applies events from the checkpoint on until ctx ends or reading fails.
func (p *Projector) project(ctx context.Context) error {
	var err error
	if p.checkpoint, p.checkpointRev, err = p.readCheckpoint(ctx); err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	p.cache = make(map[string]cachedView) // another projector may have written meanwhile
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.SubjectPrefix + ".>"}}
	if p.checkpoint > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, p.checkpoint+1
	}
	cons, err := p.r.Events.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("ordered consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2 * p.batch))
	if err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()

	batch := make([]stored, 0, p.batch)
	for {
		batch = batch[:0]
		var pending uint64
		for len(batch) < p.batch {
			msg, err := it.Next()
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return ctx.Err()
				}
				return err
			}
			md, err := msg.Metadata()
			if err != nil {
				return err
			}
			e, derr := events.Decode(msg.Data())
			if derr != nil {
				// A newer version's event type, or a corrupt message: views cannot show it,
				// and stopping would stop every entity's views. Say so loudly and go on.
				p.log.Error("projector: event skipped", "sequence", md.Sequence.Stream, "err", derr)
			}
			batch = append(batch, stored{seq: md.Sequence.Stream, e: e, ok: derr == nil})
			if pending = md.NumPending; pending == 0 {
				break // nothing more has arrived: apply what we have
			}
		}
		if err := retry(ctx, p.log, "apply", func() error { return p.applyBatch(ctx, batch) }); err != nil {
			return err
		}
		last := batch[len(batch)-1].seq
		if err := retry(ctx, p.log, "checkpoint", func() error { return p.writeCheckpoint(ctx, last) }); err != nil {
			return err
		}
		for _, s := range batch {
			if s.ok {
				p.metrics.Projected(s.seq, s.e.OccurredAt, pending)
			}
		}
		if p.onBatch != nil {
			p.onBatch(last)
		}
		if p.stopAt > 0 && last >= p.stopAt {
			return errCaughtUp
		}
	}
}

type stored struct {
	seq uint64
	e   events.Event
	ok  bool
}

// write is a change of one view that a batch makes.
type write struct {
	view    projections.View
	baseRev uint64 // the revision the change is conditional on; 0: the key must not exist
}

// applyBatch applies a batch of events and stores the result: every changed key written
// once, pipelined. On a conditional write that fails (another projector wrote the key), the
// cache is dropped and the error returned: the retry reads afresh and applies again, which
// is idempotent.
func (p *Projector) applyBatch(ctx context.Context, batch []stored) error {
	if err := p.load(ctx, batch); err != nil {
		return err
	}
	writes := map[string]*write{}
	var order []string
	touch := func(key string) *write {
		if w, ok := writes[key]; ok {
			return w
		}
		c := p.cache[key]
		w := &write{view: c.view, baseRev: c.rev}
		writes[key] = w
		order = append(order, key)
		return w
	}
	for _, s := range batch {
		if !s.ok {
			continue
		}
		for _, key := range projections.Keys(s.e) {
			w := touch(key)
			if next, changed := projections.Apply(w.view, s.seq, s.e); changed {
				w.view = next
			}
		}
	}

	type sent struct {
		key string
		fut jetstream.PubAckFuture
	}
	var futures []sent
	for _, key := range order {
		w := writes[key]
		if c, ok := p.cache[key]; ok && c.rev != 0 && c.view == w.view {
			continue // nothing changed (all events already applied)
		}
		data, err := json.Marshal(w.view)
		if err != nil {
			return err
		}
		msg := &nats.Msg{Subject: "$KV." + BucketViews + "." + key, Data: data}
		fut, err := p.r.JS.PublishMsgAsync(msg, jetstream.WithExpectLastSequencePerSubject(w.baseRev))
		if err != nil {
			return err
		}
		futures = append(futures, sent{key, fut})
	}
	var failed error
	for _, f := range futures {
		select {
		case ack := <-f.fut.Ok():
			p.remember(f.key, cachedView{view: writes[f.key].view, rev: ack.Sequence})
		case err := <-f.fut.Err():
			if isRevisionConflict(err) {
				err = fmt.Errorf("view %s changed under the projector: %w", f.key, err)
			}
			failed = errors.Join(failed, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if failed != nil {
		p.cache = make(map[string]cachedView)
		return failed
	}
	return nil
}

// load reads into the cache the views of batch's events that are not there, concurrently.
func (p *Projector) load(ctx context.Context, batch []stored) error {
	var missing []string
	seen := map[string]bool{}
	for _, s := range batch {
		if !s.ok || s.e.Type == events.TypeConnectionRequested && s.seq > p.checkpoint {
			// A request past the checkpoint starts a new view: nothing to read (if it exists
			// after all, the conditional write says so and the retry reads it).
			continue
		}
		for _, key := range projections.Keys(s.e) {
			if _, ok := p.cache[key]; !ok && !seen[key] {
				seen[key] = true
				missing = append(missing, key)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	got := make([]cachedView, len(missing))
	errs := make([]error, len(missing))
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i, key := range missing {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			e, err := p.r.Views.Get(ctx, key)
			switch {
			case errors.Is(err, jetstream.ErrKeyNotFound):
			case err != nil:
				errs[i] = err
			default:
				got[i].rev = e.Revision()
				if err := json.Unmarshal(e.Value(), &got[i].view); err != nil {
					p.log.Error("projector: unreadable view replaced", "key", key, "err", err)
					got[i].view = projections.View{}
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, key := range missing {
		p.remember(key, got[i])
	}
	return nil
}

func (p *Projector) remember(key string, c cachedView) {
	if len(p.cache) >= maxCachedViews {
		p.cache = make(map[string]cachedView)
	}
	p.cache[key] = c
}

// writeCheckpoint records that the views include every event up to seq. It never moves the
// checkpoint back.
func (p *Projector) writeCheckpoint(ctx context.Context, seq uint64) error {
	for {
		if seq <= p.checkpoint {
			return nil
		}
		value := []byte(strconv.FormatUint(seq, 10))
		var rev uint64
		var err error
		if p.checkpointRev == 0 {
			rev, err = p.r.Views.Create(ctx, checkpointKey, value)
		} else {
			rev, err = p.r.Views.Update(ctx, checkpointKey, value, p.checkpointRev)
		}
		if err == nil {
			p.checkpoint, p.checkpointRev = seq, rev
			return nil
		}
		if !isRevisionConflict(err) {
			return err
		}
		// Another projector moved it: take its value and revision, and go again.
		if p.checkpoint, p.checkpointRev, err = p.readCheckpoint(ctx); err != nil {
			return err
		}
	}
}

func isRevisionConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) || isWrongLastSequence(err)
}

// retry runs f until it succeeds or ctx ends, backing off from 10 ms to 2 s.
func retry(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	wait := 10 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn("projector: retrying", "step", what, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
