package natsjs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/events"
)

// groupBackends are the deployments group commit is checked on.
var groupBackends = []struct {
	name     string
	replicas int
	start    func(testing.TB) string
}{
	{"single", 1, func(t testing.TB) string { _, url := natsjstest.Single(t); return url }},
	{"cluster-R3", 3, func(t testing.TB) string { _, url := natsjstest.Cluster(t, 3); return url }},
}

func groupSetup(t *testing.T, url string, replicas int) *Resources {
	t.Helper()
	js, err := jetstream.New(natsjstest.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	r, err := Setup(ctx, js, replicas)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func groupEvent(id, src, tgt string) events.Event {
	return events.Event{EventID: id, Type: events.TypeConnectionRequested, ConnectionID: "c-" + id, SourceEntityID: src, TargetEntityID: tgt,
		ActorUserID: "alice", ActorEntityID: src, OccurredAt: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
}

// Appends that wait together are committed together, and each is stored exactly once at the
// sequence its caller is answered with.
func TestGroupCommitStoresEachAppendOnce(t *testing.T) {
	for _, b := range groupBackends {
		t.Run(b.name, func(t *testing.T) {
			if testing.Short() && b.replicas > 1 {
				t.Skip("cluster")
			}
			r := groupSetup(t, b.start(t), b.replicas)
			s := NewStore(r, WithGroupCommit(GroupCommit{MaxBatch: 50, InFlight: 1}))
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			const writers, each = 32, 20
			seqs := make([][]uint64, writers)
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						e := groupEvent(fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("s%d", w), fmt.Sprintf("t%d", i))
						seq, err := s.appendGrouped(ctx, e, 0)
						if err != nil {
							t.Errorf("append %s: %v", e.EventID, err)
							return
						}
						seqs[w] = append(seqs[w], seq)
					}
				})
			}
			wg.Wait()
			info, err := r.Events.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Msgs != writers*each {
				t.Fatalf("%d events stored, want %d", info.State.Msgs, writers*each)
			}
			for w := range writers {
				for i, seq := range seqs[w] {
					m, err := r.Events.GetMsg(ctx, seq)
					if err != nil {
						t.Fatal(err)
					}
					st, err := decodeRaw(m)
					if err != nil {
						t.Fatal(err)
					}
					if want := fmt.Sprintf("w%d-%d", w, i); st.Event.EventID != want {
						t.Fatalf("sequence %d answered for %s holds %s", seq, want, st.Event.EventID)
					}
				}
			}
			stats := s.GroupStats()
			t.Logf("%+v", stats)
			if stats.Batches == 0 || stats.Writes != writers*each || stats.Refused != 0 {
				t.Fatalf("group commit: %+v; want batches, %d appends, none refused", stats, writers*each)
			}
		})
	}
}

// The outcome records' creates and updates through group commit keep their conditions: of
// writers racing to create one key exactly one does, an update on a stale revision fails,
// and each write on its own key is stored once.
func TestGroupCommitKeyValue(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := groupSetup(t, url, 1)
	o := NewOutcomesGrouped(r, GroupCommit{MaxBatch: 50, InFlight: 1})
	kv := o.kv
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, exists := 0, 0
	for i := range 40 {
		wg.Go(func() {
			rev, err := kv.Create(ctx, fmt.Sprintf("k%d", i), []byte("a"))
			if err != nil {
				t.Errorf("create k%d: %v", i, err)
				return
			}
			if _, err := kv.Update(ctx, fmt.Sprintf("k%d", i), []byte("b"), rev); err != nil {
				t.Errorf("update k%d: %v", i, err)
			}
			if _, err := kv.Update(ctx, fmt.Sprintf("k%d", i), []byte("c"), rev); !errors.Is(err, jetstream.ErrKeyExists) {
				t.Errorf("update k%d on a stale revision: %v, want refused", i, err)
			}
		})
		wg.Go(func() {
			_, err := kv.Create(ctx, "contended", []byte(fmt.Sprint(i)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created++
			case errors.Is(err, jetstream.ErrKeyExists):
				exists++
			default:
				t.Errorf("create contended: %v", err)
			}
		})
	}
	wg.Wait()
	if created != 1 || exists != 39 {
		t.Errorf("racing creates of one key: %d created, %d refused; want 1 and 39", created, exists)
	}
	for i := range 40 {
		e, err := r.Idempotency.Get(ctx, fmt.Sprintf("k%d", i))
		if err != nil || string(e.Value()) != "b" {
			t.Fatalf("k%d: %v %v, want b", i, e, err)
		}
	}
	stats := o.GroupStats()
	t.Logf("%+v", stats)
	if stats.Batches == 0 {
		t.Errorf("no write was batched: %+v", stats)
	}
}
