package natscmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/events"
)

// stack is a real entityconn on an embedded NATS server, without any door.
type stack struct {
	st  *apptest.Stack
	url string
	nc  *nats.Conn
	js  jetstream.JetStream
	res *natsjs.Resources
	x   *natsapi.Executor
}

func newStack(t *testing.T) *stack {
	t.Helper()
	st := apptest.Start(t)
	if err := Setup(t.Context(), st.JS, 1); err != nil {
		t.Fatal(err)
	}
	return &stack{st: st, url: st.URL, nc: st.NC, js: st.JS, res: st.Res, x: st.Executor}
}

// start starts a door on its own connection (so that a test can cut it) and stops it when
// the test ends.
func (s *stack) start(t *testing.T, cfg Config) (*Door, *nats.Conn) {
	t.Helper()
	nc := s.st.ConnectService(t)
	d, err := Start(t.Context(), nc, s.x, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(d.Stop)
	return d, nc
}

func (s *stack) publish(t *testing.T, subject string, body []byte, hdr map[string]string) {
	t.Helper()
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	for k, v := range hdr {
		msg.Header.Set(k, v)
	}
	if _, err := s.js.PublishMsg(t.Context(), msg); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stored is a message of a stream.
type stored struct {
	subject string
	header  nats.Header
	data    []byte
}

func (s *stack) messages(t *testing.T, stream string) []stored {
	t.Helper()
	st, err := s.js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(t.Context(), seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, stored{subject: m.Subject, header: m.Header, data: m.Data})
	}
	return out
}

type gotOutcome struct {
	Outcome
	subject string
	header  nats.Header
}

// outcomes returns the outcomes stored for commandID.
func (s *stack) outcomes(t *testing.T, commandID string) []gotOutcome {
	t.Helper()
	var out []gotOutcome
	for _, m := range s.messages(t, StreamOutcomes) {
		var o Outcome
		if err := json.Unmarshal(m.data, &o); err != nil {
			t.Fatalf("outcome %s: %v", m.data, err)
		}
		if o.CommandID == commandID {
			out = append(out, gotOutcome{Outcome: o, subject: m.subject, header: m.header})
		}
	}
	return out
}

// waitOutcome waits for the outcome of commandID and returns it.
func (s *stack) waitOutcome(t *testing.T, commandID string) gotOutcome {
	t.Helper()
	var got []gotOutcome
	eventually(t, "outcome of "+commandID, func() bool {
		got = s.outcomes(t, commandID)
		return len(got) > 0
	})
	return got[0]
}

// waitSettled waits until the door's consumer has nothing pending or unacknowledged, and
// returns its info.
func (s *stack) waitSettled(t *testing.T) *jetstream.ConsumerInfo {
	t.Helper()
	var info *jetstream.ConsumerInfo
	eventually(t, "all commands acknowledged", func() bool {
		var err error
		info, err = consumerInfo(t, s.js)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	return info
}

func consumerInfo(t *testing.T, js jetstream.JetStream) (*jetstream.ConsumerInfo, error) {
	c, err := js.Consumer(t.Context(), StreamCommands, ConsumerName)
	if err != nil {
		return nil, err
	}
	return c.Info(t.Context())
}

func (s *stack) events(t *testing.T) []events.Event {
	t.Helper()
	var out []events.Event
	for _, m := range s.messages(t, events.Stream) {
		e, err := events.Decode(m.data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func (s *stack) commandsLeft(t *testing.T) uint64 {
	t.Helper()
	st, err := s.js.Stream(t.Context(), StreamCommands)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// eventually polls cond until it holds, failing the test after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHappyPath(t *testing.T) {
	s := newStack(t)
	s.start(t, Config{})

	// A plain JSON body with only the Nats-Msg-Id header: no Watermill header, no commandId.
	body := mustJSON(t, map[string]string{"actorUserId": "root", "entityId": "global", "targetEntityId": "eu"})
	s.publish(t, CommandSubject("root", "RequestConnection"), body, map[string]string{nats.MsgIdHdr: "req-1"})
	req := s.waitOutcome(t, "req-1")
	if !req.OK || req.ConnectionID == "" || req.Sequence == 0 || req.Error != nil {
		t.Fatalf("request outcome = %+v, want ok with connectionId and sequence", req.Outcome)
	}
	if req.subject != "entityconn.outcomes.global" {
		t.Errorf("request outcome subject = %s, want entityconn.outcomes.global", req.subject)
	}
	if got := req.header.Get(nats.MsgIdHdr); got != "outcome-req-1" {
		t.Errorf("outcome Nats-Msg-Id = %q, want outcome-req-1", got)
	}

	accept := natsapi.Request{CommandID: "acc-1", ActorUserID: "eve", EntityID: "eu", ConnectionID: req.ConnectionID}
	if err := Publish(t.Context(), s.js, "eve", "AcceptConnection", accept); err != nil {
		t.Fatal(err)
	}
	acc := s.waitOutcome(t, "acc-1")
	if !acc.OK || acc.ConnectionID != req.ConnectionID || acc.Sequence <= req.Sequence {
		t.Fatalf("accept outcome = %+v, want ok for %s after sequence %d", acc.Outcome, req.ConnectionID, req.Sequence)
	}
	if acc.subject != "entityconn.outcomes.eu" {
		t.Errorf("accept outcome subject = %s, want entityconn.outcomes.eu", acc.subject)
	}

	info := s.waitSettled(t)
	es := s.events(t)
	if len(es) != 2 || es[0].Type != events.TypeConnectionRequested || es[1].Type != events.TypeConnectionAccepted {
		t.Fatalf("events = %+v, want ConnectionRequested, ConnectionAccepted", es)
	}
	if info.Delivered.Consumer != 2 {
		t.Errorf("deliveries = %d, want 2 (none redelivered)", info.Delivered.Consumer)
	}
	if n := s.commandsLeft(t); n != 0 {
		t.Errorf("commands left on the work queue = %d, want 0", n)
	}
	for _, id := range []string{"req-1", "acc-1"} {
		if n := len(s.outcomes(t, id)); n != 1 {
			t.Errorf("outcomes of %s = %d, want 1", id, n)
		}
	}
	if n := len(s.messages(t, StreamPoison)); n != 0 {
		t.Errorf("poison messages = %d, want 0", n)
	}
}

func TestRefusalIsAnOutcomeNotARetry(t *testing.T) {
	s := newStack(t)
	s.start(t, Config{})

	first := natsapi.Request{CommandID: "r-1", ActorUserID: "root", EntityID: "global", TargetEntityID: "eu"}
	if err := Publish(t.Context(), s.js, "root", "RequestConnection", first); err != nil {
		t.Fatal(err)
	}
	if o := s.waitOutcome(t, "r-1"); !o.OK {
		t.Fatalf("first request = %+v, want ok", o.Outcome)
	}
	dup := first
	dup.CommandID = "r-2"
	if err := Publish(t.Context(), s.js, "root", "RequestConnection", dup); err != nil {
		t.Fatal(err)
	}
	o := s.waitOutcome(t, "r-2")
	if o.OK || o.Error == nil || o.Error.Code != 53000030 || o.Sequence != 0 {
		t.Fatalf("duplicate request outcome = %+v, want ok=false with code 53000030", o.Outcome)
	}
	if o.Error.Message == "" {
		t.Error("refusal without a message")
	}

	// A permission refusal (eve is not in global) is an outcome too.
	if err := Publish(t.Context(), s.js, "eve", "RequestConnection", natsapi.Request{CommandID: "r-3", ActorUserID: "eve", EntityID: "global", TargetEntityID: "us"}); err != nil {
		t.Fatal(err)
	}
	if o := s.waitOutcome(t, "r-3"); o.OK || o.Error == nil || o.Error.Code != 53000010 {
		t.Fatalf("permission refusal outcome = %+v, want code 53000010", o.Outcome)
	}

	// The subject says who acts: eve may not name root in the body (root could do this).
	impersonation := natsapi.Request{CommandID: "r-4", ActorUserID: "root", EntityID: "global", TargetEntityID: "us"}
	if err := Publish(t.Context(), s.js, "eve", "RequestConnection", impersonation); err != nil {
		t.Fatal(err)
	}
	if o := s.waitOutcome(t, "r-4"); o.OK || o.Error == nil || o.Error.Code != 53000010 || !strings.Contains(o.Error.Message, "subject's user") {
		t.Fatalf("impersonation outcome = %+v, want code 53000010 naming the subject's user", o.Outcome)
	}

	info := s.waitSettled(t)
	if info.Delivered.Consumer != 4 {
		t.Errorf("deliveries = %d, want 4: refusals are acknowledged, not redelivered", info.Delivered.Consumer)
	}
	if n := len(s.events(t)); n != 1 {
		t.Errorf("events = %d, want 1", n)
	}
	for _, id := range []string{"r-2", "r-3", "r-4"} {
		if n := len(s.outcomes(t, id)); n != 1 {
			t.Errorf("outcomes of %s = %d, want 1", id, n)
		}
	}
	if n := len(s.messages(t, StreamPoison)); n != 0 {
		t.Errorf("poison messages = %d, want 0: a refusal is not poison", n)
	}
}

func TestPoison(t *testing.T) {
	s := newStack(t)
	s.start(t, Config{})

	cases := []struct {
		name      string
		subject   string
		body      []byte
		hdr       map[string]string
		commandID string // "" : the stream sequence names it
		outcomeOn string
		code      int
		poisonOn  string
	}{
		{
			name: "malformed JSON", subject: CommandSubject("root", "RequestConnection"),
			body: []byte(`{"actorUserId": "root", "entityId": "global", `), hdr: map[string]string{nats.MsgIdHdr: "bad-json"},
			commandID: "bad-json", outcomeOn: "entityconn.outcomes.~invalid", code: 53000090,
			poisonOn: "entityconn.poison.commands.root.RequestConnection",
		},
		{
			name: "unknown command", subject: CommandSubject("root", "RenameConnection"),
			body:      mustJSON(t, natsapi.Request{CommandID: "rename", ActorUserID: "root", EntityID: "global", ConnectionID: "x"}),
			commandID: "rename", outcomeOn: "entityconn.outcomes.global", code: 53000020,
			poisonOn: "entityconn.poison.commands.root.RenameConnection",
		},
		{
			name: "subject without a user", subject: "entityconn.commands.RequestConnection",
			body:      mustJSON(t, natsapi.Request{CommandID: "no-user", ActorUserID: "root", EntityID: "global", TargetEntityID: "eu"}),
			commandID: "no-user", outcomeOn: "entityconn.outcomes.global", code: 53000020,
			poisonOn: "entityconn.poison.commands.RequestConnection",
		},
		{
			name: "missing field", subject: CommandSubject("root", "RequestConnection"),
			body:      mustJSON(t, natsapi.Request{CommandID: "no-target", ActorUserID: "root", EntityID: "global"}),
			commandID: "no-target", outcomeOn: "entityconn.outcomes.global", code: 53000022,
			poisonOn: "entityconn.poison.commands.root.RequestConnection",
		},
		{
			name: "unknown field, no id anywhere", subject: CommandSubject("eve", "AcceptConnection"),
			body:      []byte(`{"actorUserId": "eve", "entityId": "eu", "connection": "x"}`),
			outcomeOn: "entityconn.outcomes.eu", code: 53000021,
			poisonOn: "entityconn.poison.commands.eve.AcceptConnection",
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.publish(t, c.subject, c.body, c.hdr)
			id := c.commandID
			if id == "" {
				// The only message without an id: its outcome's command id is seq-<n>.
				eventually(t, "an outcome named by its sequence", func() bool {
					for _, m := range s.messages(t, StreamOutcomes) {
						var o Outcome
						_ = json.Unmarshal(m.data, &o)
						if strings.HasPrefix(o.CommandID, "seq-") {
							id = o.CommandID
							return true
						}
					}
					return false
				})
			}
			o := s.waitOutcome(t, id)
			if o.OK || o.Error == nil || o.Error.Code != c.code {
				t.Errorf("outcome = %+v, want ok=false with code %d", o.Outcome, c.code)
			}
			if o.subject != c.outcomeOn {
				t.Errorf("outcome subject = %s, want %s", o.subject, c.outcomeOn)
			}
			var poisoned []stored
			eventually(t, "the poison message", func() bool {
				poisoned = nil
				for _, m := range s.messages(t, StreamPoison) {
					if m.header.Get(HeaderCommandID) == id {
						poisoned = append(poisoned, m)
					}
				}
				return len(poisoned) > 0
			})
			p := poisoned[0]
			if len(poisoned) != 1 || p.subject != c.poisonOn || p.header.Get(HeaderPoisonReason) == "" || string(p.data) != string(c.body) {
				t.Errorf("poison = %d messages, first on %s with reason %q and body %s; want 1 on %s with a reason and the original body",
					len(poisoned), p.subject, p.header.Get(HeaderPoisonReason), p.data, c.poisonOn)
			}
			if got := p.header.Get(HeaderOriginalSubject); got != c.subject {
				t.Errorf("poison %s = %q, want %q", HeaderOriginalSubject, got, c.subject)
			}
			info := s.waitSettled(t)
			if want := uint64(i + 1); info.Delivered.Consumer != want {
				t.Errorf("deliveries = %d, want %d (none redelivered)", info.Delivered.Consumer, want)
			}
			if n := len(s.outcomes(t, id)); n != 1 {
				t.Errorf("outcomes of %s = %d, want 1", id, n)
			}
		})
	}
	if n := len(s.events(t)); n != 0 {
		t.Errorf("events = %d, want 0", n)
	}
	if n := s.commandsLeft(t); n != 0 {
		t.Errorf("commands left on the work queue = %d, want 0", n)
	}
}

// A command that keeps failing for a transient reason (here: the service has no directory
// loaded, which is "service unavailable") is retried, delivered again, and on its last
// delivery gets an error outcome and goes to the poison stream.
func TestTransientFailureGivesUpOnLastDelivery(t *testing.T) {
	s := newStack(t)
	empty := natsjs.NewDirectoryStore(s.res, nil) // never loaded
	views := natsjs.NewViews(s.res, nil)
	svc := app.New(app.Config{Store: natsjs.NewStore(s.res), Views: views, Directory: empty, Outcomes: natsjs.NewOutcomes(s.res)})
	s.x = &natsapi.Executor{Service: svc}
	s.start(t, Config{AckWait: 4 * time.Second, Budget: 4 * time.Second, MaxDeliver: 2})

	if err := Publish(t.Context(), s.js, "root", "RequestConnection", natsapi.Request{CommandID: "t-1", ActorUserID: "root", EntityID: "global", TargetEntityID: "eu"}); err != nil {
		t.Fatal(err)
	}
	o := s.waitOutcome(t, "t-1")
	if o.OK || o.Error == nil || o.Error.Code != 53000061 {
		t.Fatalf("outcome = %+v, want ok=false with code 53000061 (unavailable)", o.Outcome)
	}
	info := s.waitSettled(t)
	if info.Delivered.Consumer != 2 {
		t.Errorf("deliveries = %d, want 2 (MaxDeliver)", info.Delivered.Consumer)
	}
	var reason string
	eventually(t, "the poison message", func() bool {
		for _, m := range s.messages(t, StreamPoison) {
			if m.header.Get(HeaderCommandID) == "t-1" {
				reason = m.header.Get(HeaderPoisonReason)
				return true
			}
		}
		return false
	})
	if !strings.Contains(reason, "gave up after 2 deliveries") {
		t.Errorf("poison reason = %q, want it to say it gave up after 2 deliveries", reason)
	}
	if n := len(s.outcomes(t, "t-1")); n != 1 {
		t.Errorf("outcomes = %d, want 1", n)
	}
	if n := len(s.events(t)); n != 0 {
		t.Errorf("events = %d, want 0", n)
	}
}

func TestCorrelationID(t *testing.T) {
	s := newStack(t)
	s.start(t, Config{})

	body := mustJSON(t, natsapi.Request{CommandID: "c-1", ActorUserID: "root", EntityID: "global", TargetEntityID: "eu"})
	s.publish(t, CommandSubject("root", "RequestConnection"), body, map[string]string{nats.MsgIdHdr: "c-1", "Correlation-Id": "trace-42"})
	o := s.waitOutcome(t, "c-1")
	if got := o.header.Get(HeaderCorrelationID); got != "trace-42" {
		t.Errorf("outcome %s = %q, want trace-42", HeaderCorrelationID, got)
	}
	if got := o.header.Get(HeaderWatermillCorrelationID); got != "trace-42" {
		t.Errorf("outcome %s = %q, want trace-42", HeaderWatermillCorrelationID, got)
	}
	evs := s.messages(t, events.Stream)
	if len(evs) != 1 {
		t.Fatalf("events = %d, want 1", len(evs))
	}
	if got := evs[0].header.Get(events.HeaderCorrelationID); got != "trace-42" {
		t.Errorf("event %s = %q, want trace-42", events.HeaderCorrelationID, got)
	}

	// Without a correlation header, the command id is the correlation id.
	if err := Publish(t.Context(), s.js, "root", "RequestConnection", natsapi.Request{CommandID: "c-2", ActorUserID: "root", EntityID: "global", TargetEntityID: "us"}); err != nil {
		t.Fatal(err)
	}
	if got := s.waitOutcome(t, "c-2").header.Get(HeaderCorrelationID); got != "c-2" {
		t.Errorf("outcome %s = %q, want the command id c-2", HeaderCorrelationID, got)
	}
}

// A door that dies between the append (or the outcome) and the acknowledgement: the command
// is delivered again after AckWait, to another door, and is neither applied twice nor
// answered twice.
func TestCrashBeforeAck(t *testing.T) {
	for _, stage := range []string{stageExecuted, stagePublished} {
		t.Run(stage, func(t *testing.T) {
			s := newStack(t)
			reached, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			hook := func(st string) {
				if st == stage {
					once.Do(func() { close(reached); <-release })
				}
			}
			cfg := Config{AckWait: 2 * time.Second, hook: hook}
			d1, nc1 := s.start(t, cfg)

			if err := Publish(t.Context(), s.js, "root", "RequestConnection", natsapi.Request{CommandID: "crash-1", ActorUserID: "root", EntityID: "global", TargetEntityID: "eu"}); err != nil {
				t.Fatal(err)
			}
			<-reached
			nc1.Close() // the process is gone: no outcome (or no ack) from it
			close(release)
			d1.Stop()

			s.start(t, Config{AckWait: 2 * time.Second})
			o := s.waitOutcome(t, "crash-1")
			info := s.waitSettled(t)
			if !o.OK {
				t.Fatalf("outcome = %+v, want ok", o.Outcome)
			}
			if info.Delivered.Consumer < 2 {
				t.Errorf("deliveries = %d, want the command delivered again", info.Delivered.Consumer)
			}
			es := s.events(t)
			if len(es) != 1 || es[0].ConnectionID != o.ConnectionID {
				t.Fatalf("events = %+v, want one, for connection %s", es, o.ConnectionID)
			}
			if n := len(s.outcomes(t, "crash-1")); n != 1 {
				t.Errorf("outcomes = %d, want 1", n)
			}
		})
	}
}

// A command whose handling outlasts AckWait is reported in progress, so the server does not
// deliver it again meanwhile: one delivery, one event, one outcome.
func TestLongHandlingIsNotDeliveredAgain(t *testing.T) {
	s := newStack(t)
	var once sync.Once
	hook := func(st string) {
		if st == stageExecuted {
			once.Do(func() { time.Sleep(3 * time.Second) })
		}
	}
	s.start(t, Config{AckWait: time.Second, hook: hook})
	s.start(t, Config{AckWait: time.Second}) // another replica, to which a redelivery would go
	if err := Publish(t.Context(), s.js, "root", "RequestConnection", natsapi.Request{CommandID: "slow-1", ActorUserID: "root", EntityID: "global", TargetEntityID: "eu"}); err != nil {
		t.Fatal(err)
	}
	o := s.waitOutcome(t, "slow-1")
	info := s.waitSettled(t)
	if !o.OK {
		t.Fatalf("outcome = %+v, want ok", o.Outcome)
	}
	if info.Delivered.Consumer != 1 {
		t.Errorf("deliveries = %d, want 1: the command was delivered again while it was handled", info.Delivered.Consumer)
	}
	if n := len(s.events(t)); n != 1 {
		t.Errorf("events = %d, want 1", n)
	}
}

// The first attempt appended its event through another door (as if the door had crashed
// before recording anything): the command through this door replays it.
func TestCommandAlreadyAppliedIsReplayed(t *testing.T) {
	s := newStack(t)
	req := natsapi.Request{CommandID: "pre-1", ActorUserID: "root", EntityID: "global", TargetEntityID: "eu"}
	first := s.x.Execute(t.Context(), "RequestConnection", "root", req, "test")
	if !first.OK() {
		t.Fatalf("Execute = %+v", first)
	}
	s.start(t, Config{})
	if err := Publish(t.Context(), s.js, "root", "RequestConnection", req); err != nil {
		t.Fatal(err)
	}
	o := s.waitOutcome(t, "pre-1")
	if !o.OK || o.ConnectionID != first.ConnectionID || o.Sequence != first.Sequence {
		t.Fatalf("outcome = %+v, want ok for %s at %d", o.Outcome, first.ConnectionID, first.Sequence)
	}
	if n := len(s.events(t)); n != 1 {
		t.Errorf("events = %d, want 1", n)
	}
}

func TestDurableConsumer(t *testing.T) {
	s := newStack(t)
	d, _ := s.start(t, Config{})
	d.Stop()

	info, err := consumerInfo(t, s.js)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Durable != ConsumerName || info.Config.InactiveThreshold != 0 || info.Config.AckPolicy != jetstream.AckExplicitPolicy {
		t.Fatalf("consumer config = durable %q, inactive threshold %v, ack %v; want durable %s, 0, explicit",
			info.Config.Durable, info.Config.InactiveThreshold, info.Config.AckPolicy, ConsumerName)
	}

	// No door runs: the command waits on the stream, and the consumer keeps its position.
	if err := Publish(t.Context(), s.js, "root", "RequestConnection", natsapi.Request{CommandID: "later-1", ActorUserID: "root", EntityID: "global", TargetEntityID: "eu"}); err != nil {
		t.Fatal(err)
	}
	// The consumer counts the new command a moment after the stream stored it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if info, err = consumerInfo(t, s.js); err == nil && info.NumPending == 1 || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || info.NumPending != 1 {
		t.Fatalf("consumer pending = %v (%v), want 1", info.NumPending, err)
	}
	s.start(t, Config{})
	if o := s.waitOutcome(t, "later-1"); !o.OK {
		t.Fatalf("outcome = %+v, want ok", o.Outcome)
	}
	s.waitSettled(t)
}

func TestPublishRefusesUnknownCommand(t *testing.T) {
	s := newStack(t)
	err := Publish(t.Context(), s.js, "root", "RenameConnection", natsapi.Request{})
	if !errors.Is(err, ErrUnknownCommand) {
		t.Fatalf("Publish(RenameConnection) = %v, want ErrUnknownCommand", err)
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		status, code int
		want         int
	}{
		{200, 0, settled},
		{409, 53000030, settled},
		{403, 53000010, settled},
		{401, 53000011, settled},
		{404, 53000040, settled},
		{409, 53000050, transient},
		{503, 53000061, transient},
		{500, 53000060, transient},
		{400, 53000020, malformed},
		{400, 53000021, malformed},
		{400, 53000022, malformed},
		{400, 53000090, malformed},
		{413, 53000020, malformed},
		{422, 53000020, malformed},
	}
	for _, c := range cases {
		if got := classify(natsapi.Outcome{Status: c.status, Code: c.code}); got != c.want {
			t.Errorf("classify(%d, %d) = %d, want %d", c.status, c.code, got, c.want)
		}
	}
}

// A consumer deleted under a running door (by an operator, say) is created again, and the
// commands waiting on the work queue are handled.
func TestConsumerDeletedIsRecreated(t *testing.T) {
	s := newStack(t)
	s.start(t, Config{})
	if err := s.js.DeleteConsumer(t.Context(), StreamCommands, ConsumerName); err != nil {
		t.Fatal(err)
	}
	if err := Publish(t.Context(), s.js, "root", "RequestConnection", natsapi.Request{CommandID: "after-delete", ActorUserID: "root", EntityID: "global", TargetEntityID: "eu"}); err != nil {
		t.Fatal(err)
	}
	if o := s.waitOutcome(t, "after-delete"); !o.OK {
		t.Fatalf("outcome = %+v, want ok", o.Outcome)
	}
}

// BenchmarkDoor measures commands through the door, from publication to the last outcome:
// requests from global to distinct targets (accepted), then repeated (refused, 409).
func BenchmarkDoor(b *testing.B) {
	const targets = 500
	dir := "tenant: acme\nentities:\n  - {id: global, name: Global}\n"
	access := "[{entity: global, role: admin}"
	for i := range targets {
		dir += fmt.Sprintf("  - {id: t%d, name: T%d, parent: global}\n", i, i)
		access += fmt.Sprintf(", {entity: t%d, role: user}", i)
	}
	dir += "users:\n  - id: root\n    clientId: root\n    clientSecretHash: '" + apptest.CheapHash("root-secret") + "'\n    access: " + access + "]\n"
	s := newBenchStack(b, dir)
	d, err := Start(b.Context(), natsjstest.Connect(b, s.url), s.x, Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Stop()
	b.ResetTimer()
	for i := range b.N {
		req := natsapi.Request{CommandID: fmt.Sprintf("bench-%d", i), ActorUserID: "root", EntityID: "global", TargetEntityID: fmt.Sprintf("t%d", i%targets)}
		if err := Publish(b.Context(), s.js, "root", "RequestConnection", req); err != nil {
			b.Fatal(err)
		}
	}
	st, err := s.js.Stream(b.Context(), StreamOutcomes)
	if err != nil {
		b.Fatal(err)
	}
	for {
		info, err := st.Info(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if info.State.Msgs >= uint64(b.N) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newBenchStack(b *testing.B, directory string) *stack {
	_, url := natsjstest.Single(b)
	nc := natsjstest.Connect(b, url)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	res, err := natsjs.Setup(b.Context(), js, 1)
	if err != nil {
		b.Fatal(err)
	}
	dirs := natsjs.NewDirectoryStore(res, nil)
	if _, _, err := dirs.Import(b.Context(), []byte(directory)); err != nil {
		b.Fatal(err)
	}
	views := natsjs.NewViews(res, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, f := range []func(context.Context) error{views.Run, natsjs.NewProjector(res, "bench", nil, nil).Run} {
		wg.Go(func() { _ = f(ctx) })
	}
	b.Cleanup(func() { cancel(); wg.Wait() })
	svc := app.New(app.Config{Store: natsjs.NewStore(res), Views: views, Directory: dirs, Outcomes: natsjs.NewOutcomes(res)})
	if err := Setup(b.Context(), js, 1); err != nil {
		b.Fatal(err)
	}
	return &stack{url: url, nc: nc, js: js, res: res, x: &natsapi.Executor{Service: svc}}
}
