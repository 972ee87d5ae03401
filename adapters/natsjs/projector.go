package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/telemetry"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

const (
	progressKey   = "progress"
	leaseKey      = "projector-lease"
	pendingPrefix = "pending."
)

// Pending is an entry of the pending-request index that expiry works from.
type Pending struct {
	ConnectionID   string    `json:"connectionId"`
	SourceEntityID string    `json:"sourceEntityId"`
	TargetEntityID string    `json:"targetEntityId"`
	RequestedAt    time.Time `json:"requestedAt"`
	Sequence       uint64    `json:"sequence"`
}

// LeaseTTL is how long a projector's lease lasts unless renewed: the longest projection
// stops when the active replica dies without a chance to hand over.
const LeaseTTL = 5 * time.Second

// Projector applies events to the views. One replica at a time projects: it holds a lease
// (key projector-lease of ENTITYCONN_INDEX, renewed every second) and reads the event stream
// with an ordered consumer from its checkpoint, the key progress, which records the last
// stream sequence whose views are written. A restart resumes after the checkpoint: it neither
// replays the log nor skips an event. Every view write is conditional on the key's revision
// and applying an event is idempotent by stream sequence ([projections.Apply]), so events
// applied again after a crash between a write and the checkpoint change nothing, and two
// projectors at once (a lease taken over from one that is still running) do no harm.
type Projector struct {
	r       *Resources
	log     *slog.Logger
	metrics *telemetry.Metrics
	holder  string
	// batch bounds how many events are applied before the checkpoint is written.
	batch int
}

// NewProjector returns a projector writing the views of r. holder names this process in
// the lease; a process restarted with the same holder (the same data directory) takes its
// old lease back at once instead of waiting for it to expire. log and metrics may be nil.
func NewProjector(r *Resources, holder string, log *slog.Logger, metrics *telemetry.Metrics) *Projector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Projector{r: r, log: log, metrics: metrics, holder: holder, batch: 256}
}

// Run projects until ctx ends and returns ctx's error. While another process holds the lease
// it waits. Failures to write a view are retried (with backoff) until they succeed: an event
// is never skipped. Events that cannot be decoded, or of unknown types, are logged and passed
// over.
func (p *Projector) Run(ctx context.Context) error {
	for {
		if err := p.acquire(ctx); err != nil {
			return err
		}
		lctx, lost := context.WithCancel(ctx)
		renewed := make(chan struct{})
		go func() {
			defer close(renewed)
			p.keepLease(lctx, lost)
		}()
		err := p.project(lctx)
		lost()
		<-renewed
		if ctx.Err() != nil {
			p.release()
			return ctx.Err()
		}
		if err != nil {
			p.log.Warn("projector: stopped; will resume from the checkpoint", "err", err)
		}
	}
}

type lease struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

// acquire waits until this process holds the lease.
func (p *Projector) acquire(ctx context.Context) error {
	for {
		ok, err := p.tryLease(ctx)
		if ok {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			p.log.Warn("projector: lease", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(LeaseTTL / 5):
		}
	}
}

// tryLease takes the lease if it is free, expired or already ours, and extends it.
func (p *Projector) tryLease(ctx context.Context) (bool, error) {
	data, _ := json.Marshal(lease{Holder: p.holder, Until: time.Now().Add(LeaseTTL)})
	e, err := p.r.Index.Get(ctx, leaseKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		_, err = p.r.Index.Create(ctx, leaseKey, data)
		return err == nil, ignoreConflict(err)
	}
	if err != nil {
		return false, err
	}
	var cur lease
	_ = json.Unmarshal(e.Value(), &cur)
	if cur.Holder != p.holder && time.Now().Before(cur.Until) {
		return false, nil
	}
	_, err = p.r.Index.Update(ctx, leaseKey, data, e.Revision())
	return err == nil, ignoreConflict(err)
}

// keepLease renews the lease until ctx ends, and calls lost when another process has it.
func (p *Projector) keepLease(ctx context.Context, lost context.CancelFunc) {
	t := time.NewTicker(LeaseTTL / 5)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := p.tryLease(ctx)
		if ctx.Err() != nil {
			return
		}
		if !ok && err == nil {
			p.log.Warn("projector: lease taken over by another process")
			lost()
			return
		}
	}
}

// release gives the lease up so that another replica takes over at once.
func (p *Projector) release() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	e, err := p.r.Index.Get(ctx, leaseKey)
	if err != nil {
		return
	}
	var cur lease
	if json.Unmarshal(e.Value(), &cur) == nil && cur.Holder == p.holder {
		_ = p.r.Index.Delete(ctx, leaseKey, jetstream.LastRevision(e.Revision()))
	}
}

