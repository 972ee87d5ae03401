package natsjs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// viewsSubjectPrefix is the subject prefix of the views bucket's keys.
const viewsSubjectPrefix = "$KV." + BucketViews + "."

// viewWriter publishes conditional writes to the views bucket and takes in their
// acknowledgements, all in the projector's goroutine. It publishes over core NATS with reply
// subjects of its own rather than with jetstream's PublishMsgAsync: there is one reader of the
// acknowledgements, so they need no futures, channels, timers or locks of their own, and the
// message, its header and body are reused (PublishMsg copies them into the connection's
// buffer before it returns; PublishMsgAsync keeps the message to publish it again).
//
// Each write gets a token, in order; results holds the outcomes of tokens [base, next).
type viewWriter struct {
	nc      *nats.Conn
	sub     *nats.Subscription
	acks    chan *nats.Msg
	prefix  string // reply subjects are prefix + token in base 36
	next    uint64
	base    uint64
	open    uint64 // the first token without an outcome
	results []writeResult
	msg     nats.Msg
	expect  []string
	reply   []byte
	ackWait time.Duration // ackTimeout, shorter in tests
}

// writeResult is the outcome of one write: once done, the key's new revision or why the
// write failed.
type writeResult struct {
	done bool
	seq  uint64 // the stream sequence: the key's new revision
	err  error
}

// ackTimeout bounds the wait for the next acknowledgement; past it the oldest write awaiting
// one counts as failed. A healthy server acknowledges within milliseconds, fsync included; a
// write published while its stream had no leader is never acknowledged, and the sooner the
// projector gives up on it the sooner it writes again, after an election.
const ackTimeout = 3 * time.Second

// newViewWriter subscribes to the acknowledgements; capacity bounds the writes in flight
// (past it acknowledgements would be dropped, and their writes time out).
func newViewWriter(nc *nats.Conn, capacity int) (*viewWriter, error) {
	w := &viewWriter{nc: nc, prefix: nc.NewRespInbox() + ".", acks: make(chan *nats.Msg, capacity), expect: make([]string, 1), ackWait: ackTimeout}
	var err error
	if w.sub, err = nc.ChanSubscribe(w.prefix+"*", w.acks); err != nil {
		return nil, err
	}
	w.msg.Header = nats.Header{jetstream.ExpectedLastSubjSeqHeader: w.expect}
	w.next, w.base, w.open = 1, 1, 1
	return w, nil
}

// close stops taking acknowledgements in.
func (w *viewWriter) close() { _ = w.sub.Unsubscribe() }

// publish publishes data to subject, to be stored only if the subject's last revision is
// expect (0: none), and returns the write's token.
func (w *viewWriter) publish(subject string, data []byte, expect uint64) (uint64, error) {
	tok := w.next
	w.reply = strconv.AppendUint(append(w.reply[:0], w.prefix...), tok, 36)
	if expect == 0 {
		w.expect[0] = "0"
	} else {
		w.expect[0] = strconv.FormatUint(expect, 10)
	}
	w.msg.Subject, w.msg.Reply, w.msg.Data = subject, string(w.reply), data
	err := w.nc.PublishMsg(&w.msg)
	w.msg.Data = nil
	if err != nil {
		return 0, err
	}
	w.results = append(w.results, writeResult{})
	w.next++
	return tok, nil
}

// The header of a KV delete marker: a message with no data that ends a key's value.
const (
	kvOperationHeader = "KV-Operation"
	kvOperationDelete = "DEL"
	kvOperationPurge  = "PURGE"
)

// publishDelete publishes a delete marker for subject's key, stored only if the key's last
// revision is expect (0: none), and returns the write's token.
func (w *viewWriter) publishDelete(subject string, expect uint64) (uint64, error) {
	w.msg.Header[kvOperationHeader] = []string{kvOperationDelete}
	defer delete(w.msg.Header, kvOperationHeader)
	return w.publish(subject, nil, expect)
}

// done reports whether write tok has its outcome (or was forgotten).
func (w *viewWriter) done(tok uint64) bool { return tok < w.base || w.results[tok-w.base].done }

