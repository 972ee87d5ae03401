package natsjs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/natsbatch"
)

// ErrInFlight is returned by [Outcomes.Begin] when the same key is being handled right now
// ([app.ErrInFlight]).
var ErrInFlight = app.ErrInFlight

// ErrEarlierAttempt is the answer to a command refused while an earlier attempt of it may
// still be running ([Claim.EarlierMayRun]): that attempt may yet store the command's event,
// so the refusal is not the command's outcome yet. A retry with the same key gets it.
var ErrEarlierAttempt = app.ErrEarlierAttempt

// ErrKeyReused is returned by [Outcomes.Begin] when the key was first used for a different
// request (another body, path or entity).
var ErrKeyReused = app.ErrKeyReused

// Outcomes records the first outcome of each idempotency key (REST) or command id (NATS)
// for [IdempotencyWindow], so that a retry is answered with it instead of being applied
// again (rule 5). Records live in the KV bucket ENTITYCONN_IDEMPOTENCY and are shared by all
// replicas. Safe for concurrent use.
//
// An attempt holds its key under a lease ([Outcomes.Lease]) that it renews while it runs.
// A retry that arrives while the attempt runs waits for its outcome and replays it; a retry
// that finds the lease expired (the attempt's process died, or lost NATS) or the key
// released (the attempt ended with "unavailable") runs the command afresh, and its claim
// says so ([Claim.Retry]) so that the command looks for an event the earlier attempt may
// have stored before it decides again. What keeps one command from being stored twice is
// the conditional append and that check, never the lease: the lease only decides who
// answers (docs/decisions.md).
type Outcomes struct {
	kv    jetstream.KeyValue
	group *natsbatch.Batcher // of kv's creates and updates; nil: none
	// Lease is how long an attempt holds its key without renewing it: the longest a retry
	// waits for an attempt whose process died. Attempts renew it every Lease/3.
	Lease time.Duration
	// Poll is how often a waiting retry looks at the key again.
	Poll time.Duration
	now  func() time.Time
}

// DefaultLease is the lease of an attempt on its key ([Outcomes.Lease]).
const DefaultLease = 5 * time.Second

// NewOutcomes returns the outcome records of r. Their writes are committed in groups
// ([natsbatch.DefaultGroupCommit]).
func NewOutcomes(r *Resources) *Outcomes {
	return NewOutcomesGrouped(r, natsbatch.DefaultGroupCommit)
}

// NewOutcomesGrouped returns the outcome records of r, whose writes are committed in groups
// as g says.
func NewOutcomesGrouped(r *Resources, g GroupCommit) *Outcomes {
	o := &Outcomes{kv: r.Idempotency, Lease: DefaultLease, Poll: 100 * time.Millisecond, now: time.Now}
	if o.group = natsbatch.NewBatcher(r.JS.Conn(), g); o.group != nil {
		o.kv = groupKV{KeyValue: r.Idempotency, b: o.group}
	}
	return o
}

// GroupStats returns what the group commit of the records' writes has done so far.
func (o *Outcomes) GroupStats() GroupStats { return o.group.Stats() }

type outcomeRecord struct {
	Fingerprint string    `json:"fingerprint"`
	Done        bool      `json:"done"`
	Started     time.Time `json:"started"`
	// Until is the end of the lease of the attempt in flight; zero when the key was
	// released (no attempt holds it).
	Until time.Time `json:"until,omitzero"`
	// Attempts counts the attempts that claimed the key.
	Attempts int `json:"attempts,omitempty"`
	// Deadline is the deadline of the attempt that holds the key (zero once released).
	Deadline time.Time `json:"deadline,omitzero"`
	// CutOff is the latest deadline of the attempts whose lease ran out without their
	// giving the key up: until then (and a little after, for a write made just before),
	// such an attempt may still run, cut off from the bucket, and store the event.
	CutOff  time.Time       `json:"cutOff,omitzero"`
	Outcome json.RawMessage `json:"outcome,omitempty"`
	// Holder identifies the attempt that holds (or last held) the key, so that an attempt
	// whose write timed out but was stored recognises the record as its own: its retry
	// then meets a revision it did not expect.
	Holder string `json:"holder,omitempty"`
	raw    []byte // as read, by [Outcomes.mine]
}

