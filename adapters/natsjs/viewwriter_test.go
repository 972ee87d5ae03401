package natsjs

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// parsePubAck reads the common acknowledgement without reflection and every other one as
// JetStream writes it: a sequence, or the error it reports.
func TestParsePubAck(t *testing.T) {
	for _, c := range []struct {
		name     string
		data     string
		status   string
		seq      uint64
		err      error
		conflict bool
	}{
		{name: "common", data: `{"stream":"KV_views","seq":42}`, seq: 42},
		{name: "with more fields", data: `{"stream":"KV_views","seq":7,"domain":"hub"}`, seq: 7},
		{name: "fields in another order", data: `{"seq":9,"stream":"KV_views"}`, seq: 9},
		{name: "wrong last sequence", data: `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"KV_views","seq":0}`, conflict: true},
		{name: "no stream", data: `{"seq":3}`, err: jetstream.ErrInvalidJSAck},
		{name: "not JSON", data: `{not json`, err: jetstream.ErrInvalidJSAck},
		{name: "no responders", status: "503", err: jetstream.ErrNoStreamResponse},
		{name: "empty", err: jetstream.ErrInvalidJSAck},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &nats.Msg{Data: []byte(c.data), Header: nats.Header{}}
			if c.status != "" {
				m.Header.Set("Status", c.status)
			}
			seq, err := parsePubAck(m)
			if seq != c.seq {
				t.Errorf("parsePubAck(%s) sequence = %d, want %d", c.data, seq, c.seq)
			}
			switch {
			case c.conflict:
				if !isRevisionConflict(err) {
					t.Errorf("parsePubAck(%s) = %v, want a revision conflict", c.data, err)
				}
			case c.err != nil:
				if !errors.Is(err, c.err) {
					t.Errorf("parsePubAck(%s) = %v, want %v", c.data, err, c.err)
				}
			case err != nil:
				t.Errorf("parsePubAck(%s) = %v", c.data, err)
			}
		})
	}
}
