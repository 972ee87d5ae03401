package natsjs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/domain"
)

// ErrInFlight is returned by [Outcomes.Begin] when the same key is being handled right now.
var ErrInFlight = fmt.Errorf("%w: a request with this idempotency key is still in progress", domain.ErrConflict)

// ErrKeyReused is returned by [Outcomes.Begin] when the key was first used for a different
// request (another body, path or entity).
var ErrKeyReused = fmt.Errorf("%w: the idempotency key was already used for a different request", domain.ErrInvalidValue)

// Outcomes records the first outcome of each idempotency key (REST) or command id (NATS)
// for [IdempotencyWindow], so that a retry is answered with it instead of being applied
// again (rule 5). Records live in the KV bucket ENTITYCONN_IDEMPOTENCY and are shared by all
// replicas. Safe for concurrent use.
type Outcomes struct {
	kv jetstream.KeyValue
	// StaleAfter is how long an in-flight record blocks its key. A record older than this is
	// left over from a process that died mid-request, and a retry takes it over.
	StaleAfter time.Duration
	now        func() time.Time
}

// NewOutcomes returns the outcome records of r.
func NewOutcomes(r *Resources) *Outcomes {
	return &Outcomes{kv: r.Idempotency, StaleAfter: 30 * time.Second, now: time.Now}
}

type outcomeRecord struct {
	Fingerprint string          `json:"fingerprint"`
	Done        bool            `json:"done"`
	Started     time.Time       `json:"started"`
	Outcome     json.RawMessage `json:"outcome,omitempty"`
}

// Claim is the right to handle a key, returned by [Outcomes.Begin]. Exactly one of Complete
// or Release should be called.
type Claim struct {
	o           *Outcomes
	key         string
	rev         uint64
	fingerprint string
	started     time.Time
}

// Begin looks up key within scope (e.g. the user). If a first outcome is recorded for the
// same fingerprint it returns it (replay); the caller answers with it. Otherwise it records
// that the key is in flight and returns a claim; the caller handles the request and records
// its outcome with Complete. It returns [ErrInFlight] while another request holds the key
// (whatever its fingerprint: its outcome is not known yet) and [ErrKeyReused] when the key's
// recorded outcome is for another fingerprint. An outcome is any JSON value.
func (o *Outcomes) Begin(ctx context.Context, scope, key, fingerprint string) (replay json.RawMessage, claim *Claim, err error) {
	k := outcomeKey(scope, key)
	for {
		now := o.now()
		fresh, _ := json.Marshal(outcomeRecord{Fingerprint: fingerprint, Started: now})
		e, err := o.kv.Get(ctx, k)
		var rev uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			rev, err = o.kv.Create(ctx, k, fresh)
		case err != nil:
			return nil, nil, fmt.Errorf("natsjs: idempotency record: %w", err)
		default:
			var rec outcomeRecord
			if uerr := json.Unmarshal(e.Value(), &rec); uerr != nil {
				return nil, nil, fmt.Errorf("natsjs: idempotency record %s: %w", k, uerr)
			}
			switch {
			case !rec.Done && now.Sub(rec.Started) < o.StaleAfter:
				return nil, nil, ErrInFlight
			case rec.Fingerprint != fingerprint:
				return nil, nil, ErrKeyReused
			case rec.Done:
				return rec.Outcome, nil, nil
			}
			rev, err = o.kv.Update(ctx, k, fresh, e.Revision())
		}
		if err == nil {
			return nil, &Claim{o: o, key: k, rev: rev, fingerprint: fingerprint, started: now}, nil
		}
		if !isRevisionConflict(err) {
			return nil, nil, fmt.Errorf("natsjs: idempotency record: %w", err)
		}
		// Someone else created or took over the record between our read and write: look again.
	}
}

// Complete records outcome as the key's first outcome. It fails if the claim was taken over
// in the meantime (the request took longer than StaleAfter).
func (c *Claim) Complete(ctx context.Context, outcome json.RawMessage) error {
	data, err := json.Marshal(outcomeRecord{Fingerprint: c.fingerprint, Done: true, Started: c.started, Outcome: outcome})
	if err != nil {
		return err
	}
	if _, err := c.o.kv.Update(ctx, c.key, data, c.rev); err != nil {
		return fmt.Errorf("natsjs: record outcome: %w", err)
	}
	return nil
}

// Release gives the key up without an outcome, so that a retry is handled afresh: for
// outcomes that must not be replayed, such as "service unavailable".
func (c *Claim) Release(ctx context.Context) error {
	err := c.o.kv.Delete(ctx, c.key, jetstream.LastRevision(c.rev))
	if err != nil && !isRevisionConflict(err) {
		return fmt.Errorf("natsjs: release idempotency key: %w", err)
	}
	return nil
}

func outcomeKey(scope, key string) string {
	h := sha256.Sum256([]byte(scope + "\x00" + key))
	return "k." + hex.EncodeToString(h[:])
}