func ignoreConflict(err error) error {
	if err == nil || isRevisionConflict(err) {
		return nil
	}
	return err
}

// Checkpoint returns the stream sequence up to which the views are written.
func (p *Projector) Checkpoint(ctx context.Context) (uint64, error) {
	e, err := p.r.Index.Get(ctx, progressKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(e.Value()), 10, 64)
}

// project applies events from the checkpoint on until ctx ends or reading fails.
func (p *Projector) project(ctx context.Context) error {
	from, err := p.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.SubjectPrefix + ".>"}}
	if from > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from+1
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

	unflushed := 0
	for {
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
		seq := md.Sequence.Stream
		e, derr := events.Decode(msg.Data())
		if derr != nil {
			// A newer version's event type, or a corrupt message: views cannot show it, and
			// stopping would stop every entity's views. Say so loudly and go on.
			p.log.Error("projector: event skipped", "sequence", seq, "err", derr)
		} else if err := retry(ctx, p.log, "apply", func() error { return p.apply(ctx, seq, e) }); err != nil {
			return err
		}
		unflushed++
		if md.NumPending == 0 || unflushed >= p.batch {
			if err := retry(ctx, p.log, "checkpoint", func() error { return p.writeProgress(ctx, seq) }); err != nil {
				return err
			}
			unflushed = 0
		}
		if derr == nil {
			p.metrics.Projected(seq, e.OccurredAt, md.NumPending)
		}
	}
}

func (p *Projector) writeProgress(ctx context.Context, seq uint64) error {
	for {
		e, err := p.r.Index.Get(ctx, progressKey)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = p.r.Index.Create(ctx, progressKey, []byte(strconv.FormatUint(seq, 10)))
		case err != nil:
			return err
		default:
			cur, _ := strconv.ParseUint(string(e.Value()), 10, 64)
			if cur >= seq {
				return nil
			}
			_, err = p.r.Index.Update(ctx, progressKey, []byte(strconv.FormatUint(seq, 10)), e.Revision())
		}
		if err == nil || !isRevisionConflict(err) {
			return err
		}
	}
}

// apply writes the two views of e and keeps the pending index in step with them.
func (p *Projector) apply(ctx context.Context, seq uint64, e events.Event) error {
	var latest projections.View
	for _, key := range projections.Keys(e) {
		v, err := p.applyKey(ctx, key, seq, e)
		if err != nil {
			return err
		}
		latest = v
	}
	return p.syncPending(ctx, latest, e)
}

// applyKey applies e to one view key with compare-and-set, re-reading on a conflict.
func (p *Projector) applyKey(ctx context.Context, key string, seq uint64, e events.Event) (projections.View, error) {
	for {
		var cur projections.View
		var rev uint64
		entry, err := p.r.Views.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return cur, err
		default:
			rev = entry.Revision()
			if err := json.Unmarshal(entry.Value(), &cur); err != nil {
				p.log.Error("projector: unreadable view replaced", "key", key, "err", err)
				cur = projections.View{}
			}
		}
		next, changed := projections.Apply(cur, seq, e)
		if !changed {
			return cur, nil
		}
		data, err := json.Marshal(next)
		if err != nil {
			return cur, err
		}
		if rev == 0 {
			_, err = p.r.Views.Create(ctx, key, data)
		} else {
			_, err = p.r.Views.Update(ctx, key, data, rev)
		}
		if err == nil {
			return next, nil
		}
		if !isRevisionConflict(err) {
			return cur, err
		}
	}
}

// syncPending makes the pending index agree with view v after event e: an entry while the
// connection is Pending, none after. It depends on the view's state, not only on the event,
// so that a redelivered request never re-creates the entry of an answered one.
func (p *Projector) syncPending(ctx context.Context, v projections.View, e events.Event) error {
	key := pendingPrefix + e.ConnectionID
	if v.ID == e.ConnectionID && v.Status == domain.StatusPending {
		data, err := json.Marshal(Pending{ConnectionID: v.ID, SourceEntityID: v.SourceEntityID, TargetEntityID: v.TargetEntityID, RequestedAt: v.RequestedAt, Sequence: v.Sequence})
		if err != nil {
			return err
		}
		_, err = p.r.Index.Put(ctx, key, data)
		return err
	}
	if e.Type == events.TypeConnectionRequested {
		return nil // already answered: no entry was ever needed
	}
	err := p.r.Index.Delete(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
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
