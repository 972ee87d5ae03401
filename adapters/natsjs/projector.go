package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/telemetry"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// leaseKey is the key of the views bucket that the projecting process holds ([lease]).
const leaseKey = "projector.lease"

// Projector applies events to the views. One replica at a time projects: it holds a lease
// (key projector.lease, renewed every second) and reads the event stream with an ordered
// consumer ([followEvents]) from its checkpoint (key projector.checkpoint, [checkpoint]): the
// last stream sequence whose views are written. A restart resumes after the checkpoint: it neither replays the log nor
// skips an event.
//
// Events are applied in batches (what has arrived, up to 512): the views a batch changes are
// written once each, pipelined ([viewWriter]), each conditional on the revision it was read at. While it
// catches up, the projector reads, applies and writes the next batches while the
// acknowledgements of earlier ones arrive (up to [Projector.window] writes awaiting theirs);
// once it has caught up it waits for them. The checkpoint follows, in order: it claims a batch's
// last sequence only once every write of that batch and of all before it is acknowledged.
// Applying an event is idempotent by stream sequence ([projections.Apply]), so events applied
// again after a crash between the writes and the checkpoint change nothing, and two projectors
// at once (a lease taken over from one that still runs) do no harm: when a conditional write
// fails, the projector drops its cache and applies every batch past the checkpoint again,
// reading each view first.
type Projector struct {
	r       *Resources
	log     *slog.Logger
	metrics *telemetry.Metrics
	lease   *lease
	batch   int
	// window bounds the writes awaiting their acknowledgement while catching up.
	window int
	// maxCache bounds the cache; past it the cache starts afresh.
	maxCache int

	// onBatch, when set, is told the checkpoint each time it is written; with stopAt > 0,
	// project returns errCaughtUp once the checkpoint reaches stopAt (Rebuild).
	onBatch func(checkpoint uint64)
	stopAt  uint64

	// cache holds views as last written by this projector, with their revisions, so that
	// most events need no read. Only the projector's goroutine uses it (as everything below).
	cache map[string]cachedView
	ck    checkpoint

	w       *viewWriter
	flights []*flight // batches past the checkpoint, oldest first
	// acked is the last sequence of the newest batch whose writes, and all earlier ones',
	// are acknowledged: what the checkpoint may claim.
	acked uint64
	// verify makes load read every view a batch changes, new requests' too: set after a
	// conditional write failed, until the batches past the checkpoint are written again.
	verify bool

	// scratch space of publish, reused from batch to batch
	touched map[string]int
	body    []byte
	// viewsStream is the views bucket's stream, for reading shares' delete markers.
	viewsStream jetstream.Stream
}

type cachedView struct {
	view projections.View
	// share and shared are the value of a share's key (projections.ShareKeys): the share,
	// if shared is true; a key whose share ended holds a delete marker, at revision rev.
	share  projections.Share
	shared bool
	rev    uint64 // 0: the key has no value (nor a delete marker)
	// unacked: this projector wrote view and the acknowledgement has not arrived; rev is
	// the revision the write was conditional on. A batch that changes the view again waits
	// for it.
	unacked bool
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
	return &Projector{r: r, log: log, metrics: metrics, batch: 512, window: 8192, maxCache: maxCachedViews,
		lease: &lease{kv: r.Views, key: leaseKey, holder: holder, log: log}}
}

// Run projects until ctx ends and returns ctx's error. While another process holds the lease
// it waits. Failures to write are retried (with backoff) until they succeed: an event is
// never skipped. Events that cannot be decoded, or of unknown types, are logged and passed
// over.
func (p *Projector) Run(ctx context.Context) error {
	return p.lease.whileHeld(ctx, p.project)
}

// stored is an event read from the stream, with the keys of the views it changes: its
// connection's two, and for an event of a shared object the share's two.
type stored struct {
	seq  uint64
	e    events.Event
	ok   bool
	keys []string
}

