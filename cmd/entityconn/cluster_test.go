package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natscmd"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/events"
)

// TestOnAThreeNodeCluster runs two replicas with --replicas 3 on a 3-node JetStream cluster,
// where a lost race is reported with another error code than on a single server.
func TestOnAThreeNodeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	t.Parallel()
	_, url := natsjstest.Cluster(t, 3)
	a := startService(t, "--nats-url", url, "--replicas", "3")
	b := startService(t, "--nats-url", url, "--replicas", "3")
	root := a.token("root")
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			s := []*service{a, b}[i%2]
			r := s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`)
			mu.Lock()
			codes[r.Status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[200] != 1 || codes[409] != 39 {
		t.Errorf("40 concurrent requests on the cluster: %v, want one 200 and 39 409", codes)
	}
	js := jsOf(t, natsjstest.Connect(t, url))
	if n := eventCount(t, js, "entityconn.events.global.eu.>"); n != 1 {
		t.Errorf("events for global→eu = %d, want 1", n)
	}
	st, err := js.Stream(context.Background(), events.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if r := st.CachedInfo().Config.Replicas; r != 3 {
		t.Errorf("event stream replicas = %d, want 3", r)
	}
	eve := b.token("eve")
	l := must(t, b.call("GET", "/v1/entity-connections?type=inbound&status=Pending", eve, "eu", ""), 200)
	eventually(t, "the request is in eu's inbound view", func() bool {
		l = b.call("GET", "/v1/entity-connections?type=inbound&status=Pending", eve, "eu", "")
		return len(l.Body["entityConnections"].([]any)) == 1
	})
	id := str(l.Body["entityConnections"].([]any)[0].(map[string]any)["id"])
	must(t, a.call("PUT", "/v1/entity-connections/"+id+"/accept", eve, "eu", ""), 200)

	// The replicas gather the leaders of the streams, buckets and consumer a command needs
	// on the event stream's leader (--gather-leaders).
	groups := []string{"KV_" + natsjs.BucketIdempotency, "KV_" + natsjs.BucketViews, natscmd.StreamCommands, natscmd.StreamOutcomes}
	var away []string
	defer func() {
		if t.Failed() {
			t.Logf("leaders away from the event stream's: %v", away)
		}
	}()
	eventually(t, "the leaders gathered on the event stream's leader", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		leader := func(s jetstream.Stream, err error) string {
			if err != nil {
				return "?"
			}
			return s.CachedInfo().Cluster.Leader
		}
		target := leader(js.Stream(ctx, events.Stream))
		away = away[:0]
		for _, g := range groups {
			if l := leader(js.Stream(ctx, g)); l != target {
				away = append(away, g+" on "+l)
			}
		}
		c, err := js.Consumer(ctx, natscmd.StreamCommands, natscmd.ConsumerName)
		if err != nil || c.CachedInfo().Cluster.Leader != target {
			away = append(away, "the durable door's consumer")
		}
		return len(away) == 0
	})
}
