package natsjs

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
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

// The wait for acknowledgements gives up when none has come for ackWait, not when the whole
// batch has taken longer: a slow but answering server is waited for, a silent one is not.
func TestViewWriterWaitsForProgress(t *testing.T) {
	_, url := natsjstest.Single(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	// A stand-in for the stream: it acknowledges each write 60 ms after the one before, or,
	// on the silent subject, never.
	sub, err := nc.Subscribe("views.answering", func(m *nats.Msg) {
		time.Sleep(60 * time.Millisecond)
		_ = m.Respond([]byte(`{"stream":"KV_views","seq":1}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	silent, err := nc.SubscribeSync("views.silent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Unsubscribe() })
	w, err := newViewWriter(nc, 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	w.ackWait = 200 * time.Millisecond

	for range 8 { // 8 × 60 ms: longer than ackWait, each acknowledgement within it
		if _, err := w.publish("views.answering", []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.wait(t.Context(), w.next); err != nil {
		t.Fatalf("waiting for a server that answers every 60 ms: %v", err)
	}

	if _, err := w.publish("views.silent", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = w.wait(t.Context(), w.next)
	if !errors.Is(err, jetstream.ErrAsyncPublishTimeout) {
		t.Fatalf("waiting for a server that never answers: %v, want a publish timeout", err)
	}
	if took := time.Since(start); took > 5*w.ackWait {
		t.Errorf("gave up on a silent server after %v, want about %v", took, w.ackWait)
	}
}
