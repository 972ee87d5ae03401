package natscmd

import (
	"slices"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/events/contract"
)

// ShareObject and UnshareObject through the durable door: one outcome each on the acting
// entity's outcome subject; a refusal is an outcome, acknowledged, and malformed input is an
// outcome and poison; nothing but the accepted commands is stored.
func TestShareAndUnshare(t *testing.T) {
	s := newStack(t)
	s.start(t, Config{})
	publish := func(user, name string, r natsapi.Request) gotOutcome {
		t.Helper()
		if err := Publish(t.Context(), s.js, user, name, r); err != nil {
			t.Fatalf("Publish(%s) = %v", name, err)
		}
		return s.waitOutcome(t, r.CommandID)
	}
	req := publish("root", contract.CommandRequestConnection, natsapi.Request{CommandID: "req", EntityID: "global", TargetEntityID: "eu"})
	if acc := publish("eve", contract.CommandAcceptConnection, natsapi.Request{CommandID: "acc", EntityID: "eu", ConnectionID: req.ConnectionID}); !acc.OK {
		t.Fatalf("accept = %+v", acc.Outcome)
	}

	// A plain JSON body on the subject is a complete command.
	s.publish(t, CommandSubject("root", contract.CommandShareObject),
		[]byte(`{"commandId":"share-1","entityId":"global","objectType":"Product","objectId":"P-100","toEntityIds":["eu"]}`),
		map[string]string{nats.MsgIdHdr: "share-1"})
	share := s.waitOutcome(t, "share-1")
	if !share.OK || share.Sequence == 0 || share.ConnectionID != "" || share.Error != nil {
		t.Fatalf("share outcome = %+v; want ok with a sequence and no connection id", share.Outcome)
	}
	if share.subject != "entityconn.outcomes.global" || share.header.Get(HeaderCommand) != contract.CommandShareObject {
		t.Errorf("share outcome on %s, command %q; want entityconn.outcomes.global, ShareObject", share.subject, share.header.Get(HeaderCommand))
	}

	// Refusals: an outcome each, acknowledged, not poisoned.
	refused := []struct {
		user, name string
		r          natsapi.Request
		code       int
	}{
		{"viv", contract.CommandShareObject, natsapi.Request{CommandID: "by-viv", EntityID: "global", ObjectType: "Product", ObjectID: "P-2", ToEntityIDs: []string{"eu"}}, 53000010},
		{"eve", contract.CommandShareObject, natsapi.Request{CommandID: "by-eve", EntityID: "global", ObjectType: "Product", ObjectID: "P-2", ToEntityIDs: []string{"eu"}}, 53000010},
		{"root", contract.CommandShareObject, natsapi.Request{CommandID: "to-us", EntityID: "global", ObjectType: "Product", ObjectID: "P-2", ToEntityIDs: []string{"eu", "us"}}, 53000030},
		{"viv", contract.CommandUnshareObject, natsapi.Request{CommandID: "un-by-viv", EntityID: "global", ObjectType: "Product", ObjectID: "P-100", FromEntityIDs: []string{"eu"}}, 53000010},
		{"root", contract.CommandUnshareObject, natsapi.Request{CommandID: "un-not-shared", EntityID: "global", ObjectType: "Product", ObjectID: "P-2", FromEntityIDs: []string{"eu"}}, 53000030},
	}
	for _, c := range refused {
		if o := publish(c.user, c.name, c.r); o.OK || o.Error == nil || o.Error.Code != c.code {
			t.Errorf("%s %s by %s = %+v; want code %d", c.name, c.r.CommandID, c.user, o.Outcome, c.code)
		}
	}
	// Malformed: an outcome, then the poison stream.
	malformed := []struct {
		name string
		r    natsapi.Request
		code int
	}{
		{contract.CommandShareObject, natsapi.Request{CommandID: "bad-type", EntityID: "global", ObjectType: "product", ObjectID: "P-2", ToEntityIDs: []string{"eu"}}, 53000020},
		{contract.CommandShareObject, natsapi.Request{CommandID: "no-targets", EntityID: "global", ObjectType: "Product", ObjectID: "P-2"}, 53000022},
		{contract.CommandShareObject, natsapi.Request{CommandID: "wrong-list", EntityID: "global", ObjectType: "Product", ObjectID: "P-2", FromEntityIDs: []string{"eu"}}, 53000020},
		{contract.CommandUnshareObject, natsapi.Request{CommandID: "un-wrong-list", EntityID: "global", ObjectType: "Product", ObjectID: "P-100", ToEntityIDs: []string{"eu"}}, 53000020},
		{contract.CommandUnshareObject, natsapi.Request{CommandID: "un-no-id", EntityID: "global", ObjectType: "Product", FromEntityIDs: []string{"eu"}}, 53000022},
	}
	for _, c := range malformed {
		if o := publish("root", c.name, c.r); o.OK || o.Error == nil || o.Error.Code != c.code {
			t.Errorf("%s %s = %+v; want code %d", c.name, c.r.CommandID, o.Outcome, c.code)
		}
	}
	eventually(t, "the malformed commands in the poison stream", func() bool {
		return len(s.messages(t, StreamPoison)) == len(malformed)
	})
	for _, m := range s.messages(t, StreamPoison) {
		id := m.header.Get(HeaderCommandID)
		if id == "" || m.subject != PoisonSubject("root."+m.header.Get(HeaderCommand)) {
			t.Errorf("poison message %s of %q: want one of root's malformed commands", m.subject, id)
		}
	}

	unshare := publish("root", contract.CommandUnshareObject, natsapi.Request{CommandID: "unshare-1", EntityID: "global", ObjectType: "Product", ObjectID: "P-100", FromEntityIDs: []string{"eu"}})
	if !unshare.OK || unshare.Sequence <= share.Sequence {
		t.Fatalf("unshare outcome = %+v; want ok after the share's sequence %d", unshare.Outcome, share.Sequence)
	}

	s.waitSettled(t)
	var types []events.Type
	for _, e := range s.events(t) {
		types = append(types, e.Type)
	}
	want := []events.Type{events.TypeConnectionRequested, events.TypeConnectionAccepted, events.TypeObjectShared, events.TypeObjectUnshared}
	if len(types) != len(want) || types[2] != want[2] || types[3] != want[3] {
		t.Errorf("events = %v, want %v", types, want)
	}
	for _, id := range []string{"share-1", "by-viv", "bad-type", "unshare-1"} {
		if n := len(s.outcomes(t, id)); n != 1 {
			t.Errorf("outcomes of %s = %d, want 1", id, n)
		}
	}
	if n := s.commandsLeft(t); n != 0 {
		t.Errorf("commands left on the work queue = %d, want 0", n)
	}
}

// The subscriber makes a topic of every command of natsapi.Commands: each needs a handler,
// or its commands would wait on the stream unanswered.
func TestEveryCommandHasAHandler(t *testing.T) {
	var got []string
	for _, h := range handlers(nil) {
		got = append(got, commandMarshaler{}.Name(h.NewCommand()))
	}
	slices.Sort(got)
	if want := commandNames(); !slices.Equal(got, want) {
		t.Errorf("handlers of %v; want one per command of natsapi.Commands, %v", got, want)
	}
}
