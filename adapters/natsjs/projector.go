package natsjs

import (
	"bytes"
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

// viewsSubjectPrefix is the subject prefix of the views bucket's keys.
const viewsSubjectPrefix = "$KV." + BucketViews + "."

// Projector applies events to the views. One replica at a time projects: it holds a lease
// (key projector.lease, renewed every second) and reads the event stream with an ordered
// consumer from its checkpoint (key projector.checkpoint): the last stream sequence whose
// views are written. A restart resumes after the checkpoint: it neither replays the log nor
// skips an event.
//
// Events are applied in batches (what has arrived, up to 512): the views a batch changes are
// written once each, pipelined, each conditional on the revision it was read at. While it
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
	// checkpointRev is the revision of the checkpoint key as this projector last wrote it.
	checkpointRev uint64
	checkpoint    uint64

	w       *viewWriter
	flights []*flight // batches past the checkpoint, oldest first
	// acked is the last sequence of the newest batch whose writes, and all earlier ones',
	// are acknowledged: what the checkpoint may claim.
	acked uint64
	// ck is the checkpoint write awaiting its acknowledgement, if ckPending.
	ckPending bool
	ckToken   uint64
	ckSeq     uint64
	// verify makes load read every view a batch changes, new requests' too: set after a
	// conditional write failed, until the batches past the checkpoint are written again.
	verify bool

	// scratch space of publish, reused from batch to batch
	touched map[string]int
	body    []byte
}

type cachedView struct {
	view projections.View
	rev  uint64 // 0: the key has no value
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

// stored is an event read from the stream, with the keys of the views it changes.
type stored struct {
	seq  uint64
	e    events.Event
	ok   bool
	keys [2]string
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
	key  string
	view projections.View
}

// project applies events from the checkpoint on until ctx ends or reading fails.
func (p *Projector) project(ctx context.Context) error {
	var err error
	if p.checkpoint, p.checkpointRev, err = p.readCheckpoint(ctx); err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	p.cache = make(map[string]cachedView) // another projector may have written meanwhile
	p.flights, p.acked, p.ckPending, p.verify = nil, p.checkpoint, false, false
	if p.w, err = newViewWriter(p.r.JS.Conn(), 4*(p.window+2*p.batch)); err != nil {
		return fmt.Errorf("views writer: %w", err)
	}
	defer p.w.close()
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.SubjectPrefix + ".>"}}
	if p.checkpoint > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, p.checkpoint+1
	}
	cons, err := p.r.Events.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("ordered consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(2*p.batch), jetstream.PullExpiry(followExpiry), jetstream.PullHeartbeat(followHeartbeat))
	if err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()

	for {
		f := &flight{events: make([]stored, 0, p.batch)}
		for len(f.events) < p.batch {
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
			s := stored{seq: md.Sequence.Stream, e: e, ok: derr == nil}
			if s.ok {
				s.keys = projections.Keys(e)
			}
			f.events = append(f.events, s)
			if f.pending = md.NumPending; f.pending == 0 {
				break // nothing more has arrived: apply what we have
			}
		}
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
			if err := retry(ctx, p.log, "checkpoint", func() error { return p.settleCheckpoint(ctx, ckWaitAll) }); err != nil {
				return err
			}
			if p.checkpoint >= p.stopAt {
				return errCaughtUp
			}
		}
	}
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
// succeeds (backing off from 10 ms to 2 s) or ctx ends.
func (p *Projector) recover(ctx context.Context, cause error) error {
	wait := 10 * time.Millisecond
	for cause != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.log.Warn("projector: retrying", "step", "apply", "err", cause, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
		p.w.abandon(ctx)
		p.ckPending = false
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
			drain = p.cache[s.keys[0]].unacked || p.cache[s.keys[1]].unacked
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
				base = append(base, flightWrite{key: key, view: p.cache[key].view})
			}
			if next, changed := projections.Apply(base[i].view, s.seq, s.e); changed {
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
			p.cache[w.key] = cachedView{view: w.view, rev: res.seq}
		}
		if failed != nil {
			return failed
		}
		p.flights = p.flights[1:]
		p.acked = f.last
		for _, s := range f.events {
			if s.ok {
				p.metrics.Projected(s.seq, s.e.OccurredAt, f.pending)
			}
		}
		p.w.release(f.end, p.ckPending, p.ckToken)
	}
	if all {
		return p.settleCheckpoint(ctx, ckWaitPrevious)
	}
	return p.settleCheckpoint(ctx, ckNoWait)
}

