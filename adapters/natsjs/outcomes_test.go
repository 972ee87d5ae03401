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
	if err != nil || replay != nil || claim == nil {
		t.Fatalf("Begin(new key) = %s, %v, %v; want a claim", replay, claim, err)
	}
	if _, _, err := o.Begin(ctx, "alice", "k1", "POST /x body1"); !errors.Is(err, natsjs.ErrInFlight) {
		t.Errorf("Begin(key in flight) = %v, want ErrInFlight", err)
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
	}

	// Released keys are handled afresh.
	_, claim, _ = o.Begin(ctx, "alice", "k2", "f")
	if err := claim.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, c, err := o.Begin(ctx, "alice", "k2", "f"); err != nil || c == nil {
		t.Errorf("Begin(released key) = %v, %v; want a new claim", c, err)
	}

	// A record left in flight by a process that died is taken over once stale.
	o.StaleAfter = 50 * time.Millisecond
	_, _, _ = o.Begin(ctx, "alice", "k3", "f")
	time.Sleep(60 * time.Millisecond)
	if _, c, err := o.Begin(ctx, "alice", "k3", "f"); err != nil || c == nil {
		t.Errorf("Begin(stale in-flight key) = %v, %v; want it taken over", c, err)
	}
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
