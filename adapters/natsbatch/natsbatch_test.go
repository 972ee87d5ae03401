package natsbatch_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsbatch"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/events"
)

var backends = []struct {
	name     string
	replicas int
	start    func(testing.TB) string
}{
	{"single", 1, func(t testing.TB) string { _, url := natsjstest.Single(t); return url }},
	{"cluster-R3", 3, func(t testing.TB) string { _, url := natsjstest.Cluster(t, 3); return url }},
}

func setup(t *testing.T, url string, replicas int) *natsjs.Resources {
	t.Helper()
	js, err := jetstream.New(natsjstest.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	r, err := natsjs.Setup(ctx, js, replicas)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func event(id, src, tgt string) events.Event {
	return events.Event{EventID: id, Type: events.TypeConnectionRequested, ConnectionID: "c-" + id, SourceEntityID: src, TargetEntityID: tgt,
		ActorUserID: "alice", ActorEntityID: src, OccurredAt: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
}

// appendWrite is the write of a conditional append of e (the pair has no event yet), which
// goes alone through the store's own Append.
func appendWrite(t *testing.T, ctx context.Context, s *natsjs.Store, e events.Event) *natsbatch.Write {
	t.Helper()
	data, err := events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	pair := events.PairSubject(e.SourceEntityID, e.TargetEntityID)
	msg := &nats.Msg{Subject: natsjs.AppendSubject(e), Data: data, Header: nats.Header{}}
	msg.Header.Set(events.HeaderMsgID, e.EventID)
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	msg.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, pair)
	return natsbatch.NewWrite(ctx, msg, pair, func(ctx context.Context) (uint64, error) { return s.Append(ctx, e, 0) })
}

// A batch the server refuses because one condition fails is sent again write by write: the
// append whose pair changed fails as it would alone, an append whose event is stored
// already gets its sequence, and the others are stored, each once.
func TestRefusedBatch(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			if testing.Short() && b.replicas > 1 {
				t.Skip("cluster")
			}
			r := setup(t, b.start(t), b.replicas)
			s := natsjs.NewStore(r)
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			stored := event("stored", "a", "b")
			first, err := s.Append(ctx, stored, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Append(ctx, event("changed", "c", "d"), 0); err != nil {
				t.Fatal(err)
			}
			batch := []*natsbatch.Write{
				appendWrite(t, ctx, s, event("fresh", "e", "f")),
				appendWrite(t, ctx, s, event("late", "c", "d")), // decided before "changed" was stored
				appendWrite(t, ctx, s, stored),                  // a retry of an append that was stored
			}
			g := natsbatch.NewBatcher(r.JS.Conn(), natsbatch.GroupCommit{MaxBatch: 50, InFlight: 1})
			if g.Commit(batch) {
				t.Fatal("the batch was stored whole, with a condition that fails")
			}
			if seq, err, _ := batch[0].Result(); err != nil || seq == 0 {
				t.Errorf("fresh: %d, %v; want stored", seq, err)
			}
			if seq, err, _ := batch[1].Result(); !errors.Is(err, natsjs.ErrConcurrentChange) {
				t.Errorf("late: %d, %v; want a concurrent change", seq, err)
			}
			if seq, err, _ := batch[2].Result(); err != nil || seq != first {
				t.Errorf("stored: %d, %v; want its first sequence %d", seq, err, first)
			}
			info, err := r.Events.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Msgs != 3 {
				t.Fatalf("%d events stored, want 3 (stored, changed, fresh)", info.State.Msgs)
			}
		})
	}
}

// A group smaller than MinBatch is sent write by write, side by side: no batch, the same
// answers.
func TestSmallGroupAlone(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := s.Append(ctx, event("changed", "c", "d"), 0); err != nil {
		t.Fatal(err)
	}
	batch := []*natsbatch.Write{appendWrite(t, ctx, s, event("fresh", "e", "f")), appendWrite(t, ctx, s, event("late", "c", "d"))}
	g := natsbatch.NewBatcher(r.JS.Conn(), natsbatch.GroupCommit{MaxBatch: 50, MinBatch: 4, InFlight: 1})
	if !g.Commit(batch) {
		t.Fatal("a group below MinBatch was sent as a batch, and refused")
	}
	seq0, err0, _ := batch[0].Result()
	seq1, err1, _ := batch[1].Result()
	if err0 != nil || seq0 != 2 || !errors.Is(err1, natsjs.ErrConcurrentChange) {
		t.Fatalf("fresh: %d %v, late: %d %v; want fresh stored at 2, late refused", seq0, err0, seq1, err1)
	}
}

// A batch takes the oldest writes, one per key, up to its size; the writes of callers that
// have gone are answered and dropped.
func TestTake(t *testing.T) {
	g := natsbatch.NewBatcher(nil, natsbatch.GroupCommit{MaxBatch: 2, InFlight: 1})
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	mk := func(ctx context.Context, id, key string) *natsbatch.Write {
		return natsbatch.NewWrite(ctx, &nats.Msg{Subject: id}, key, nil)
	}
	dropped := mk(gone, "x", "r.s")
	g.Queue(mk(bg, "a", "p.q"), mk(bg, "b", "p.q"), dropped, mk(bg, "c", "t.u"), mk(bg, "d", "v.w"))
	subjects := func(ws []*natsbatch.Write) (out []string) {
		for _, w := range ws {
			out = append(out, w.Subject())
		}
		return out
	}
	if got := fmt.Sprint(subjects(g.Take())); got != "[a c]" {
		t.Errorf("first batch %s, want [a c]: one per key, two at most, the gone one dropped", got)
	}
	if _, err, ok := dropped.Result(); !ok || !errors.Is(err, context.Canceled) {
		t.Errorf("the gone caller's write: answered %v, %v", ok, err)
	}
	if got := fmt.Sprint(subjects(g.Take())); got != "[b d]" {
		t.Errorf("second batch %s, want [b d]", got)
	}
	if got := g.Take(); len(got) != 0 || g.Queued() != 0 {
		t.Errorf("third batch %v with %d left, want nothing", subjects(got), g.Queued())
	}
}

// Publish stores a batch whole, at consecutive sequences, and reports a refused condition
// as the server's error, storing nothing.
func TestPublish(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	nc := r.JS.Conn()
	msgs := func(expect ...uint64) []*nats.Msg {
		var out []*nats.Msg
		for i, x := range expect {
			m := &nats.Msg{Subject: fmt.Sprintf("$KV.%s.k%d", natsjs.BucketIdempotency, i), Data: []byte("v"), Header: nats.Header{}}
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(x, 10))
			out = append(out, m)
		}
		return out
	}
	ack, err := natsbatch.Publish(ctx, nc, msgs(0, 0, 0))
	if err != nil || ack.Count != 3 {
		t.Fatalf("a batch of three: %+v, %v", ack, err)
	}
	_, err = natsbatch.Publish(ctx, nc, msgs(ack.Seq-2, 0, ack.Seq))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("a batch with a failing condition: %v, want the server's refusal", err)
	}
	for i := range 3 {
		e, err := r.Idempotency.Get(ctx, fmt.Sprintf("k%d", i))
		if err != nil || e.Revision() != ack.Seq-uint64(2-i) {
			t.Fatalf("k%d: %v %v: the refused batch stored something, or the first did not", i, e, err)
		}
	}
}
