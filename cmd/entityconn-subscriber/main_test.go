package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/events"
)

var at = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// world is an embedded NATS with entityconn's streams, and a way to store events in it.
type world struct {
	url   string
	res   *natsjs.Resources
	store *natsjs.Store
	last  map[string]uint64 // the pair's last sequence, for conditional appends
}

func newWorld(t *testing.T) *world {
	t.Helper()
	_, url := natsjstest.Single(t)
	js, err := jetstream.New(natsjstest.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	res, err := natsjs.Setup(t.Context(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	return &world{url: url, res: res, store: natsjs.NewStore(res), last: map[string]uint64{}}
}

// connect stores a request and its acceptance from source to target; the events ids are
// conn+"-r" and conn+"-a".
func (w *world) connect(t *testing.T, conn, source, target string) events.Event {
	t.Helper()
	var accepted events.Event
	for _, step := range []struct {
		id    string
		typ   events.Type
		actor string
	}{{conn + "-r", events.TypeConnectionRequested, source}, {conn + "-a", events.TypeConnectionAccepted, target}} {
		e := events.Event{EventID: step.id, Type: step.typ, ConnectionID: conn, SourceEntityID: source, TargetEntityID: target,
			ActorUserID: "admin-of-" + step.actor, ActorEntityID: step.actor, OccurredAt: at}
		seq, err := w.store.Append(t.Context(), e, w.last[source+">"+target])
		if err != nil {
			t.Fatalf("Append(%s %s) = %v", step.typ, conn, err)
		}
		w.last[source+">"+target], accepted = seq, e
	}
	return accepted
}

// env signs the subscriber in; the test's NATS server has no authentication and ignores it.
func env(k string) string {
	return map[string]string{"ENTITYCONN_CLIENT_ID": "eu-admin", "ENTITYCONN_CLIENT_SECRET": "eu-admin-secret"}[k]
}

// subscriber is run going in the background.
type subscriber struct {
	out, errs *syncBuffer
	cancel    context.CancelFunc
	done      chan int
}

func start(t *testing.T, args ...string) *subscriber {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s := &subscriber{out: &syncBuffer{}, errs: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() { s.done <- run(ctx, args, env, s.out, s.errs) }()
	t.Cleanup(cancel)
	return s
}

// waitFor polls the output until it contains want.
func (s *subscriber) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.out.String(), want) {
		select {
		case code := <-s.done:
			t.Fatalf("run exited with %d before printing %q:\n%s\n%s", code, want, s.out, s.errs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("run did not print %q within 20s:\nstdout:\n%s\nstderr:\n%s", want, s.out, s.errs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *subscriber) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		return code
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return within 20s of its context ending")
		return -1
	}
}

func line(e events.Event) string {
	return "connection " + e.ConnectionID + " from " + e.SourceEntityID + " to " + e.TargetEntityID +
		" accepted by " + e.ActorUserID + " at 2026-11-27T10:00:00Z\n"
}

func TestPrintsAcceptedConnectionsOfItsEntityOnce(t *testing.T) {
	w := newWorld(t)
	inbound := w.connect(t, "c1", "global", "eu")
	w.connect(t, "c2", "us", "apac") // another entity's: not printed
	// The same event again: the store's append is idempotent, and a publisher that bypasses
	// the stream's de-duplication (no Nats-Msg-Id, or after its 2-minute window) stores a copy.
	if _, err := w.store.Append(t.Context(), inbound, w.last["global>eu"]-1); err != nil {
		t.Fatalf("Append(the same accepted event) = %v", err)
	}
	body, err := events.Encode(inbound)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.res.JS.Publish(t.Context(), natsjs.AppendSubject(inbound), body); err != nil {
		t.Fatal(err)
	}

	s := start(t, "--nats-url", w.url, "--entity", "eu")
	s.waitFor(t, line(inbound))
	// An accepted connection of eu as the source, stored while run is going; once it is
	// printed, everything stored before it has been read.
	outbound := w.connect(t, "c3", "eu", "us")
	s.waitFor(t, line(outbound))
	if code := s.stop(t); code != 0 {
		t.Errorf("run = %d after its context ended, want 0; stderr:\n%s", code, s.errs)
	}
	if got, want := s.out.String(), line(inbound)+line(outbound); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

func TestDurableResumes(t *testing.T) {
	w := newWorld(t)
	first := w.connect(t, "c1", "global", "eu")
	s := start(t, "--nats-url", w.url, "--entity", "eu", "--durable", "eu-admin-sharing")
	s.waitFor(t, line(first))
	if code := s.stop(t); code != 0 {
		t.Fatalf("run = %d, want 0; stderr:\n%s", code, s.errs)
	}
	// Acknowledgements are asynchronous: wait until the server has the first one.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := w.res.JS.Consumer(t.Context(), events.Stream, "eu-admin-sharing-in")
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if info.AckFloor.Stream >= w.last["global>eu"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the durable consumer's ack floor is %d, want %d", info.AckFloor.Stream, w.last["global>eu"])
		}
		time.Sleep(10 * time.Millisecond)
	}

	second := w.connect(t, "c2", "apac", "eu")
	s = start(t, "--nats-url", w.url, "--entity", "eu", "--durable", "eu-admin-sharing")
	s.waitFor(t, line(second))
	s.stop(t)
	if got := s.out.String(); got != line(second) {
		t.Errorf("second run printed:\n%s\nwant only the connection accepted since the first:\n%s", got, line(second))
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"--entity", "eu.*"}, {"--entity", "eu", "extra"}, {"--bogus"}} {
		var out, errs syncBuffer
		if code := run(t.Context(), args, env, &out, &errs); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
	var out, errs syncBuffer
	if code := run(t.Context(), []string{"--entity", "eu"}, func(string) string { return "" }, &out, &errs); code != 2 || !strings.Contains(errs.String(), "ENTITYCONN_CLIENT_ID") {
		t.Errorf("run without credentials = %d, %q; want 2 naming ENTITYCONN_CLIENT_ID", code, errs.String())
	}
	if code := run(t.Context(), []string{"--entity", "eu", "--nats-url", "nats://127.0.0.1:1"}, env, &out, &errs); code != 1 {
		t.Errorf("run without a NATS server = %d, want 1; stderr: %s", code, errs.String())
	}
}

// object stores an event of the product id over conn from source to target.
func (w *world) object(t *testing.T, typ events.Type, conn, source, target, id, reason string) {
	t.Helper()
	e := events.Event{EventID: conn + "-" + string(typ) + "-" + id + "-" + reason, Type: typ, ConnectionID: conn, SourceEntityID: source,
		TargetEntityID: target, ActorUserID: "admin-of-" + source, ActorEntityID: source, OccurredAt: at,
		ObjectType: "Product", ObjectID: id, Reason: reason}
	seq, err := w.store.Append(t.Context(), e, w.last[source+">"+target])
	if err != nil {
		t.Fatalf("Append(%s %s) = %v", typ, id, err)
	}
	w.last[source+">"+target] = seq
}

// The sync worker keeps the set of objects shared with its entity: it adds a share, removes
// an unshare and the end of every share of a disconnected connection, and ignores what the
// entity shares with others.
func TestSyncsTheObjectsSharedWithItsEntity(t *testing.T) {
	w := newWorld(t)
	w.connect(t, "c1", "global", "eu")
	w.connect(t, "c2", "eu", "us")
	w.object(t, events.TypeObjectShared, "c1", "global", "eu", "P-1", "")
	w.object(t, events.TypeObjectShared, "c1", "global", "eu", "P-2", "")
	w.object(t, events.TypeObjectShared, "c2", "eu", "us", "P-9", "") // eu shares it: not synced

	s := start(t, "--nats-url", w.url, "--entity", "eu")
	s.waitFor(t, "+ Product P-2 shared by global (2 objects)\n")
	w.object(t, events.TypeObjectUnshared, "c1", "global", "eu", "P-1", events.ReasonUnshared)
	s.waitFor(t, "- Product P-1 no longer shared by global: unshared (1 objects)\n")
	disc := events.Event{EventID: "c1-d", Type: events.TypeConnectionDisconnected, ConnectionID: "c1", SourceEntityID: "global",
		TargetEntityID: "eu", ActorUserID: "admin-of-eu", ActorEntityID: "eu", OccurredAt: at}
	seq, err := w.store.Append(t.Context(), disc, w.last["global>eu"])
	if err != nil {
		t.Fatal(err)
	}
	w.last["global>eu"] = seq
	w.object(t, events.TypeObjectUnshared, "c1", "global", "eu", "P-2", events.ReasonConnectionEnded)
	s.waitFor(t, "- Product P-2 no longer shared by global: connection-ended (0 objects)\n")
	s.stop(t)
	if out := s.out.String(); strings.Contains(out, "P-9") || strings.Count(out, "+ ") != 2 || strings.Count(out, "- ") != 2 {
		t.Errorf("output:\n%s\nwant two adds and two removes, nothing of P-9", out)
	}
}

// syncBuffer is apptest.SyncBuffer: written by a command or server while the test reads it.
type syncBuffer = apptest.SyncBuffer
