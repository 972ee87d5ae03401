package natsjs

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/events"
)

// The followers of the event stream read it with ordered consumers whose pulls expire after
// followExpiry and carry a heartbeat every followHeartbeat. The client notices a consumer
// that is gone (its node failed) after two missed heartbeats and makes a new one from where
// it was: about 2 s, where nats.go's defaults (30 s pulls, 5 s heartbeats) take 10 s, which
// was most of the time views took to converge after a node failure.
const (
	followExpiry    = 5 * time.Second
	followHeartbeat = time.Second
)

// Subject filters of the followers of the event stream.
const (
	// allEvents matches every event.
	allEvents = events.SubjectPrefix + ".>"
	// allRequests matches the requests only.
	allRequests = events.SubjectPrefix + ".*.*." + string(events.TypeConnectionRequested)
)

// followed is an event as [followEvents] reads it.
type followed struct {
	// Stored has the event's stream sequence, and the event unless it could not be decoded
	// (then the zero Event).
	Stored
	// Pending is the number of events matching the filter that the stream held after this
	// one when it was read: 0 when the follower has caught up.
	Pending uint64
}

// followEvents yields the events of r's event stream whose subjects match filter, in stream
// order, from the one after sequence after (0: from the first) on, and then each event as it
// is stored, until ctx ends or the loop stops. The error that comes with an event says that it
// could not be decoded (an event of a newer version, or a corrupt message): the event is the
// zero Event then, with its sequence and Pending, and what to do with it is the caller's
// choice.
//
// Failures to read are not yielded. When the ordered consumer misses heartbeats, or its
// consumer is deleted, it tries once to make a new consumer; when that fails, or no consumer
// can be made, the failure is logged to log and a new ordered consumer is made from after the
// last event yielded, after a pause that grows from 10 ms to 2 s while the failures go on
// ([newBackoff]), rather than after nats.go's own pauses of up to 10 s, unlogged. So no event
// is skipped and none is yielded twice. buffer is how many messages the client pulls ahead.
//
// The sequence is for one loop at a time. A loop body that blocks holds the stream back (the
// client stops pulling once buffer messages wait), never skips it.
func followEvents(ctx context.Context, r *Resources, filter string, after uint64, buffer int, log *slog.Logger) iter.Seq2[followed, error] {
	return func(yield func(followed, error) bool) {
		f := follower{r: r, filter: filter, after: after, buffer: buffer, pause: newBackoff()}
		for {
			err := f.read(ctx, yield)
			if f.stopped || ctx.Err() != nil {
				return
			}
			log.Warn("following the event stream again", "filter", filter, "after", f.after, "err", err, "in", f.pause.pause)
			if f.pause.wait(ctx) != nil {
				return
			}
		}
	}
}

// follower is the state of one [followEvents] loop.
type follower struct {
	r       *Resources
	filter  string
	after   uint64 // the sequence of the last event yielded, or where to start after
	buffer  int
	pause   backoff
	stopped bool // the loop stopped: yield returned false
}

// read makes an ordered consumer of the events after f.after and yields them until yield
// returns false, ctx ends or reading fails; it returns the failure.
func (f *follower) read(ctx context.Context, yield func(followed, error) bool) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{f.filter}, MaxResetAttempts: 1}
	if f.after > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, f.after+1
	}
	cons, err := f.r.Events.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("natsjs: ordered consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(f.buffer), jetstream.PullExpiry(followExpiry), jetstream.PullHeartbeat(followHeartbeat))
	if err != nil {
		return fmt.Errorf("natsjs: ordered consumer messages: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		msg, err := it.Next()
		if err != nil {
			return fmt.Errorf("natsjs: next event: %w", err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("natsjs: event metadata: %w", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ev := followed{Stored: Stored{Sequence: md.Sequence.Stream}, Pending: md.NumPending}
		e, derr := events.Decode(msg.Data())
		if derr == nil {
			ev.Event = e
		}
		f.after = ev.Sequence
		f.pause.reset()
		if !yield(ev, derr) {
			f.stopped = true
			return nil
		}
	}
}
