package natsbatch_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsbatch"
	"github.com/entityconn/entityconn/adapters/natsjs"
)

// BenchmarkBatchCost measures what JetStream charges for the ways entityconn could write to
// one stream of one replica on file storage, on a server that syncs every write (serve's
// default), in one run: 64 writers each waiting for its acknowledgement (the benchmark's raw
// row), one writer pipelining its writes (and two, on connections of their own), and atomic
// batches of 1 to 1,000 messages. Every
// message is conditional (Nats-Expected-Last-Subject-Sequence) on a subject of its own, as
// events and views are. It does so for two streams: one persisted as the server says (synced
// on every write: the event stream) and one persisted asynchronously (the views bucket,
// decision 10). Each iteration writes 1,000 messages; msgs/s is the rate and ×singles its
// ratio to the 64 waiting writers on the same stream in this run, ms/batch the time a batch
// takes. The server refuses atomic batches on the stream persisted asynchronously, so it
// has no batch rows. Run it with -benchtime 3x (docs/performance.md, "What a batch costs").
func BenchmarkBatchCost(b *testing.B) {
	s, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: b.TempDir(), InProcessOnly: true, SyncAlways: true})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	// connect opens a connection of its own to s, closed when b ends.
	connect := func(b *testing.B) (*nats.Conn, jetstream.JetStream) {
		nc, err := nats.Connect(s.ClientURL(), nats.InProcessServer(s))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			b.Fatal(err)
		}
		return nc, js
	}
	nc, js := connect(b)
	const perOp = 1000
	for _, st := range []struct {
		name    string
		persist jetstream.PersistModeType
	}{{"synced", jetstream.DefaultPersistMode}, {"async-persisted", jetstream.AsyncPersistMode}} {
		// The server refuses atomic batches on a stream persisted asynchronously ("async
		// persist mode is not supported with atomic batch publish").
		atomicOK := st.persist != jetstream.AsyncPersistMode
		_, err := js.CreateStream(b.Context(), jetstream.StreamConfig{Name: "COST_" + st.name, Subjects: []string{"cost." + st.name + ".>"},
			Storage: jetstream.FileStorage, AllowAtomicPublish: atomicOK, PersistMode: st.persist})
		if err != nil {
			b.Fatal(err)
		}
		var next atomic.Uint64 // every message goes to a subject of its own
		msg := func() *nats.Msg {
			m := nats.NewMsg("cost." + st.name + "." + strconv.FormatUint(next.Add(1), 10))
			m.Data = []byte(`{"connectionId":"3f0c2a5e-9f55-4d3e-8a1a-0c6a1f1f9d7b","status":"Connected","sourceEntityId":"global","targetEntityId":"eu"}`)
			m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
			return m
		}
		singles := 0.0
		b.Run(st.name+"/singles-64", func(b *testing.B) {
			start := time.Now()
			for b.Loop() {
				var wg sync.WaitGroup
				var left atomic.Int64
				left.Store(perOp)
				for range 64 {
					wg.Go(func() {
						for left.Add(-1) >= 0 {
							if _, err := js.PublishMsg(b.Context(), msg()); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			}
			singles = report(b, start, perOp, 0, 0)
		})
		// pipelined publishes perOp/len(jss) messages on each of jss, side by side, without
		// waiting for acknowledgements before the last is sent.
		pipelined := func(b *testing.B, jss []jetstream.JetStream) {
			start := time.Now()
			for b.Loop() {
				var wg sync.WaitGroup
				for _, js := range jss {
					wg.Go(func() {
						futures := make([]jetstream.PubAckFuture, 0, perOp/len(jss))
						for range perOp / len(jss) {
							f, err := js.PublishMsgAsync(msg())
							if err != nil {
								b.Error(err)
								return
							}
							futures = append(futures, f)
						}
						for _, f := range futures {
							select {
							case <-f.Ok():
							case err := <-f.Err():
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			}
			report(b, start, perOp, 0, singles)
		}
		b.Run(st.name+"/pipelined", func(b *testing.B) { pipelined(b, []jetstream.JetStream{js}) })
		b.Run(st.name+"/pipelined-2-connections", func(b *testing.B) {
			_, js2 := connect(b)
			pipelined(b, []jetstream.JetStream{js, js2})
		})
		for _, size := range []int{1, 8, 32, 128, 1000} {
			if !atomicOK {
				break
			}
			b.Run(fmt.Sprintf("%s/atomic-%d", st.name, size), func(b *testing.B) {
				start := time.Now()
				for b.Loop() {
					for range perOp / size {
						msgs := make([]*nats.Msg, size)
						for i := range msgs {
							msgs[i] = msg()
						}
						ctx, cancel := context.WithTimeout(b.Context(), natsbatch.CommitTimeout)
						_, err := natsbatch.Publish(ctx, nc, msgs)
						cancel()
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				report(b, start, perOp, size, singles)
			})
		}
	}
}

// report reports the rate of b's messages (perOp an iteration), the time a batch of size
// took (size > 0) and the rate's ratio to singles (> 0), and returns the rate.
func report(b *testing.B, start time.Time, perOp, size int, singles float64) float64 {
	elapsed := time.Since(start)
	rate := float64(b.N*perOp) / elapsed.Seconds()
	b.ReportMetric(rate, "msgs/s")
	if size > 0 {
		b.ReportMetric(elapsed.Seconds()*1000/float64(b.N*perOp/size), "ms/batch")
	}
	if singles > 0 {
		b.ReportMetric(rate/singles, "×singles")
	}
	b.ReportMetric(0, "ns/op")
	return rate
}
