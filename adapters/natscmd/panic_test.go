package natscmd

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/natsjs"
)

// lockedBuffer is a log destination safe for the door's goroutines.
type lockedBuffer = apptest.SyncBuffer

// A panic while handling a command (here: the service has no event store, so a request
// panics on its first read of the pair) is a bug that another delivery will not cure: the
// command gets an internal error outcome at once, is logged and moved to the poison stream,
// is not delivered again, and the door goes on handling the next commands.
func TestPanicWhileHandlingIsAnInternalErrorOutcome(t *testing.T) {
	s := newStack(t)
	dirs := natsjs.NewDirectoryStore(s.res, nil)
	if _, err := dirs.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	svc := app.New(app.Config{Store: nil, Views: natsjs.NewViews(s.res, nil), Directory: dirs, Outcomes: natsjs.NewOutcomes(s.res)})
	s.x = &natsapi.Executor{Service: svc}
	var logs lockedBuffer
	s.start(t, Config{Log: slog.New(slog.NewTextHandler(&logs, nil))})

	if err := Publish(t.Context(), s.js, "root", "RequestConnection", natsapi.Request{CommandID: "p-1", ActorUserID: "root", EntityID: "global", TargetEntityID: "eu"}); err != nil {
		t.Fatal(err)
	}
	o := s.waitOutcome(t, "p-1")
	if o.OK || o.Error == nil || o.Error.Code != 53000060 || !strings.Contains(o.Error.Message, "internal error") {
		t.Fatalf("outcome = %+v, want ok=false with code 53000060 and an internal error message", o.Outcome)
	}
	if o.subject != "entityconn.outcomes.global" {
		t.Errorf("outcome subject = %s, want entityconn.outcomes.global", o.subject)
	}
	var reason string
	eventually(t, "the poison message", func() bool {
		for _, m := range s.messages(t, StreamPoison) {
			if m.header.Get(HeaderCommandID) == "p-1" {
				reason = m.header.Get(HeaderPoisonReason)
				return true
			}
		}
		return false
	})
	if !strings.Contains(reason, "panic while handling the command") {
		t.Errorf("poison reason = %q, want it to name the panic", reason)
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"natscmd: panic while handling a command") || !strings.Contains(logs.String(), "commandId=p-1") {
		t.Errorf("logs do not report the panic of p-1 at error level:\n%s", logs.String())
	}

	// The door goes on: the next command, refused before it reaches the store, gets its own
	// outcome; another that panics gets its internal error too.
	if err := Publish(t.Context(), s.js, "eve", "RequestConnection", natsapi.Request{CommandID: "p-2", ActorUserID: "eve", EntityID: "global", TargetEntityID: "us"}); err != nil {
		t.Fatal(err)
	}
	if o := s.waitOutcome(t, "p-2"); o.OK || o.Error == nil || o.Error.Code != 53000010 {
		t.Fatalf("next command's outcome = %+v, want the permission refusal 53000010", o.Outcome)
	}
	if err := Publish(t.Context(), s.js, "root", "RequestConnection", natsapi.Request{CommandID: "p-3", ActorUserID: "root", EntityID: "global", TargetEntityID: "us"}); err != nil {
		t.Fatal(err)
	}
	if o := s.waitOutcome(t, "p-3"); o.OK || o.Error == nil || o.Error.Code != 53000060 {
		t.Fatalf("second panicking command's outcome = %+v, want 53000060", o.Outcome)
	}
	info := s.waitSettled(t)
	if info.Delivered.Consumer != 3 {
		t.Errorf("deliveries = %d, want 3: a command that panicked is not delivered again", info.Delivered.Consumer)
	}
	for _, id := range []string{"p-1", "p-2", "p-3"} {
		if n := len(s.outcomes(t, id)); n != 1 {
			t.Errorf("outcomes of %s = %d, want 1", id, n)
		}
	}
	if n := s.commandsLeft(t); n != 0 {
		t.Errorf("commands left on the work queue = %d, want 0", n)
	}
}

// panickyMsg is a JetStream message whose every method but those it overrides panics (the
// embedded interface is nil): the subscriber's own code, outside the router, meets a panic.
type panickyMsg struct {
	jetstream.Msg
	mu     sync.Mutex
	termed string
}

func (m *panickyMsg) Subject() string { return CommandSubject("root", "RequestConnection") }
func (m *panickyMsg) Data() []byte    { return []byte(`{"commandId":"x"}`) }
func (m *panickyMsg) TermWithReason(reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.termed = reason
	return nil
}

// A panic in the subscriber's goroutine, before the router has the message, is recovered and
// logged; the message is terminated so that it is not delivered again only to panic again.
func TestPanicWhileTakingACommandIsRecovered(t *testing.T) {
	var logs lockedBuffer
	sub := newSubscriber(nil, jetstream.ConsumerConfig{}, slog.New(slog.NewTextHandler(&logs, nil)), []string{unknownTopic}, 1, func(uint64) time.Duration { return time.Second })
	m := &panickyMsg{}

	sub.deliver(m) // must return, not panic

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.termed == "" {
		t.Error("message not terminated after the panic")
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"natscmd: panic while taking a command\"") {
		t.Errorf("logs do not report the panic at error level:\n%s", logs.String())
	}
}
