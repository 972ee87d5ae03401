package natsauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/natscmd"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// A push consumer delivers to the subject its creator chose, which NATS does not check
// against the creator's permissions. eve may create consumers on her entity's views and
// events and subscribe to eu's events and outcomes (contract §5a), so she can make such
// deliveries go where she listens. None of them may land in the event or outcome stream as if
// the service had written it (docs/decisions.md, decision 17).
func TestConsumerDeliveriesCannotForgeEventsOrOutcomes(t *testing.T) {
	st := apptest.Start(t)
	ctx := t.Context()
	if err := natscmd.Setup(ctx, st.JS, 1); err != nil {
		t.Fatal(err)
	}
	res, err := st.Service.Execute(ctx, app.Principal{UserID: "root", EntityID: "global"},
		app.CommandID{Door: app.DoorREST, Key: "forge-seed"}, domain.RequestConnection{Target: "eu"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := st.Service.Execute(ctx, app.Principal{UserID: "root", EntityID: "eu"},
		app.CommandID{Door: app.DoorREST, Key: "forge-seed-2"}, domain.RequestConnection{Target: "us"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Views.WaitFor(ctx, max(res.Sequence, out.Sequence)); err != nil {
		t.Fatal(err)
	}
	count := func(stream string) uint64 {
		s, err := st.JS.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	eventsBefore, outcomesBefore := count(events.Stream), count(natscmd.StreamOutcomes)

	eve := st.ConnectAs(t, "eve")
	js, err := jetstream.New(eve)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *nats.Msg, 64)
	for _, c := range []struct {
		stream, filter, deliver string
	}{
		{"KV_" + natsjs.BucketViews, "$KV." + natsjs.BucketViews + ".inbound.eu.>", "entityconn.events.eu.us.ConnectionAccepted"},
		{"KV_" + natsjs.BucketViews, "$KV." + natsjs.BucketViews + ".outbound.eu.>", "entityconn.outcomes.eu"},
		{events.Stream, "entityconn.events.*.eu.>", "entityconn.events.eu.apac.ConnectionRequested"},
	} {
		// Interest where the deliveries go (a consumer delivers to a literal subscription of
		// its subject): eve may subscribe there.
		if _, err := eve.ChanSubscribe(c.deliver, got); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		pc, err := js.CreateOrUpdatePushConsumer(cctx, c.stream, jetstream.ConsumerConfig{
			FilterSubject: c.filter, DeliverSubject: c.deliver, DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy: jetstream.AckNonePolicy, InactiveThreshold: time.Minute,
		})
		cancel()
		if err == nil {
			name := pc.CachedInfo().Name
			defer func() {
				s, _ := st.JS.Stream(ctx, c.stream)
				ci, err := s.Consumer(ctx, name)
				if err == nil {
					info, _ := ci.Info(ctx)
					t.Logf("consumer %s → %s: delivered %+v active %v", c.stream, c.deliver, info.Delivered, info.PushBound)
				}
			}()
		}
		// The server refuses a consumer whose deliveries would loop into its own stream (the
		// last one, as long as the event stream takes messages on entityconn.events); what
		// matters is that nothing is stored.
		t.Logf("push consumer on %s delivering to %s: %v", c.stream, c.deliver, err)
	}
	// The deliveries arrive (eve listens), and are not stored.
	deadline := time.After(2 * time.Second)
	delivered := 0
	for done := false; !done; {
		select {
		case m := <-got:
			t.Logf("delivered on %s: %.80s", m.Subject, m.Data)
			delivered++
		case <-deadline:
			done = true
		}
	}
	if delivered == 0 {
		t.Fatal("no delivery reached eve: the test does not exercise what it means to")
	}
	if after := count(events.Stream); after != eventsBefore {
		t.Errorf("event stream: %d messages before eve's consumers, %d after: a delivery was stored as an event", eventsBefore, after)
	}
	if after := count(natscmd.StreamOutcomes); after != outcomesBefore {
		t.Errorf("outcome stream: %d messages before eve's consumers, %d after: a delivery was stored as an outcome", outcomesBefore, after)
	}
}