// flight is a batch of events past the checkpoint and the writes it made.
type flight struct {
	events    []stored
	last      uint64 // the sequence of the last event
	pending   uint64 // the events still in the stream after it, when it was read
	published bool   // its writes are published, with tokens [start, end)
	start     uint64
	end       uint64
	writes    []flightWrite
}

type flightWrite struct {
	key    string
	view   projections.View
	share  projections.Share // a share's key: its value, if shared
	shared bool
}

// project applies events from the checkpoint on until ctx ends or the projector cannot
// start: it reads the events as they come, gathers them in batches (what has arrived, up to
// p.batch) and writes each batch's views.
func (p *Projector) project(ctx context.Context) error {
	var err error
	if p.w, err = newViewWriter(p.r.JS.Conn(), 4*(p.window+2*p.batch)); err != nil {
		return fmt.Errorf("views writer: %w", err)
	}
	defer p.w.close()
	p.ck = checkpoint{kv: p.r.Views, w: p.w, onMove: p.onBatch}
	if err := p.ck.read(ctx); err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	p.cache = make(map[string]cachedView) // another projector may have written meanwhile
	p.flights, p.acked, p.verify = nil, p.ck.seq, false

	// A flight's events are sized by what has arrived: at a live pace most flights hold one
	// event, and a slice sized for a whole batch would be allocated (and cleared) for each.
	f := &flight{}
	for ev, err := range followEvents(ctx, p.r, allEvents, p.ck.seq, 2*p.batch, p.log.With("follower", "projector")) {
		if err != nil {
			// A newer version's event type, or a corrupt message: views cannot show it,
			// and stopping would stop every entity's views. Say so loudly and go on.
			p.log.Error("projector: event skipped", "sequence", ev.Sequence, "err", err)
		}
		// An entity's sharing settings are not in the views: their event only moves the
		// checkpoint.
		s := stored{seq: ev.Sequence, e: ev.Event, ok: err == nil && domain.Known(ev.Event.Type)}
		if s.ok {
			k := projections.Keys(s.e)
			s.keys = append(make([]string, 0, 4), k[0], k[1])
			if s.e.Type.Object() {
				sk := projections.ShareKeys(s.e)
				s.keys = append(s.keys, sk[0], sk[1])
			}
		}
		if f.events == nil {
			f.events = make([]stored, 0, min(uint64(p.batch), ev.Pending+1))
		}
		f.events = append(f.events, s)
		if f.pending = ev.Pending; f.pending > 0 && len(f.events) < p.batch {
			continue // more has arrived: add it to the batch
		}
		if err := p.write(ctx, f); err != nil {
			return err
		}
		f = &flight{}
	}
	return ctx.Err()
}

// write writes the views of batch f, after those of the batches before it, and moves the
// checkpoint as far as their acknowledgements allow. Failures to write are retried until
// they succeed or ctx ends. It returns errCaughtUp once the checkpoint reaches p.stopAt.
func (p *Projector) write(ctx context.Context, f *flight) error {
	f.last = f.events[len(f.events)-1].seq
	p.flights = append(p.flights, f)
	// Caught up (or at the end of a rebuild): wait for the acknowledgements and write
	// the checkpoint now rather than with a later batch.
	caughtUp := f.pending == 0 || p.stopAt > 0 && f.last >= p.stopAt
	if err := p.advance(ctx, caughtUp); err != nil {
		if err := p.recover(ctx, err); err != nil {
			return err
		}
	}
	if p.stopAt > 0 && p.acked >= p.stopAt {
		if err := retry(ctx, p.log, "projector checkpoint", func() error { return p.ck.settle(ctx, p.acked, ckWaitAll) }); err != nil {
			return err
		}
		if p.ck.seq >= p.stopAt {
			return errCaughtUp
		}
	}
	return nil
}

// advance publishes the writes of the batches not published yet, then settles what is
// acknowledged: all of it (waiting) when all is true, else what has arrived, waiting only
// while more than p.window writes await their acknowledgement.
func (p *Projector) advance(ctx context.Context, all bool) error {
	for {
		var next *flight
		for _, f := range p.flights {
			if !f.published {
				next = f
				break
			}
		}
		if next == nil {
			break
		}
		if err := p.publish(ctx, next); err != nil {
			return err
		}
	}
	return p.settle(ctx, all)
}

