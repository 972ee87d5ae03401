package natsclient_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsclient"
	"github.com/entityconn/entityconn/events"
)

// recorder collects the events a handler gets.
type recorder struct {
	mu   sync.Mutex
	got  []string
	errs []error
	fail func(events.Event) error // nil: accept every event
}

func (r *recorder) handle(e events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, key(e))
	if r.fail != nil {
		return r.fail(e)
	}
	return nil
}

func (r *recorder) onError(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

// wait returns the events recorded once there are n of them, failing the test after 10 s.
func (r *recorder) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := slices.Clone(r.got)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d events within 10s, want %d: %q", len(got), n, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *recorder) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// key names an event for comparisons: "Type source→target connectionId".
func key(e events.Event) string {
	return fmt.Sprintf("%s %s→%s %s", e.Type, e.SourceEntityID, e.TargetEntityID, e.ConnectionID)
}

// samePerConnection reports whether got holds the events of want, each connection's in the
// same order: a subscription reads each direction through a consumer of its own, so the two
// directions interleave as they arrive, but a connection's events are all in one direction.
func samePerConnection(got, want []string) bool {
	group := func(keys []string) map[string][]string {
		m := map[string][]string{}
		for _, k := range keys {
			id := k[strings.LastIndex(k, " ")+1:]
			m[id] = append(m[id], k)
		}
		return m
	}
	g, w := group(got), group(want)
	if len(got) != len(want) || len(g) != len(w) {
		return false
	}
	for id, ks := range w {
		if !slices.Equal(g[id], ks) {
			return false
		}
	}
	return true
}

func want(t events.Type, source, target string, res natsclient.Result) string {
	return fmt.Sprintf("%s %s→%s %s", t, source, target, res.ConnectionID)
}

func subscribe(t *testing.T, c *natsclient.Client, entity string, r *recorder, opts ...natsclient.SubscribeOption) natsclient.Subscription {
	t.Helper()
	sub, err := c.Subscribe(t.Context(), entity, r.handle, append(opts, natsclient.OnError(r.onError))...)
	if err != nil {
		t.Fatalf("Subscribe(%s) = %v", entity, err)
	}
	t.Cleanup(sub.Stop)
	return sub
}

func TestSubscribeDeliversTheEntitysEventsInOrder(t *testing.T) {
	s := startService(t)
	c := s.client(t, natsclient.WithActor("root", "global"))
	ctx := t.Context()
	var eu, us recorder
	subscribe(t, c, "eu", &eu)
	subscribe(t, c, "us", &us)

	r1 := request(t, c, "eu")                              // inbound for eu
	r2 := request(t, c, "us")                              // not eu's
	r3 := request(t, c, "us", natsclient.As("root", "eu")) // outbound for eu, inbound for us
	if _, err := c.Accept(ctx, r1.ConnectionID, natsclient.As("eve", "eu")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Accept(ctx, r3.ConnectionID, natsclient.As("root", "us")); err != nil {
		t.Fatal(err)
	}

	wantEU := []string{
		want(events.TypeConnectionRequested, "global", "eu", r1),
		want(events.TypeConnectionRequested, "eu", "us", r3),
		want(events.TypeConnectionAccepted, "global", "eu", r1),
		want(events.TypeConnectionAccepted, "eu", "us", r3),
	}
	if got := eu.wait(t, len(wantEU)); !samePerConnection(got, wantEU) {
		t.Errorf("eu's subscription got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantEU, "\n"))
	}
	wantUS := []string{
		want(events.TypeConnectionRequested, "global", "us", r2),
		want(events.TypeConnectionRequested, "eu", "us", r3),
		want(events.TypeConnectionAccepted, "eu", "us", r3),
	}
	if got := us.wait(t, len(wantUS)); !samePerConnection(got, wantUS) {
		t.Errorf("us's subscription got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantUS, "\n"))
	}
	if errs := eu.errors(); len(errs) > 0 {
		t.Errorf("OnError got %v", errs)
	}
}

func TestSubscribeFromStartAndTypes(t *testing.T) {
	s := startService(t)
	c := s.client(t, natsclient.WithActor("root", "global"))
	ctx := t.Context()
	r1 := request(t, c, "eu")
	if _, err := c.Accept(ctx, r1.ConnectionID, natsclient.As("eve", "eu")); err != nil {
		t.Fatal(err)
	}
	r2 := request(t, c, "us", natsclient.As("root", "eu"))
	if _, err := c.Cancel(ctx, r2.ConnectionID, natsclient.As("root", "eu")); err != nil {
		t.Fatal(err)
	}

	var all, some recorder
	subscribe(t, c, "eu", &all, natsclient.FromStart())
	subscribe(t, c, "eu", &some, natsclient.FromStart(),
		natsclient.Types(events.TypeConnectionAccepted, events.TypeConnectionCancelled, events.TypeConnectionAccepted))

	wantAll := []string{
		want(events.TypeConnectionRequested, "global", "eu", r1),
		want(events.TypeConnectionAccepted, "global", "eu", r1),
		want(events.TypeConnectionRequested, "eu", "us", r2),
		want(events.TypeConnectionCancelled, "eu", "us", r2),
	}
	if got := all.wait(t, len(wantAll)); !samePerConnection(got, wantAll) {
		t.Errorf("FromStart got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantAll, "\n"))
	}
	wantSome := []string{
		want(events.TypeConnectionAccepted, "global", "eu", r1),
		want(events.TypeConnectionCancelled, "eu", "us", r2),
	}
	if got := some.wait(t, len(wantSome)); !samePerConnection(got, wantSome) {
		t.Errorf("FromStart, Types(Accepted, Cancelled) got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantSome, "\n"))
	}

	for _, bad := range []struct {
		entity string
		opts   []natsclient.SubscribeOption
	}{
		{"eu.*", nil},
		{"", nil},
		{"eu", []natsclient.SubscribeOption{natsclient.Types("ConnectionFrozen")}},
		{"eu", []natsclient.SubscribeOption{natsclient.Durable("a.b")}},
		{"eu", []natsclient.SubscribeOption{natsclient.Durable("eve-audit")}}, // svc's durables are svc-…
	} {
		if _, err := c.Subscribe(ctx, bad.entity, func(events.Event) error { return nil }, bad.opts...); !errors.Is(err, natsclient.ErrInvalid) {
			t.Errorf("Subscribe(%q, %d options) = %v, want ErrInvalid", bad.entity, len(bad.opts), err)
		}
	}
}

func TestSubscribeSkipsUnknownTypes(t *testing.T) {
	s := startService(t)
	c := s.client(t, natsclient.WithActor("root", "global"))
	var eu recorder
	subscribe(t, c, "eu", &eu)

	// An event of a type a newer service might write, on a pair nothing else uses.
	future := `{"eventId":"e-future","type":"ConnectionFrozen","connectionId":"c-1","sourceEntityId":"eu","targetEntityId":"apac",` +
		`"actorUserId":"root","actorEntityId":"eu","occurredAt":"2026-11-27T10:00:00Z","reason":""}`
	if _, err := s.js.Publish(t.Context(), "entityconn.store.events.eu.apac.ConnectionFrozen", []byte(future)); err != nil {
		t.Fatal(err)
	}
	r1 := request(t, c, "eu")
	wantEU := []string{want(events.TypeConnectionRequested, "global", "eu", r1)}
	if got := eu.wait(t, 1); !slices.Equal(got, wantEU) {
		t.Errorf("got %q, want %q (the unknown type skipped)", got, wantEU)
	}
	if errs := eu.errors(); len(errs) > 0 {
		t.Errorf("OnError got %v; an unknown type is not an error", errs)
	}
}

func TestDurableSubscriptionResumes(t *testing.T) {
	s := startService(t)
	c := s.client(t, natsclient.WithActor("root", "global"))
	ctx := t.Context()

	var first recorder
	sub := subscribe(t, c, "eu", &first, natsclient.Durable("svc-eu-audit"))
	r1 := request(t, c, "eu")
	if got, w := first.wait(t, 1), want(events.TypeConnectionRequested, "global", "eu", r1); !slices.Equal(got, []string{w}) {
		t.Fatalf("durable subscription got %q, want %q", got, w)
	}
	sub.Stop()

	// Events while no one listens.
	if _, err := c.Accept(ctx, r1.ConnectionID, natsclient.As("eve", "eu")); err != nil {
		t.Fatal(err)
	}
	r2 := request(t, c, "us", natsclient.As("root", "eu"))
	if _, err := c.Cancel(ctx, r2.ConnectionID, natsclient.As("root", "eu")); err != nil {
		t.Fatal(err)
	}

	// Restarted (with another client, as after a process restart), it resumes after the last
	// acknowledged event. Its handler fails once: the event comes again, before later ones.
	failed := false
	second := recorder{fail: func(e events.Event) error {
		if !failed && e.Type == events.TypeConnectionAccepted {
			failed = true
			return errors.New("database down")
		}
		return nil
	}}
	subscribe(t, s.client(t, natsclient.WithActor("root", "global")), "eu", &second, natsclient.Durable("svc-eu-audit"))
	accepted := want(events.TypeConnectionAccepted, "global", "eu", r1)
	wantCalls := []string{
		accepted,
		accepted,
		want(events.TypeConnectionRequested, "eu", "us", r2),
		want(events.TypeConnectionCancelled, "eu", "us", r2),
	}
	if got := second.wait(t, len(wantCalls)); !samePerConnection(got, wantCalls) {
		t.Errorf("resumed durable subscription got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantCalls, "\n"))
	}
	if errs := second.errors(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "database down") {
		t.Errorf("OnError got %v; want the handler's error once", errs)
	}
	for name, filter := range map[string]string{"svc-eu-audit-out": "entityconn.events.eu.>", "svc-eu-audit-in": "entityconn.events.*.eu.*"} {
		cons, err := s.js.Consumer(ctx, events.Stream, name)
		if err != nil {
			t.Fatalf("durable consumer %s: %v", name, err)
		}
		if info := cons.CachedInfo(); info.Config.AckPolicy != jetstream.AckExplicitPolicy || info.Config.FilterSubject != filter {
			t.Errorf("durable consumer %s config = %+v; want explicit acks filtered to %s", name, info.Config, filter)
		}
	}
}

func TestSubscriptionEndsWithItsContext(t *testing.T) {
	s := startService(t)
	c := s.client(t, natsclient.WithActor("root", "global"))
	ctx, cancel := context.WithCancel(t.Context())
	if _, err := c.Subscribe(ctx, "eu", func(events.Event) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := consumersOf(t, s, "eu"); n != 2 {
		t.Fatalf("%d consumers of eu's events while subscribed, want 2 (one per direction)", n)
	}
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for consumersOf(t, s, "eu") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the ordered consumers are still there 10s after the subscription's context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// consumersOf counts the consumers on the event stream that read entity's events.
func consumersOf(t *testing.T, s *service, entity string) int {
	t.Helper()
	n := 0
	list := s.res.Events.ListConsumers(t.Context())
	for info := range list.Info() {
		if f := info.Config.FilterSubject; f == "entityconn.events."+entity+".>" || f == "entityconn.events.*."+entity+".*" {
			n++
		}
	}
	if err := list.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// A plain directory user subscribes with the permissions of contract §5a alone: to the
// entities it can access, ordered or durable, and to no other.
func TestAUserSubscribesToItsOwnEntitiesOnly(t *testing.T) {
	s := startService(t)
	svc := s.client(t, natsclient.WithActor("root", "global"))
	eve := s.clientAs(t, "eve", natsclient.WithActor("eve", "eu"), natsclient.WithTimeout(2*time.Second))
	var ordered, durable recorder
	subscribe(t, eve, "eu", &ordered)
	subscribe(t, eve, "eu", &durable, natsclient.Durable("eve-audit"), natsclient.FromStart())

	r1 := request(t, svc, "eu")
	if _, err := eve.Accept(t.Context(), r1.ConnectionID); err != nil {
		t.Fatal(err)
	}
	wantEU := []string{
		want(events.TypeConnectionRequested, "global", "eu", r1),
		want(events.TypeConnectionAccepted, "global", "eu", r1),
	}
	for name, r := range map[string]*recorder{"ordered": &ordered, "durable": &durable} {
		if got := r.wait(t, len(wantEU)); !samePerConnection(got, wantEU) {
			t.Errorf("eve's %s subscription to eu got %q, want %q", name, got, wantEU)
		}
		if errs := r.errors(); len(errs) > 0 {
			t.Errorf("eve's %s subscription: OnError got %v", name, errs)
		}
	}
	if _, err := eve.Subscribe(t.Context(), "us", func(events.Event) error { return nil }); err == nil {
		t.Error("eve subscribed to us's events, which she cannot access")
	}
}