// settleCheckpoint takes in the acknowledgement of the checkpoint write in flight and, when
// the acknowledged writes have gone past the checkpoint, writes it again, one write at a time:
// the next is conditional on the revision the last one made. If the last write's
// acknowledgement has not arrived, it waits for it when wait is at least ckWaitPrevious, and
// otherwise leaves the new write to a later call; with ckWaitAll it also waits for the
// acknowledgement of the new write. The checkpoint never claims a sequence whose writes are
// not all acknowledged, and never moves back.
func (p *Projector) settleCheckpoint(ctx context.Context, wait ckWait) error {
	for {
		if p.ckPending {
			if !p.w.done(p.ckToken) {
				if wait == ckNoWait {
					return nil
				}
				if err := p.w.wait(ctx, p.ckToken+1); err != nil {
					return err
				}
			}
			res := p.w.result(p.ckToken)
			p.ckPending = false
			if res.err != nil {
				// Another projector moved it, or the write was lost: the synchronous
				// write reads what is there and goes on from it.
				if err := p.writeCheckpoint(ctx, p.ckSeq); err != nil {
					return err
				}
			} else {
				p.checkpoint, p.checkpointRev = p.ckSeq, res.seq
			}
			if p.onBatch != nil {
				p.onBatch(p.checkpoint)
			}
		}
		if p.acked <= p.checkpoint {
			return nil
		}
		if p.checkpointRev == 0 {
			// The first checkpoint: create the key (over a deleted value, if need be).
			if err := p.writeCheckpoint(ctx, p.acked); err != nil {
				return err
			}
			if p.onBatch != nil {
				p.onBatch(p.checkpoint)
			}
			continue
		}
		var err error
		p.body = strconv.AppendUint(p.body[:0], p.acked, 10)
		if p.ckToken, err = p.w.publish(viewsSubjectPrefix+checkpointKey, p.body, p.checkpointRev); err != nil {
			return err
		}
		p.ckPending, p.ckSeq = true, p.acked
		if wait != ckWaitAll {
			return nil
		}
	}
}

// ckWait says how long [Projector.settleCheckpoint] waits.
type ckWait int

const (
	ckNoWait       ckWait = iota // for nothing
	ckWaitPrevious               // for the write in flight, so as to write a newer one now
	ckWaitAll                    // for the checkpoint to claim every acknowledged write
)