// recover handles a failure to write: it forgets what is in flight and what it cached, and
// applies every batch past the checkpoint again, reading the views first, until that
// succeeds (pausing as [newBackoff] says) or ctx ends.
func (p *Projector) recover(ctx context.Context, cause error) error {
	pause := newBackoff()
	for cause != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.log.Warn("retrying", "step", "projector apply", "err", cause, "in", pause.pause)
		if err := pause.wait(ctx); err != nil {
			return err
		}
		p.w.abandon(ctx)
		p.ck.forget()
		for _, f := range p.flights {
			f.published, f.writes = false, f.writes[:0]
		}
		p.cache = make(map[string]cachedView)
		p.verify = true
		cause = p.advance(ctx, true)
	}
	p.verify = false
	return nil
}

// publish applies a batch to the cached views and publishes every view it changes, once,
// conditional on the revision it was read at.
func (p *Projector) publish(ctx context.Context, f *flight) error {
	// A view this batch changes may still await the acknowledgement of its last write (its
	// revision is unknown until then), and the cache may be due to start afresh, which it
	// must not while writes are in flight: settle everything first.
	drain := len(p.cache) >= p.maxCache
	for i := 0; i < len(f.events) && !drain; i++ {
		if s := &f.events[i]; s.ok {
			for _, k := range s.keys {
				drain = drain || p.cache[k].unacked
			}
		}
	}
	if drain {
		if err := p.settle(ctx, true); err != nil {
			return err
		}
		if len(p.cache) >= p.maxCache {
			p.cache = make(map[string]cachedView)
		}
	}
	if err := p.load(ctx, f.events); err != nil {
		return err
	}

	if p.touched == nil {
		p.touched = make(map[string]int)
	}
	clear(p.touched)
	base := f.writes[:0]
	for _, s := range f.events {
		if !s.ok {
			continue
		}
		for _, key := range s.keys {
			i, ok := p.touched[key]
			if !ok {
				i = len(base)
				p.touched[key] = i
				c := p.cache[key]
				base = append(base, flightWrite{key: key, view: c.view, share: c.share, shared: c.shared})
			}
			if projections.IsShareKey(key) {
				if next, shared, changed := projections.ApplyShare(base[i].share, base[i].shared, s.seq, s.e); changed {
					base[i].share, base[i].shared = next, shared
				}
			} else if next, changed := projections.Apply(base[i].view, s.seq, s.e); changed {
				base[i].view = next
			}
		}
	}
	f.writes = base[:0]
	f.start = p.w.next
	f.end = f.start
	f.published = true
	for _, w := range base {
		c, cached := p.cache[w.key]
		if projections.IsShareKey(w.key) {
			if cached && c.share == w.share && c.shared == w.shared && (c.rev != 0 || !w.shared) {
				continue // nothing changed
			}
			var err error
			if !w.shared {
				_, err = p.w.publishDelete(viewsSubjectPrefix+w.key, c.rev)
			} else if p.body, err = json.Marshal(w.share); err == nil {
				_, err = p.w.publish(viewsSubjectPrefix+w.key, p.body, c.rev)
			}
			if err != nil {
				return err
			}
			f.writes = append(f.writes, w)
			f.end = p.w.next
			p.cache[w.key] = cachedView{share: w.share, shared: w.shared, rev: c.rev, unacked: true}
			continue
		}
		if cached && c.rev != 0 && c.view == w.view {
			continue // nothing changed (all events already applied)
		}
		var err error
		if p.body, err = w.view.AppendJSON(p.body[:0]); err != nil {
			return err
		}
		if _, err := p.w.publish(viewsSubjectPrefix+w.key, p.body, c.rev); err != nil {
			return err
		}
		f.writes = append(f.writes, w)
		f.end = p.w.next
		p.cache[w.key] = cachedView{view: w.view, rev: c.rev, unacked: true}
	}
	return nil
}

