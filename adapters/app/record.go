package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/entityconn/entityconn/domain"
)

// recordTimeout bounds the write of a command's outcome record, made even if the caller went
// away: its retry must find it. When the attempt has a deadline (a caller waiting for the
// answer), the write fits in it instead: the command runs until a fifth of the time left
// before the deadline (at most recordTimeout), and the write gets that fifth, so the answer
// arrives in time. A write cut short costs nothing rule 5 needs: a success's event is stored
// and a retry finds it, a refusal not recorded is answered 503 (decided again on retry), and
// a claim not given up lapses with its lease.
const recordTimeout = 5 * time.Second

// recordContexts returns the context the command runs in and the one its outcome is
// recorded in, with [recordTimeout]'s split of ctx's deadline. The second outlives a
// caller that went away (context.WithoutCancel), not the deadline.
func recordContexts(ctx context.Context) (run context.Context, write func() (context.Context, context.CancelFunc), cancel context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return ctx, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		}, func() {}
	}
	reserve := min(recordTimeout, time.Until(dl)/5)
	run, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
	return run, func() (context.Context, context.CancelFunc) {
		return context.WithDeadline(context.WithoutCancel(ctx), dl)
	}, cancel
}

// record is what the outcome record of a command id keeps: the result of an accepted command,
// or the refusal.
type record struct {
	ConnectionID string `json:"connectionId,omitempty"`
	Sequence     uint64 `json:"sequence,omitempty"`
	Status       string `json:"status,omitempty"`
	// Refusal is the family (see refusalFamilies) and message of a refused command.
	Refusal *recordedRefusal `json:"refusal,omitempty"`
}

type recordedRefusal struct {
	Family  string `json:"family"`
	Message string `json:"message"`
}

// refusalFamilies name the error families a refusal is recorded with.
var refusalFamilies = map[string]error{
	"permission":     domain.ErrPermission,
	"authentication": domain.ErrUnauthenticated,
	"missing":        domain.ErrMissingValue,
	"invalid":        domain.ErrInvalidValue,
	"rule_violation": domain.ErrRuleViolation,
	"not_found":      domain.ErrNotFound,
}

// RecordedError is a refusal answered from a command id's record: the first attempt's
// refusal, with its family (errors.Is matches it) and message.
type RecordedError struct {
	family error
	msg    string
}

func (e *RecordedError) Error() string { return e.msg }

// Unwrap returns the refusal's family, such as domain.ErrRuleViolation.
func (e *RecordedError) Unwrap() error { return e.family }

// fingerprint identifies a command for its id's record: its name, the acting entity and its
// content. The same id used for another command is refused as reused ([ErrKeyReused]).
func fingerprint(p Principal, cmd domain.Command) string {
	content, _ := json.Marshal(cmd)
	h := sha256.Sum256(content)
	return cmd.Name() + " " + p.EntityID + " " + hex.EncodeToString(h[:])
}

// recorded runs cmd under the record of its id (rule 5): a retry of a command that has an
// outcome gets that outcome (Result.FromRecord, or a [*RecordedError]); otherwise this attempt
// claims the id, runs the command and records its outcome. Outcomes that a retry may change
// (the service unavailable, contention, a bug) are not recorded: the claim is given up.
func (s *Service) recorded(ctx context.Context, p Principal, id CommandID, cmd domain.Command) (Result, error) {
	replay, claim, err := s.cfg.Outcomes.Begin(ctx, id.Scope(p.UserID), id.Key, fingerprint(p, cmd))
	if err != nil {
		return Result{}, err
	}
	if replay != nil {
		return answer(replay)
	}
	outer := ctx
	ctx, writeCtx, cancelRun := recordContexts(ctx)
	defer cancelRun()
	done := false
	defer func() {
		if !done {
			// A panic is a bug, not an outcome: give the key up, so that a retry is not
			// told "in flight" until the claim goes stale.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(outer), recordTimeout)
			_ = claim.Release(rctx)
			cancel()
		}
	}()
	id.Retry = claim.Retry()
	res, err := s.execute(ctx, p, id, cmd)
	for err != nil && refusal(err) && claim.EarlierMayRun() {
		// A refusal while an earlier attempt may still store the event: wait it out and
		// decide again (which finds that attempt's event), or answer 503 if there is no time.
		if !claim.WaitEarlier(ctx) {
			err = ErrEarlierAttempt
			break
		}
		res, err = s.execute(ctx, p, id, cmd)
	}
	done = true
	rctx, cancel := writeCtx()
	defer cancel()
	if err != nil && !refusal(err) {
		if rerr := claim.Release(rctx); rerr != nil {
			s.cfg.Log.Warn("idempotency key not released", "err", rerr)
		}
		return Result{}, err
	}
	rec := record{ConnectionID: res.ConnectionID, Sequence: res.Sequence, Status: string(res.Status)}
	if err != nil {
		rec = record{Refusal: &recordedRefusal{Family: Outcome(err), Message: err.Error()}}
	}
	data, merr := json.Marshal(rec)
	if merr != nil {
		return Result{}, merr
	}
	if cerr := claim.Complete(rctx, data); cerr != nil {
		s.cfg.Log.Warn("idempotency record not written", "err", cerr)
		if err != nil {
			// A refusal is the key's answer only once it is its recorded first outcome:
			// another attempt may have taken the key over (this one outlived its lease)
			// and stored the command's event, or will decide afresh. The retry gets the
			// recorded outcome. A success needs no record to be true: its event is stored,
			// and a retry finds it.
			return Result{}, fmt.Errorf("%w: the outcome could not be recorded for the idempotency key or command id; retry with the same one: %w", ErrUnavailable, cerr)
		}
	}
	return res, err
}

// answer returns the outcome a record keeps.
func answer(data json.RawMessage) (Result, error) {
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return Result{}, fmt.Errorf("idempotency record: %w", err)
	}
	if r := rec.Refusal; r != nil {
		family, ok := refusalFamilies[r.Family]
		if !ok {
			return Result{}, fmt.Errorf("idempotency record: unknown refusal family %q", r.Family)
		}
		return Result{}, &RecordedError{family: family, msg: r.Message}
	}
	return Result{ConnectionID: rec.ConnectionID, Sequence: rec.Sequence, Status: domain.Status(rec.Status), Replayed: true, FromRecord: true}, nil
}

// IsRecorded reports whether err is a refusal answered from a command id's record.
func IsRecorded(err error) bool {
	var r *RecordedError
	return errors.As(err, &r)
}