// Claim is the right to handle a key, returned by [Outcomes.Begin]. Exactly one of Complete
// or Release should be called; until then the claim renews its lease.
type Claim struct {
	o   *Outcomes
	key string
	rec outcomeRecord
	// earlierDeadline is the record's CutOff when this claim took the key (zero: none).
	earlierDeadline time.Time
	mu              sync.Mutex
	rev             uint64
	stop            chan struct{}
	done            chan struct{}
}

// Retry reports whether an earlier attempt claimed the key and ended without an outcome
// (released, or its lease ran out): its event may be stored.
func (c *Claim) Retry() bool { return c.rec.Attempts > 1 }

// EarlierMayRun reports whether an earlier attempt of the key may still be running: its
// lease ran out, but not its deadline (plus the time a write it made just before takes).
// Such an attempt may yet store the command's event, so a refusal is not yet the command's
// outcome.
func (c *Claim) EarlierMayRun() bool {
	return c.o.now().Before(c.earlierDeadline.Add(writeTimeout))
}

// WaitEarlier waits until no earlier attempt may run ([Claim.EarlierMayRun]) and reports
// true then; it reports false at once if ctx would end first.
func (c *Claim) WaitEarlier(ctx context.Context) bool {
	end := c.earlierDeadline.Add(writeTimeout)
	if dl, ok := ctx.Deadline(); ok && !end.Before(dl) {
		return false
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(end.Sub(c.o.now())):
		return true
	}
}

// Begin looks up key within scope (e.g. the user). If a first outcome is recorded for the
// same fingerprint it returns it (replay); the caller answers with it. Otherwise it records
// that the key is in flight and returns a claim; the caller handles the request and records
// its outcome with Complete. While another attempt holds the key, Begin waits for its
// outcome (or for its lease to run out, then claims the key); it returns [ErrInFlight] if
// ctx ends first. It returns [ErrKeyReused] when the key was first used for another
// fingerprint. An outcome is any JSON value.
func (o *Outcomes) Begin(ctx context.Context, scope, key, fingerprint string) (replay json.RawMessage, claim app.Claim, err error) {
	k := outcomeKey(scope, key)
	holder := uuid.NewString()
	for {
		now := o.now()
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = now.Add(retryFor)
		}
		rec := outcomeRecord{Fingerprint: fingerprint, Started: now, Until: now.Add(o.Lease), Attempts: 1, Deadline: deadline, Holder: holder}
		e, err := retrying(ctx, readTimeout, func(ctx context.Context) (jetstream.KeyValueEntry, error) { return o.kv.Get(ctx, k) })
		var rev uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			rev, err = retrying(ctx, writeTimeout, func(ctx context.Context) (uint64, error) { return o.kv.Create(ctx, k, mustJSON(rec)) })
		case err != nil:
			return nil, nil, fmt.Errorf("natsjs: idempotency record: %w", err)
		default:
			var cur outcomeRecord
			if uerr := json.Unmarshal(e.Value(), &cur); uerr != nil {
				return nil, nil, fmt.Errorf("natsjs: idempotency record %s: %w", k, uerr)
			}
			switch {
			case cur.Fingerprint != fingerprint:
				return nil, nil, ErrKeyReused
			case cur.Done:
				return cur.Outcome, nil, nil
			case now.Before(cur.Until):
				// Another attempt runs: wait for its outcome, or for its lease to run out.
				if err := o.wait(ctx, min(cur.Until.Sub(now), o.Poll)); err != nil {
					return nil, nil, err
				}
				continue
			}
			rec.Attempts = cur.Attempts + 1
			rec.CutOff = cur.CutOff
			if !cur.Until.IsZero() && cur.Deadline.After(rec.CutOff) {
				rec.CutOff = cur.Deadline // its lease ran out: it may still run
			}
			rev, err = retrying(ctx, writeTimeout, func(ctx context.Context) (uint64, error) {
				return o.kv.Update(ctx, k, mustJSON(rec), e.Revision())
			})
		}
		if err != nil && isRevisionConflict(err) {
			// A write of ours that timed out may have been stored all the same.
			if cur, r, ok := o.mine(ctx, k, holder); ok && !cur.Done {
				rec, rev, err = cur, r, nil
			}
		}
		if err == nil {
			c := &Claim{o: o, key: k, rec: rec, rev: rev, earlierDeadline: rec.CutOff, stop: make(chan struct{}), done: make(chan struct{})}
			go c.renew()
			return nil, c, nil
		}
		if !isRevisionConflict(err) {
			return nil, nil, fmt.Errorf("natsjs: idempotency record: %w", err)
		}
		// Someone else created or took over the record between our read and write: look again.
	}
}

