package natsjs_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/directoryfile"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

func TestOutcomes(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	o := natsjs.NewOutcomes(r)
	ctx := t.Context()

	replay, claim, err := o.Begin(ctx, "alice", "k1", "POST /x body1")
	if err != nil || replay != nil || claim == nil || claim.Retry() {
		t.Fatalf("Begin(new key) = %s, %v, %v; want a first claim", replay, claim, err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := o.Begin(short, "alice", "k1", "POST /x body1"); !errors.Is(err, natsjs.ErrInFlight) {
		t.Errorf("Begin(key in flight, caller gives up) = %v, want ErrInFlight", err)
	}
	if err := claim.Complete(ctx, []byte(`{"status":201}`)); err != nil {
		t.Fatal(err)
	}
	replay, claim2, err := o.Begin(ctx, "alice", "k1", "POST /x body1")
	if err != nil || claim2 != nil || string(replay) != `{"status":201}` {
		t.Errorf("Begin(done key) = %s, %v, %v; want the first outcome replayed", replay, claim2, err)
	}
	if _, _, err := o.Begin(ctx, "alice", "k1", "POST /x body2"); !errors.Is(err, natsjs.ErrKeyReused) {
		t.Errorf("Begin(same key, other request) = %v, want ErrKeyReused", err)
	}
	if _, c, err := o.Begin(ctx, "bob", "k1", "POST /x body2"); err != nil || c == nil {
		t.Errorf("Begin(another user's scope) = %v, %v; want a claim of its own", c, err)
	} else {
		_ = c.Release(ctx)
	}

	// Released keys are handled afresh at once, and the new claim knows it is a retry.
	_, claim, _ = o.Begin(ctx, "alice", "k2", "f")
	if err := claim.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, c, err := o.Begin(ctx, "alice", "k2", "f"); err != nil || c == nil || !c.Retry() {
		t.Errorf("Begin(released key) = %v, %v; want a new claim marked as a retry", c, err)
	} else {
		_ = c.Release(ctx)
	}
}

// A retry that arrives while the first attempt runs waits for its outcome and replays it.
func TestOutcomesRetryWaitsForTheFirstAttempt(t *testing.T) {
	_, url := natsjstest.Single(t)
	o := natsjs.NewOutcomes(setup(t, url, 1))
	ctx := t.Context()
	_, first, err := o.Begin(ctx, "alice", "k", "f")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = first.Complete(context.Background(), []byte(`"first"`))
	}()
	start := time.Now()
	replay, c, err := o.Begin(ctx, "alice", "k", "f")
	if err != nil || c != nil || string(replay) != `"first"` {
		t.Fatalf("Begin(retry while in flight) = %s, %v, %v; want the first outcome", replay, c, err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Errorf("the retry answered after %v, before the first attempt ended", waited)
	}
}

// An attempt renews its lease while it runs, so a slow attempt is not taken over; an attempt
// whose process died (no renewal) is taken over once its lease runs out.
func TestOutcomesLease(t *testing.T) {
	_, url := natsjstest.Single(t)
	o := natsjs.NewOutcomes(setup(t, url, 1))
	o.Lease = 300 * time.Millisecond
	ctx := t.Context()

	_, slow, err := o.Begin(ctx, "alice", "slow", "f")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, _, err := o.Begin(short, "alice", "slow", "f"); !errors.Is(err, natsjs.ErrInFlight) {
		t.Errorf("Begin(attempt renewing its lease for 1s) = %v, want ErrInFlight", err)
	}
	if err := slow.Complete(ctx, []byte(`1`)); err != nil {
		t.Errorf("Complete after renewals: %v", err)
	}

	// A process that dies stops renewing: simulate it with a second Outcomes whose lease
	// is never renewed (its claim is abandoned, and a long renewal period keeps it still).
	dead := natsjs.NewOutcomes(setup(t, url, 1))
	dead.Lease = 300 * time.Millisecond
	_, abandoned, err := dead.Begin(ctx, "alice", "dead", "f")
	if err != nil {
		t.Fatal(err)
	}
	abandoned.(*natsjs.Claim).Abandon()
	start := time.Now()
	_, c, err := o.Begin(ctx, "alice", "dead", "f")
	if err != nil || c == nil || !c.Retry() {
		t.Fatalf("Begin(key of a dead attempt) = %v, %v; want it taken over as a retry", c, err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("taking over a dead attempt's key took %v, want about its lease", waited)
	}
	if err := abandoned.Complete(ctx, []byte(`"late"`)); err == nil {
		t.Error("the dead attempt recorded its outcome after its key was taken over")
	}
	_ = c.Complete(ctx, []byte(`"retry"`))
}

func TestDirectoryStore(t *testing.T) {
	_, url := natsjstest.Single(t)
	a := natsjs.NewDirectoryStore(setup(t, url, 1), nil)
	b := natsjs.NewDirectoryStore(setup(t, url, 1), nil) // another replica
	ctx := t.Context()
	if _, err := b.Load(ctx); !errors.Is(err, natsjs.ErrNoDirectory) {
		t.Errorf("Load(nothing imported) = %v, want ErrNoDirectory", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = b.Run(runCtx) }()

	file := []byte("tenant: t\nentities:\n  - {id: global, name: G}\n  - {id: eu, name: E, parent: global}\nusers:\n  - {id: u, clientId: u, clientSecret: secret-123, access: [{entity: global, role: admin}]}\n")
	if _, changed, err := a.Import(ctx, file); err != nil || !changed {
		t.Fatalf("Import(first) = %v, %v; want changed", changed, err)
	}
	if _, changed, err := a.Import(ctx, file); err != nil || changed {
		t.Errorf("Import(same file again) = %v, %v; want unchanged (idempotent)", changed, err)
	}
	waitFor(t, func() bool { d := b.Current(); return d != nil && len(d.Entities()) == 2 })

	// A new grant reaches the other replica without a restart.
	grant := bytes.Replace(file, []byte("role: admin}]"), []byte("role: admin}, {entity: eu, role: user}]"), 1)
	if _, changed, err := a.Import(ctx, grant); err != nil || !changed {
		t.Fatalf("Import(new grant) = %v, %v", changed, err)
	}
	waitFor(t, func() bool { _, ok := b.Current().RoleOf("u", "eu"); return ok })

	// A bad file is refused whole and changes nothing.
	_, _, err := a.Import(ctx, []byte("tenant: t\nentities: []\n"))
	var fe *directoryfile.FileError
	if !errors.As(err, &fe) {
		t.Errorf("Import(bad file) = %v, want a *directoryfile.FileError", err)
	}
	if d, err := b.Load(ctx); err != nil || len(d.Entities()) != 2 {
		t.Errorf("after a refused import the stored directory = %v, %v; want the previous one", d, err)
	}

	ka, err := a.SigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := b.SigningKey(ctx)
	if err != nil || string(ka) != string(kb) || len(ka) != 32 {
		t.Errorf("SigningKey differs between replicas or is short: %x / %x, %v", ka, kb, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A claim taken over from an attempt whose lease ran out knows that attempt may still run
// until its deadline (and a write it made just before, after): a refusal is not yet the
// command's outcome. Once every earlier attempt has ended or passed its deadline, it is.
func TestOutcomesEarlierMayRun(t *testing.T) {
	t.Parallel()
	_, url := natsjstest.Single(t)
	o := natsjs.NewOutcomes(setup(t, url, 1))
	o.Lease = 300 * time.Millisecond
	ctx := t.Context()

	_, first, err := o.Begin(ctx, "alice", "k", "f")
	if err != nil {
		t.Fatal(err)
	}
	if first.EarlierMayRun() {
		t.Error("the first attempt's claim says an earlier attempt may run")
	}
	first.(*natsjs.Claim).Abandon() // its process is cut off: the lease runs out, its 30 s context does not

	_, second, err := o.Begin(ctx, "alice", "k", "f")
	if err != nil || second == nil || !second.EarlierMayRun() {
		t.Fatalf("Begin(after the lease ran out) = %v, %v; want a claim that knows the first attempt may still run", second, err)
	}
	_ = second.Release(ctx)

	// An attempt whose context has already ended cannot store anything later than a write
	// it made just before: after that, nothing earlier runs.
	// (A second for the claim: a tenth, under the race detector on two busy cores, was not
	// always enough to make it.)
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, dead, err := natsjs.NewOutcomes(setup(t, url, 1)).Begin(short, "alice", "k2", "f")
	if err != nil {
		t.Fatal(err)
	}
	dead.(*natsjs.Claim).Abandon()
	time.Sleep(1100*time.Millisecond + 4*time.Second) // its deadline, and a write's time after it
	_, later, err := o.Begin(ctx, "alice", "k2", "f")
	if err != nil || later == nil || later.EarlierMayRun() {
		t.Errorf("Begin(long after the first attempt's deadline) = %v, %v; want a claim with no earlier attempt running", later, err)
	}
}

// An attempt that gives its key up has ended: the next one waits only for what ran before
// it, not for the released attempt's own deadline (a chain of retries, each answered 503,
// would otherwise push the window on by a whole deadline each time).
func TestOutcomesReleaseEndsTheAttempt(t *testing.T) {
	t.Parallel()
	_, url := natsjstest.Single(t)
	o := natsjs.NewOutcomes(setup(t, url, 1))
	o.Lease = 300 * time.Millisecond
	ctx := t.Context()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, first, err := o.Begin(short, "alice", "k", "f")
	if err != nil {
		t.Fatal(err)
	}
	first.(*natsjs.Claim).Abandon() // cut off: may run until its deadline, 2 s from now
	long, cancelLong := context.WithTimeout(ctx, time.Hour)
	defer cancelLong()
	_, second, err := o.Begin(long, "alice", "k", "f")
	if err != nil || !second.EarlierMayRun() {
		t.Fatalf("Begin(after the first's lease) = %v, %v; want a claim that knows the first may run", second, err)
	}
	if err := second.Release(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2*time.Second + 4*time.Second + 200*time.Millisecond) // the first's deadline, and a write's time after it
	_, third, err := o.Begin(ctx, "alice", "k", "f")
	if err != nil || third == nil || third.EarlierMayRun() {
		t.Errorf("Begin(after both ended) = %v, %v; want a claim with no earlier attempt running (the second's hour-long deadline does not count once it released)", third, err)
	}
}
