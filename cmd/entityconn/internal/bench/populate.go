package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/events"
)

// populate starts an embedded server without fsync on data, sets entityconn up with a
// directory of e entities, and stores n requests, one per pair, as the service would. The
// requests occurred a microsecond apart, from the time it returns as from to the one it
// returns as to.
func populate(ctx context.Context, data string, e, n int, progress io.Writer) (from, to time.Time, err error) {
	ns, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: data, InProcessOnly: true})
	if err != nil {
		return from, to, err
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns))
	if err != nil {
		return from, to, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return from, to, err
	}
	res, err := natsjs.Setup(ctx, js, 1)
	if err != nil {
		return from, to, err
	}
	if _, _, err := natsjs.NewDirectoryStore(res, nil).Import(ctx, []byte(benchDirectory(e))); err != nil {
		return from, to, err
	}
	bar := newBar(progress, n, "storing requests")
	defer bar.Close()
	at := time.Now().UTC()
	for k := range n {
		src, tgt := pairOf(k, e)
		ev := events.Event{EventID: uuid.NewString(), Type: events.TypeConnectionRequested, ConnectionID: uuid.NewString(),
			SourceEntityID: src, TargetEntityID: tgt, ActorUserID: "bench", ActorEntityID: src, OccurredAt: at.Add(time.Duration(k) * time.Microsecond)}
		body, _ := events.Encode(ev)
		m := &nats.Msg{Subject: natsjs.AppendSubject(ev), Data: body, Header: nats.Header{}}
		m.Header.Set(events.HeaderMsgID, ev.EventID)
		m.Header.Set(events.HeaderConnectionID, ev.ConnectionID)
		if _, err := js.PublishMsgAsync(m, jetstream.WithExpectLastSequenceForSubject(0, events.PairSubject(src, tgt))); err != nil {
			return from, to, err
		}
		if k%1024 == 1023 {
			_ = bar.Set(k + 1)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return from, to, ctx.Err()
	}
	_ = bar.Set(n)
	info, err := res.Events.Info(ctx)
	if err != nil {
		return from, to, err
	}
	if int(info.State.Msgs) != n {
		return from, to, fmt.Errorf("stored %d of %d requests", info.State.Msgs, n)
	}
	return at, at.Add(time.Duration(max(n-1, 0)) * time.Microsecond), nil
}

// benchOrderedRead reads every event with an ordered consumer and returns events per second.
func benchOrderedRead(ctx context.Context, res *natsjs.Resources, n uint64, progress io.Writer) (float64, error) {
	cons, err := res.Events.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return 0, err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1024))
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	bar := newBar(progress, int(n), "raw ordered read")
	defer bar.Close()
	start := time.Now()
	for i := uint64(1); i <= n; i++ {
		if _, err := it.Next(); err != nil {
			return 0, err
		}
		if i%4096 == 0 {
			_ = bar.Set64(int64(i))
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