// wait sleeps d, or returns ErrInFlight when ctx ends first.
func (o *Outcomes) wait(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ErrInFlight
	case <-time.After(d):
		return nil
	}
}

// renew extends the claim's lease every Lease/3 until the claim ends.
func (c *Claim) renew() {
	defer close(c.done)
	t := time.NewTicker(c.o.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.o.Lease/3)
		c.mu.Lock()
		rec := c.rec
		rec.Until = c.o.now().Add(c.o.Lease)
		rev, err := c.o.kv.Update(ctx, c.key, mustJSON(rec), c.rev)
		if err == nil {
			c.rev, c.rec = rev, rec
		} else if isRevisionConflict(err) {
			// An earlier renewal that timed out may have been stored: the record is still
			// ours if it names this attempt; otherwise it was taken over.
			cur, r, ok := c.o.mine(ctx, c.key, c.rec.Holder)
			if !ok || cur.Done {
				c.mu.Unlock()
				cancel()
				return
			}
			c.rev, c.rec = r, cur
		}
		c.mu.Unlock()
		cancel()
	}
}

// end stops renewing the lease and returns the record's revision.
func (c *Claim) end() uint64 {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rev
}

// Complete records outcome as the key's first outcome. It fails if the claim was taken over
// in the meantime (the attempt could not renew its lease).
func (c *Claim) Complete(ctx context.Context, outcome json.RawMessage) error {
	rev := c.end()
	rec := c.rec
	rec.Done, rec.Until, rec.Outcome = true, time.Time{}, outcome
	if err := c.write(ctx, rec, rev); err != nil {
		return fmt.Errorf("natsjs: record outcome: %w", err)
	}
	return nil
}

// write updates the claim's record to rec, expected at revision rev. A write that timed
// out but was stored makes the retry's revision stale: the record read back then still
// names this attempt, and the write is done (it is rec) or tried again at the new revision.
func (c *Claim) write(ctx context.Context, rec outcomeRecord, rev uint64) error {
	data := mustJSON(rec)
	for {
		_, err := retrying(ctx, writeTimeout, func(ctx context.Context) (uint64, error) { return c.o.kv.Update(ctx, c.key, data, rev) })
		if err == nil || !isRevisionConflict(err) {
			return err
		}
		cur, r, ok := c.o.mine(ctx, c.key, rec.Holder)
		switch {
		case !ok:
			return err // taken over
		case string(cur.raw) == string(data):
			return nil
		case cur.Done:
			return err // completed with another outcome: never replaced
		}
		rev = r
	}
}

// mine reads the record of key k and returns it with its revision if it still names the
// attempt holder.
func (o *Outcomes) mine(ctx context.Context, k, holder string) (outcomeRecord, uint64, bool) {
	e, err := retrying(ctx, readTimeout, func(ctx context.Context) (jetstream.KeyValueEntry, error) { return o.kv.Get(ctx, k) })
	if err != nil {
		return outcomeRecord{}, 0, false
	}
	var cur outcomeRecord
	if json.Unmarshal(e.Value(), &cur) != nil || cur.Holder == "" || cur.Holder != holder {
		return outcomeRecord{}, 0, false
	}
	cur.raw = e.Value()
	return cur, e.Revision(), true
}

// Release gives the key up without an outcome, so that a retry is handled afresh at once:
// for outcomes that must not be replayed, such as "service unavailable". The record keeps
// the count of attempts, so that the retry knows an earlier attempt's event may be stored.
func (c *Claim) Release(ctx context.Context) error {
	rev := c.end()
	rec := c.rec
	rec.Until = time.Time{}
	rec.Deadline = time.Time{} // this attempt has ended
	err := c.write(ctx, rec, rev)
	if err != nil && !isRevisionConflict(err) {
		return fmt.Errorf("natsjs: release idempotency key: %w", err)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func outcomeKey(scope, key string) string {
	h := sha256.Sum256([]byte(scope + "\x00" + key))
	return "k." + hex.EncodeToString(h[:])
}

// Abandon stops renewing the lease without giving the key up, as a process that dies
// would: for tests of what a retry does then.
func (c *Claim) Abandon() { c.end() }
