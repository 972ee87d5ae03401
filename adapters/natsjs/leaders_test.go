package natsjs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

// Streams and a consumer whose leaders are spread over a 3-node cluster are gathered on the
// server that leads the first stream, and then stay there: a second check moves nothing.
func TestLeadersGatherOnTheFirstStreamsLeader(t *testing.T) {
	names := []string{"L0", "L1", "L2", "L3"}
	js, ctx := clusterWithStreams(t, names)
	if _, err := js.CreateOrUpdateConsumer(ctx, "L1", jetstream.ConsumerConfig{Durable: "C", Replicas: 3, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	servers := replicaNames(t, ctx, js, "L0")
	// Spread them: stream i led by server i%3, the consumer by a server other than L0's.
	for i, n := range names {
		moveLeader(t, ctx, js, "$JS.API.STREAM.LEADER.STEPDOWN."+n, func() string { return streamLeader(t, ctx, js, n) }, servers[i%3])
	}
	moveLeader(t, ctx, js, "$JS.API.CONSUMER.LEADER.STEPDOWN.L1.C", func() string { return consumerLeader(t, ctx, js, "L1", "C") }, servers[1])

	l := &natsjs.Leaders{JS: js, Streams: names, Consumers: []natsjs.ConsumerRef{{Stream: "L1", Name: "C"}}}
	target := streamLeader(t, ctx, js, "L0")
	moved, err := l.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("moves: %+v", moved)
	if len(moved) != 3 { // L1, L2 and C; L3 is on servers[0], with L0
		t.Errorf("first check: moves %+v, want L1, L2 and C", moved)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var away []string
		for _, n := range names {
			if got := streamLeader(t, ctx, js, n); got != target {
				away = append(away, fmt.Sprintf("stream %s on %s", n, got))
			}
		}
		if got := consumerLeader(t, ctx, js, "L1", "C"); got != target {
			away = append(away, "consumer C on "+got)
		}
		if len(away) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not gathered on %s after 30 s: %v", target, away)
		}
		time.Sleep(200 * time.Millisecond)
		if _, err := l.Once(ctx); err != nil {
			t.Log(err)
		}
	}
	again, err := l.Once(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("a second check: moves %+v, err %v; want none", again, err)
	}
}

// clusterWithStreams starts a 3-node cluster with an R3 stream of each name (subjects
// "<name>.>"), and returns a JetStream context on it and a context that ends with the test
// or after 90 s. It skips the test with -short.
func clusterWithStreams(t *testing.T, names []string) (jetstream.JetStream, context.Context) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	_, url := natsjstest.Cluster(t, 3)
	js, err := jetstream.New(natsjstest.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	t.Cleanup(cancel)
	for _, n := range names {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: n, Subjects: []string{n + ".>"}, Replicas: 3}); err != nil {
			t.Fatal(err)
		}
	}
	return js, ctx
}

// On a single server there is nothing to gather.
func TestLeadersOnASingleServerDoNothing(t *testing.T) {
	_, url := natsjstest.Single(t)
	js, err := jetstream.New(natsjstest.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range []string{"S0", "S1"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: n, Subjects: []string{n + ".>"}}); err != nil {
			t.Fatal(err)
		}
	}
	moved, err := (&natsjs.Leaders{JS: js, Streams: []string{"S0", "S1"}}).Once(ctx)
	if err != nil || len(moved) != 0 {
		t.Fatalf("moves %+v, err %v; want none", moved, err)
	}
}

func replicaNames(t *testing.T, ctx context.Context, js jetstream.JetStream, stream string) []string {
	t.Helper()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	ci := s.CachedInfo().Cluster
	names := []string{ci.Leader}
	for _, p := range ci.Replicas {
		names = append(names, p.Name)
	}
	if len(names) != 3 {
		t.Fatalf("stream %s: servers %v, want 3", stream, names)
	}
	return names
}

func streamLeader(t *testing.T, ctx context.Context, js jetstream.JetStream, stream string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Logf("stream %s: %v", stream, err)
		return "?"
	}
	return s.CachedInfo().Cluster.Leader
}

func consumerLeader(t *testing.T, ctx context.Context, js jetstream.JetStream, stream, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, name)
	if err != nil {
		t.Logf("consumer %s: %v", name, err)
		return "?"
	}
	return c.CachedInfo().Cluster.Leader
}

// moveLeader asks the group's leader to step down in favour of to until leader() says to.
func moveLeader(t *testing.T, ctx context.Context, js jetstream.JetStream, subject string, leader func() string, to string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	start := time.Now()
	defer func() { t.Logf("%s: moved to %s in %v", subject, to, time.Since(start)) }()
	for leader() != to {
		if time.Now().After(deadline) {
			t.Fatalf("%s: leader still %s, want %s", subject, leader(), to)
		}
		body, _ := json.Marshal(map[string]any{"placement": map[string]string{"preferred": to}})
		_, _ = js.Conn().RequestWithContext(ctx, subject, body)
		time.Sleep(300 * time.Millisecond)
	}
}

// Run reacts to JetStream's leader-elected advisories: a stream whose leader moved away from
// the first stream's is brought back within seconds, long before its timer (an hour here)
// would check.
func TestLeadersReturnSoonAfterAnElection(t *testing.T) {
	names := []string{"A0", "A1"}
	js, ctx := clusterWithStreams(t, names)
	servers := replicaNames(t, ctx, js, "A0")
	target := servers[0] // A0's leader
	moveLeader(t, ctx, js, "$JS.API.STREAM.LEADER.STEPDOWN.A1", func() string { return streamLeader(t, ctx, js, "A1") }, target)

	l := &natsjs.Leaders{JS: js, Streams: names, Every: time.Hour}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); l.Run(rctx) }()
	defer func() { stop(); <-done }()
	time.Sleep(500 * time.Millisecond) // Run subscribes to the advisories

	elected := make(chan string, 16)
	sub, err := js.Conn().Subscribe("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.A1", func(m *nats.Msg) {
		var a struct {
			Leader string `json:"leader"`
		}
		_ = json.Unmarshal(m.Data, &a)
		elected <- a.Leader
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	away := servers[1]
	body, _ := json.Marshal(map[string]any{"placement": map[string]string{"preferred": away}})
	var movedAt time.Time
	timeout := time.After(30 * time.Second)
	for ask := time.After(0); ; {
		select {
		case <-ask:
			if movedAt.IsZero() {
				_, _ = js.Conn().RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN.A1", body)
				ask = time.After(time.Second)
			}
		case leader := <-elected:
			switch {
			case leader == away && movedAt.IsZero():
				movedAt = time.Now()
			case leader == target && !movedAt.IsZero():
				t.Logf("A1 back on %s %v after it moved to %s", target, time.Since(movedAt).Round(time.Millisecond), away)
				if got := streamLeader(t, ctx, js, "A1"); got != target {
					t.Fatalf("A1 led by %s; want %s", got, target)
				}
				return
			}
		case <-timeout:
			t.Fatalf("A1 not moved away and back within 30 s (moved away at %v)", movedAt)
		}
	}
}