// doneBefore reports whether every token before end has its outcome.
func (w *viewWriter) doneBefore(end uint64) bool { return w.open >= end }

// result returns the outcome of write tok, which must not be released yet.
func (w *viewWriter) result(tok uint64) writeResult { return w.results[tok-w.base] }

// release forgets the outcomes before end, except from keep on if hold is true.
func (w *viewWriter) release(end uint64, hold bool, keep uint64) {
	if hold {
		end = min(end, keep)
	}
	if end > w.base {
		w.results = w.results[end-w.base:]
		w.base = end
	}
}

// poll takes in the acknowledgements that have arrived.
func (w *viewWriter) poll() {
	for {
		select {
		case m := <-w.acks:
			w.take(m)
		default:
			return
		}
	}
}

// wait takes in acknowledgements until every token before end has its outcome.
func (w *viewWriter) wait(ctx context.Context, end uint64) error {
	w.poll()
	if w.open >= end {
		return nil
	}
	timer := time.NewTimer(w.ackWait)
	defer timer.Stop()
	for w.open < end {
		select {
		case m := <-w.acks:
			open := w.open
			w.take(m)
			if w.open > open {
				timer.Reset(w.ackWait) // progress: the wait is for the next one
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return fmt.Errorf("natsjs: views write %d: %w", w.open, jetstream.ErrAsyncPublishTimeout)
		}
	}
	return nil
}

// abandon waits a little for the writes in flight, then forgets them: acknowledgements
// that arrive later are ignored.
func (w *viewWriter) abandon(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_ = w.wait(wctx, w.next)
	cancel()
	w.base, w.open, w.results = w.next, w.next, nil
}

// take records the outcome an acknowledgement carries, if it is of a write awaiting one.
func (w *viewWriter) take(m *nats.Msg) {
	tok, err := strconv.ParseUint(m.Subject[min(len(w.prefix), len(m.Subject)):], 36, 64)
	if err != nil || tok < w.base || tok >= w.next || w.results[tok-w.base].done {
		return // not ours, or of writes given up
	}
	r := &w.results[tok-w.base]
	r.done = true
	r.seq, r.err = parsePubAck(m)
	for w.open < w.next && w.results[w.open-w.base].done {
		w.open++
	}
}

// parsePubAck returns the stream sequence a JetStream publish acknowledgement gives, or the
// error it reports. The common answer, {"stream":"…","seq":n}, is read without reflection.
func parsePubAck(m *nats.Msg) (uint64, error) {
	d := m.Data
	if len(d) == 0 {
		if m.Header.Get("Status") == "503" {
			return 0, jetstream.ErrNoStreamResponse
		}
		return 0, jetstream.ErrInvalidJSAck
	}
	const streamField, seqField = `{"stream":"`, `","seq":`
	if rest, ok := bytes.CutPrefix(d, []byte(streamField)); ok {
		if i := bytes.IndexByte(rest, '"'); i > 0 {
			if rest, ok := bytes.CutPrefix(rest[i:], []byte(seqField)); ok {
				n := 0
				for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
					n++
				}
				if n > 0 && n < len(rest) && (rest[n] == '}' || rest[n] == ',') {
					if seq, err := strconv.ParseUint(string(rest[:n]), 10, 64); err == nil && seq > 0 {
						return seq, nil
					}
				}
			}
		}
	}
	var ack struct {
		Error  *jetstream.APIError `json:"error"`
		Stream string              `json:"stream"`
		Seq    uint64              `json:"seq"`
	}
	if err := json.Unmarshal(d, &ack); err != nil {
		return 0, jetstream.ErrInvalidJSAck
	}
	if ack.Error != nil {
		return 0, ack.Error
	}
	if ack.Stream == "" {
		return 0, jetstream.ErrInvalidJSAck
	}
	return ack.Seq, nil
}

// isRevisionConflict reports whether err says that a conditional write to a stream or a
// key-value bucket found another revision than the one it expected.
func isRevisionConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) || isWrongLastSequence(err)
}
