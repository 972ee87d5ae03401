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

// Names of the projector's durable consumer and its priority group.
const (
	ProjectorConsumer = "entityconn-projector"
	projectorGroup    = "projector"
	progressKey       = "progress"
	pendingPrefix     = "pending."
)

// Pending is an entry of the pending-request index that expiry works from.
type Pending struct {
	ConnectionID   string    `json:"connectionId"`
	SourceEntityID string    `json:"sourceEntityId"`
	TargetEntityID string    `json:"targetEntityId"`
	RequestedAt    time.Time `json:"requestedAt"`
	Sequence       uint64    `json:"sequence"`
}

// Projector applies events to the views. It reads the event stream through the durable
// consumer entityconn-projector, whose priority group pins one client at a time: with several
// replicas, one projects and the others wait to take over (within [ProjectorPinnedTTL] of the
// active one going away). The consumer's acknowledgement floor is the checkpoint: a restart
// resumes after the last acknowledged event. Every write is conditional on the key's revision
// and applying an event is idempotent by stream sequence ([projections.Apply]), so a
// redelivered event changes nothing and two projectors during a hand-over do no harm.
type Projector struct {
	r       *Resources
	log     *slog.Logger
	metrics *telemetry.Metrics
	// batch bounds how many events are applied before the checkpoint is written.
	batch int
}

// ProjectorPinnedTTL is how long the server keeps the projector pinned to a client that has
// stopped pulling: the longest a replica's crash stops projection.
const ProjectorPinnedTTL = 10 * time.Second

// NewProjector returns a projector writing the views of r. log and metrics may be nil.
func NewProjector(r *Resources, log *slog.Logger, metrics *telemetry.Metrics) *Projector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Projector{r: r, log: log, metrics: metrics, batch: 256}
}

// ProjectorConsumerConfig is the configuration of the projector's durable consumer.
func ProjectorConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        ProjectorConsumer,
		Description:    "entityconn projector: writes ENTITYCONN_VIEWS",
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckAllPolicy,
		AckWait:        30 * time.Second,
		MaxDeliver:     -1,
		MaxAckPending:  20000,
		FilterSubject:  events.SubjectPrefix + ".>",
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{projectorGroup},
		PinnedTTL:      ProjectorPinnedTTL,
	}
}

// Run projects until ctx ends. It returns ctx's error, or an error if the consumer cannot be
// created. Failures to write a view are retried (with backoff) until they succeed: an event is
// never skipped. Events that cannot be decoded, or of unknown types, are logged and passed over.
func (p *Projector) Run(ctx context.Context) error {
	cons, err := p.r.Events.CreateOrUpdateConsumer(ctx, ProjectorConsumerConfig())
	if err != nil {
		return fmt.Errorf("natsjs: projector consumer: %w", err)
	}
	it, err := cons.Messages(
		jetstream.PullPriorityGroup(projectorGroup),
		jetstream.PullMaxMessages(2*p.batch),
		jetstream.PullExpiry(5*time.Second),
	)
	if err != nil {
		return fmt.Errorf("natsjs: projector messages: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer func() {
		// Let another replica take over now rather than after the pinned TTL.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = p.r.Events.UnpinConsumer(uctx, ProjectorConsumer, projectorGroup)
	}()

	unflushed := 0
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			p.log.Warn("projector: pull failed; retrying", "err", err)
			continue
		}
		md, err := msg.Metadata()
		if err != nil {
			p.log.Error("projector: message without metadata", "subject", msg.Subject(), "err", err)
			continue
		}
		seq := md.Sequence.Stream
		if err := p.applyRetrying(ctx, seq, msg.Data()); err != nil {
			return err // ctx ended
		}
		unflushed++
		if md.NumPending == 0 || unflushed >= p.batch {
			if err := p.flush(ctx, msg, seq); err != nil {
				return err
			}
			unflushed = 0
		}
		if p.metrics != nil {
			if e, err := events.Decode(msg.Data()); err == nil {
				p.metrics.Projected(seq, e.OccurredAt, md.NumPending)
			}
		}
	}
}

// flush records that every event up to seq is in the views: the progress key (read by
// [Views.WaitFor]) and the consumer's acknowledgement (the checkpoint).
func (p *Projector) flush(ctx context.Context, msg jetstream.Msg, seq uint64) error {
	return retry(ctx, p.log, "checkpoint", func() error {
		if err := p.writeProgress(ctx, seq); err != nil {
			return err
		}
		return msg.Ack()
	})
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

func (p *Projector) applyRetrying(ctx context.Context, seq uint64, data []byte) error {
	e, err := events.Decode(data)
	if err != nil {
		// A newer version's event type, or a corrupt message: views cannot show it, and
		// stopping would stop every entity's views. Say so loudly and go on.
		p.log.Error("projector: event skipped", "sequence", seq, "err", err)
		return nil
	}
	return retry(ctx, p.log, "apply", func() error { return p.apply(ctx, seq, e) })
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
