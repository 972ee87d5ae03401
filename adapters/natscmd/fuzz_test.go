package natscmd

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fuzzMsg is a JetStream message built from fuzz input; its metadata is missing when
// noMeta is set, as for a message that did not come from a consumer.
type fuzzMsg struct {
	jetstream.Msg
	subject        string
	data           []byte
	header         nats.Header
	seq, delivered uint64
	noMeta         bool
}

func (m *fuzzMsg) Subject() string      { return m.subject }
func (m *fuzzMsg) Data() []byte         { return m.data }
func (m *fuzzMsg) Headers() nats.Header { return m.header }
func (m *fuzzMsg) Metadata() (*jetstream.MsgMetadata, error) {
	if m.noMeta {
		return nil, errors.New("no metadata")
	}
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}, NumDelivered: m.delivered}, nil
}

// FuzzUnmarshal feeds any command message (subject, body, headers) to the subscriber's
// conversion into a Watermill message, which runs before the router and its Recoverer. It
// must never panic, and every message must come out with a command id (its UUID), the
// command name the processor routes by, a correlation id and a delivery count of at least 1,
// whatever the body; the publisher's Nats-* headers stay out of its metadata.
//
// Run it with: go test -run='^$' -fuzz=FuzzUnmarshal -fuzztime=30s ./adapters/natscmd/
func FuzzUnmarshal(f *testing.F) {
	f.Add("entityconn.commands.RequestConnection", []byte(`{"commandId":"c-1","actorUserId":"root","entityId":"global","targetEntityId":"eu"}`), "c-1", "trace-1", "X-Other", "v", uint64(7), uint64(1), false)
	f.Add("entityconn.commands.AcceptConnection", []byte(`{"actorUserId":"eve","entityId":"eu","connectionId":"x"}`), "", "", "", "", uint64(8), uint64(3), false)
	f.Add("entityconn.commands.Rename.Connection", []byte(`not json`), "", strings.Repeat("c", 300), "Nats-Expected-Stream", "x", uint64(0), uint64(0), true)
	f.Add("entityconn.other", []byte(`{"commandId":7,"entityId":["eu"]}`), "m-1", "", "correlation_id", "w-1", uint64(1<<63), uint64(1<<63), false)
	f.Add("entityconn.commands.DenyConnection", []byte(`{"commandId":""}`), "", "", "name", "AcceptConnection", uint64(2), uint64(2), false)
	f.Add("entityconn.commands.root.ShareObject", []byte(`{"commandId":"s-1","entityId":"global","objectType":"Product","objectId":"P-100","toEntityIds":["eu","us"]}`), "s-1", "", "", "", uint64(9), uint64(1), false)
	f.Add("entityconn.commands.root.UnshareObject", []byte(`{"entityId":"global","objectType":"Product","objectId":"P-100","fromEntityIds":["eu"],"toEntityIds":null}`), "", "", "", "", uint64(10), uint64(5), false)
	f.Add("entityconn.commands.root.ShareObject.extra", []byte(`{"commandId":["s-2"],"entityId":"global","toEntityIds":"eu"}`), "", "", "", "", uint64(11), uint64(2), false)
	f.Add("", []byte(nil), "", "", "", "", uint64(0), uint64(0), false)
	f.Fuzz(func(t *testing.T, subject string, body []byte, msgID, corr, hk, hv string, seq, delivered uint64, noMeta bool) {
		h := nats.Header{}
		if msgID != "" {
			h.Set(nats.MsgIdHdr, msgID)
		}
		if corr != "" {
			h.Set(HeaderPlainCorrelationID, corr)
		}
		if hk != "" {
			h[hk] = []string{hv} // as received: NATS keeps a header's case
		}
		wm := unmarshal(&fuzzMsg{subject: subject, data: body, header: h, seq: seq, delivered: delivered, noMeta: noMeta})
		in := inboundOf(wm)
		if in.commandID == "" || wm.UUID != in.commandID {
			t.Fatalf("command id %q, UUID %q: want the same, not empty", in.commandID, wm.UUID)
		}
		_, name := commandOf(subject)
		if got := wm.Metadata.Get(metaName); got != name || in.name != got {
			t.Fatalf("name %q (inbound %q), want %q", got, in.name, name)
		}
		if in.correlationID == "" || in.delivered < 1 {
			t.Fatalf("correlation id %q, delivery %d: want both set", in.correlationID, in.delivered)
		}
		for k := range wm.Metadata {
			if strings.HasPrefix(k, "Nats-") {
				t.Fatalf("metadata %s copied from the publisher's headers", k)
			}
		}
	})
}
