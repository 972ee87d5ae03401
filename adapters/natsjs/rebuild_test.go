package natsjs_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/events"
)

// BenchmarkRebuild stores ENTITYCONN_REBUILD_EVENTS requests (default 100,000) on an
// embedded server, then reads them once with an ordered consumer and rebuilds the views,
// reporting both rates and their ratio. ENTITYCONN_REBUILD_PROFILE names a file for a CPU
// profile of the rebuild. Run it with -benchtime=1x.
func BenchmarkRebuild(b *testing.B) {
	n := 100_000
	if s := os.Getenv("ENTITYCONN_REBUILD_EVENTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for b.Loop() {
		ns, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: b.TempDir(), Listen: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
		nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		ctx := context.Background()
		r, err := natsjs.Setup(ctx, js, 1)
		if err != nil {
			b.Fatal(err)
		}
		for k := range n {
			src, tgt := fmt.Sprintf("e%d", k%3000), fmt.Sprintf("e%d", (k/3000+k+1)%3000)
			ev := events.Event{EventID: uuid.NewString(), Type: events.TypeConnectionRequested, ConnectionID: uuid.NewString(),
				SourceEntityID: src, TargetEntityID: tgt, ActorUserID: "bench", ActorEntityID: src, OccurredAt: time.Now().UTC()}
			body, _ := events.Encode(ev)
			if _, err := js.PublishMsgAsync(&nats.Msg{Subject: natsjs.AppendSubject(ev), Data: body}); err != nil {
				b.Fatal(err)
			}
		}
		<-js.PublishAsyncComplete()

		cons, err := r.Events.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
		if err != nil {
			b.Fatal(err)
		}
		it, err := cons.Messages(jetstream.PullMaxMessages(1024))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for range n {
			if _, err := it.Next(); err != nil {
				b.Fatal(err)
			}
		}
		read := float64(n) / time.Since(start).Seconds()
		it.Stop()

		if f := os.Getenv("ENTITYCONN_REBUILD_PROFILE"); f != "" {
			out, err := os.Create(f)
			if err != nil {
				b.Fatal(err)
			}
			_ = pprof.StartCPUProfile(out)
		}
		start = time.Now()
		got, err := natsjs.Rebuild(ctx, r, nil, nil)
		rebuild := float64(got) / time.Since(start).Seconds()
		pprof.StopCPUProfile()
		if err != nil || got != uint64(n) {
			b.Fatalf("Rebuild = %d, %v; want %d", got, err, n)
		}
		b.ReportMetric(read, "read-events/s")
		b.ReportMetric(rebuild, "rebuild-events/s")
		b.ReportMetric(rebuild/read, "ratio")
	}
}