// load reads into the cache the views of batch's events that are not there, concurrently.
func (p *Projector) load(ctx context.Context, batch []stored) error {
	var missing []string
	var seen map[string]bool
	for _, s := range batch {
		if !s.ok || !p.verify && s.e.Type == events.TypeConnectionRequested && s.seq > p.checkpoint {
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
		p.cache[key] = got[i]
	}
	return nil
}

// writeCheckpoint records, synchronously, that the views include every event up to seq. It
// never moves the checkpoint back.
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

// viewWriter publishes conditional writes to the views bucket and takes in their
// acknowledgements, all in the projector's goroutine. It publishes over core NATS with reply
// subjects of its own rather than with jetstream's PublishMsgAsync: there is one reader of the
// acknowledgements, so they need no futures, channels, timers or locks of their own, and the
// message, its header and body are reused (PublishMsg copies them into the connection's
// buffer before it returns; PublishMsgAsync keeps the message to publish it again).
//
// Each write gets a token, in order; results holds the outcomes of tokens [base, next).
type viewWriter struct {
	nc      *nats.Conn
	sub     *nats.Subscription
	acks    chan *nats.Msg
	prefix  string // reply subjects are prefix + token in base 36
	next    uint64
	base    uint64
	open    uint64 // the first token without an outcome
	results []writeResult
	msg     nats.Msg
	expect  []string
	reply   []byte
}

type writeResult struct {
	done bool
	seq  uint64 // the stream sequence: the key's new revision
	err  error
}

// ackTimeout bounds the wait for an acknowledgement; past it the write counts as failed.
const ackTimeout = 10 * time.Second

// newViewWriter subscribes to the acknowledgements; capacity bounds the writes in flight
// (past it acknowledgements would be dropped, and their writes time out).
func newViewWriter(nc *nats.Conn, capacity int) (*viewWriter, error) {
	w := &viewWriter{nc: nc, prefix: nc.NewRespInbox() + ".", acks: make(chan *nats.Msg, capacity), expect: make([]string, 1)}
	var err error
	if w.sub, err = nc.ChanSubscribe(w.prefix+"*", w.acks); err != nil {
		return nil, err
	}
	w.msg.Header = nats.Header{jetstream.ExpectedLastSubjSeqHeader: w.expect}
	w.next, w.base, w.open = 1, 1, 1
	return w, nil
}

func (w *viewWriter) close() { _ = w.sub.Unsubscribe() }

// publish publishes data to subject, to be stored only if the subject's last revision is
// expect (0: none), and returns the write's token.
func (w *viewWriter) publish(subject string, data []byte, expect uint64) (uint64, error) {
	tok := w.next
	w.reply = strconv.AppendUint(append(w.reply[:0], w.prefix...), tok, 36)
	if expect == 0 {
		w.expect[0] = "0"
	} else {
		w.expect[0] = strconv.FormatUint(expect, 10)
	}
	w.msg.Subject, w.msg.Reply, w.msg.Data = subject, string(w.reply), data
	err := w.nc.PublishMsg(&w.msg)
	w.msg.Data = nil
	if err != nil {
		return 0, err
	}
	w.results = append(w.results, writeResult{})
	w.next++
	return tok, nil
}

func (w *viewWriter) done(tok uint64) bool { return tok < w.base || w.results[tok-w.base].done }

// doneBefore reports whether every token before end has its outcome.
func (w *viewWriter) doneBefore(end uint64) bool { return w.open >= end }

func (w *viewWriter) result(tok uint64) writeResult { return w.results[tok-w.base] }

// release forgets the outcomes before end, except from keep on if hold is true.
func (w *viewWriter) release(end uint64, hold bool, keep uint64) {
	if hold {
		end = min(end, keep)
	}
	if end > w.base {
		w.results = w.results[end-w.base:]
		w.base = end
	}
}

// poll takes in the acknowledgements that have arrived.
func (w *viewWriter) poll() {
	for {
		select {
		case m := <-w.acks:
			w.take(m)
		default:
			return
		}
	}
}

// wait takes in acknowledgements until every token before end has its outcome.
func (w *viewWriter) wait(ctx context.Context, end uint64) error {
	w.poll()
	if w.open >= end {
		return nil
	}
	timer := time.NewTimer(ackTimeout)
	defer timer.Stop()
	for w.open < end {
		select {
		case m := <-w.acks:
			w.take(m)
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return fmt.Errorf("natsjs: views write %d: %w", w.open, jetstream.ErrAsyncPublishTimeout)
		}
	}
	return nil
}

// abandon waits a little for the writes in flight, then forgets them: acknowledgements
// that arrive later are ignored.
func (w *viewWriter) abandon(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_ = w.wait(wctx, w.next)
	cancel()
	w.base, w.open, w.results = w.next, w.next, nil
}

func (w *viewWriter) take(m *nats.Msg) {
	tok, err := strconv.ParseUint(m.Subject[min(len(w.prefix), len(m.Subject)):], 36, 64)
	if err != nil || tok < w.base || tok >= w.next || w.results[tok-w.base].done {
		return // not ours, or of writes given up
	}
	r := &w.results[tok-w.base]
	r.done = true
	r.seq, r.err = parsePubAck(m)
	for w.open < w.next && w.results[w.open-w.base].done {
		w.open++
	}
}

// parsePubAck returns the stream sequence a JetStream publish acknowledgement gives, or the
// error it reports. The common answer, {"stream":"…","seq":n}, is read without reflection.
func parsePubAck(m *nats.Msg) (uint64, error) {
	d := m.Data
	if len(d) == 0 {
		if m.Header.Get("Status") == "503" {
			return 0, jetstream.ErrNoStreamResponse
		}
		return 0, jetstream.ErrInvalidJSAck
	}
	const streamField, seqField = `{"stream":"`, `","seq":`
	if rest, ok := bytes.CutPrefix(d, []byte(streamField)); ok {
		if i := bytes.IndexByte(rest, '"'); i > 0 {
			if rest, ok := bytes.CutPrefix(rest[i:], []byte(seqField)); ok {
				n := 0
				for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
					n++
				}
				if n > 0 && n < len(rest) && (rest[n] == '}' || rest[n] == ',') {
					if seq, err := strconv.ParseUint(string(rest[:n]), 10, 64); err == nil && seq > 0 {
						return seq, nil
					}
				}
			}
		}
	}
	var ack struct {
		Error  *jetstream.APIError `json:"error"`
		Stream string              `json:"stream"`
		Seq    uint64              `json:"seq"`
	}
	if err := json.Unmarshal(d, &ack); err != nil {
		return 0, jetstream.ErrInvalidJSAck
	}
	if ack.Error != nil {
		return 0, ack.Error
	}
	if ack.Stream == "" {
		return 0, jetstream.ErrInvalidJSAck
	}
	return ack.Seq, nil
}