// settle takes in the acknowledgements of the published batches, oldest first: it stops at
// the first batch not all acknowledged, or, when all is true or more than p.window writes
// await their acknowledgement, waits for it. Then it writes the checkpoint.
func (p *Projector) settle(ctx context.Context, all bool) error {
	p.w.poll()
	for len(p.flights) > 0 && p.flights[0].published {
		f := p.flights[0]
		if !p.w.doneBefore(f.end) {
			if !all && p.w.next-f.end < uint64(p.window) {
				break
			}
			if err := p.w.wait(ctx, f.end); err != nil {
				return err
			}
		}
		var failed error
		for i, w := range f.writes {
			res := p.w.result(f.start + uint64(i))
			if res.err != nil {
				if isRevisionConflict(res.err) {
					res.err = fmt.Errorf("view %s changed under the projector: %w", w.key, res.err)
				}
				failed = errors.Join(failed, res.err)
				continue
			}
			p.cache[w.key] = cachedView{view: w.view, share: w.share, shared: w.shared, rev: res.seq}
		}
		if failed != nil {
			return failed
		}
		p.flights = p.flights[1:]
		p.acked = f.last
		for _, s := range f.events {
			if s.ok || s.e.Type == events.TypeSharingSettingsChanged {
				p.metrics.Projected(s.seq, s.e.OccurredAt, f.pending)
			}
		}
		p.w.release(f.end, p.ck.inFlight, p.ck.token)
	}
	if all {
		return p.ck.settle(ctx, p.acked, ckWaitPrevious)
	}
	return p.ck.settle(ctx, p.acked, ckNoWait)
}

// load reads into the cache the views of batch's events that are not there, concurrently.
func (p *Projector) load(ctx context.Context, batch []stored) error {
	var missing []string
	var seen map[string]bool
	for _, s := range batch {
		if !s.ok || !p.verify && s.e.Type == events.TypeConnectionRequested && s.seq > p.ck.seq {
			// A request past the checkpoint starts a new view: nothing to read (if it exists
			// after all, the conditional write says so and the retry reads it).
			continue
		}
		for _, key := range s.keys {
			if _, ok := p.cache[key]; !ok && !seen[key] {
				if seen == nil {
					seen = map[string]bool{}
				}
				seen[key] = true
				missing = append(missing, key)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	// The views stream, which loadShare reads, is looked up here, once, before the reads run
	// in parallel: looked up by each, it would be written by several at once.
	if slices.ContainsFunc(missing, projections.IsShareKey) && p.viewsStream == nil {
		st, err := p.r.JS.Stream(ctx, "KV_"+BucketViews)
		if err != nil {
			return err
		}
		p.viewsStream = st
	}
	got := make([]cachedView, len(missing))
	errs := make([]error, len(missing))
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i, key := range missing {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if projections.IsShareKey(key) {
				got[i], errs[i] = p.loadShare(ctx, key)
				return
			}
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
		p.cache[key] = got[i]
	}
	return nil
}

// loadShare reads the value of a share's key with its revision: the last message on the
// key's subject, a delete marker included (a conditional write after it must name its
// revision). p.viewsStream must be set (load sets it); loadShare only reads it, so that
// several may run at once.
func (p *Projector) loadShare(ctx context.Context, key string) (cachedView, error) {
	m, err := p.viewsStream.GetLastMsgForSubject(ctx, viewsSubjectPrefix+key)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return cachedView{}, nil
	case err != nil:
		return cachedView{}, err
	}
	c := cachedView{rev: m.Sequence}
	if op := m.Header.Get(kvOperationHeader); op == kvOperationDelete || op == kvOperationPurge {
		return c, nil
	}
	if err := json.Unmarshal(m.Data, &c.share); err != nil {
		p.log.Error("projector: unreadable share view replaced", "key", key, "err", err)
		return cachedView{rev: m.Sequence}, nil
	}
	c.shared = true
	return c, nil
}
