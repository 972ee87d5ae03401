package natsjs

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

// lostAcks is the real idempotency bucket, except that the writes it is told to lose the
// acknowledgement of are stored and then answered with a timeout, as when the server's
// answer is lost or comes too late.
type lostAcks struct {
	jetstream.KeyValue
	creates, updates atomic.Int32 // how many of the next writes lose their acknowledgement
}

func (l *lostAcks) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	rev, err := l.KeyValue.Create(ctx, key, value, opts...)
	if err == nil && l.creates.Add(-1) >= 0 {
		return 0, nats.ErrTimeout
	}
	return rev, err
}

func (l *lostAcks) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	rev, err := l.KeyValue.Update(ctx, key, value, last)
	if err == nil && l.updates.Add(-1) >= 0 {
		return 0, nats.ErrTimeout
	}
	return rev, err
}

func lostAckOutcomes(t *testing.T) (*Outcomes, *lostAcks) {
	t.Helper()
	_, url := natsjstest.Single(t)
	js, err := jetstream.New(natsjstest.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	r, err := Setup(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	kv := &lostAcks{KeyValue: r.Idempotency}
	o := NewOutcomes(r)
	o.kv = kv
	return o, kv
}

// An attempt whose claim, renewals and outcome were stored but not acknowledged still holds
// its key, keeps it, and records its outcome: it neither waits out its own lease as if another
// attempt held the key, nor answers "not recorded" for an outcome that is.
func TestOutcomesWritesWhoseAcknowledgementIsLost(t *testing.T) {
	o, kv := lostAckOutcomes(t)
	o.Lease = 1500 * time.Millisecond // renewed every 500 ms; room for a loaded machine
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	kv.creates.Store(1)
	start := time.Now()
	replay, claim, err := o.Begin(ctx, "alice", "k1", "fp")
	if err != nil || replay != nil || claim == nil {
		t.Fatalf("Begin with a lost acknowledgement = %s, %v, %v; want a claim", replay, claim, err)
	}
	if took := time.Since(start); took >= o.Lease {
		t.Errorf("Begin took %v: it waited for its own lease to run out", took)
	}
	if claim.Retry() || claim.EarlierMayRun() {
		t.Errorf("the first attempt sees itself as a retry (%v) or an earlier attempt (%v)", claim.Retry(), claim.EarlierMayRun())
	}

	// Renewals that lose their acknowledgement: the claim keeps the key past its lease.
	kv.updates.Store(2)
	time.Sleep(3 * o.Lease)
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	_, other, err := o.Begin(short, "alice", "k1", "fp")
	cancelShort()
	if !errors.Is(err, ErrInFlight) {
		t.Fatalf("a retry while the renewing attempt runs: claim %v, err %v; want ErrInFlight", other, err)
	}

	// The outcome is stored but not acknowledged: Complete succeeds, and a retry replays it.
	kv.updates.Store(1)
	if err := claim.Complete(ctx, []byte(`{"status":200}`)); err != nil {
		t.Fatalf("Complete with a lost acknowledgement: %v", err)
	}
	replay, again, err := o.Begin(ctx, "alice", "k1", "fp")
	if err != nil || again != nil || string(replay) != `{"status":200}` {
		t.Fatalf("retry after Complete = %s, %v, %v; want the replay", replay, again, err)
	}
}

// A release whose acknowledgement is lost has released the key all the same.
func TestOutcomesReleaseWhoseAcknowledgementIsLost(t *testing.T) {
	o, kv := lostAckOutcomes(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, claim, err := o.Begin(ctx, "alice", "k2", "fp")
	if err != nil {
		t.Fatal(err)
	}
	kv.updates.Store(1)
	if err := claim.Release(ctx); err != nil {
		t.Fatalf("Release with a lost acknowledgement: %v", err)
	}
	start := time.Now()
	_, retry, err := o.Begin(ctx, "alice", "k2", "fp")
	if err != nil || retry == nil || !retry.Retry() || retry.EarlierMayRun() {
		t.Fatalf("retry after a release = %v, %v; want a retry claim with no earlier attempt running", retry, err)
	}
	if took := time.Since(start); took >= o.Lease/2 {
		t.Errorf("the retry took %v: the key was not released", took)
	}
}
