// Command entityconn-subscriber is an example of a service that reacts to entityconn's events.
// It prints every connection of one entity that gets accepted, in either direction: the place
// where a real service would start sharing objects with the other entity.
//
//	entityconn-subscriber --entity eu [--durable NAME] [--nats-url URL]
//
// It reads the stream ENTITYCONN_EVENTS with a JetStream consumer filtered on the
// ConnectionAccepted subjects of the entity (docs/events.md). Without --durable the consumer is
// ordered: the server forgets it when the program stops, and every run replays the stream from
// the start. With --durable NAME the server remembers what was acknowledged and a restart
// resumes after it; delivery is then at least once, which is why events are de-duplicated by
// event id.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/events"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: it consumes until ctx ends and returns the exit status, 2 for a
// usage error and 1 when NATS or the stream cannot be used.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("entityconn-subscriber", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("nats-url", "", "NATS server of entityconn (env NATS_URL, default "+nats.DefaultURL+")")
	entity := fs.String("entity", "", "the entity whose accepted connections to print (required)")
	durable := fs.String("durable", "", "name of a durable consumer, to resume where the last run stopped")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if !events.ValidID(*entity) || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "entityconn-subscriber: need --entity with an entity id, and no arguments\n")
		fs.Usage()
		return 2
	}
	if *url == "" {
		*url = getenv("NATS_URL")
	}
	if *url == "" {
		*url = nats.DefaultURL
	}

	nc, err := nats.Connect(*url, nats.Name("entityconn-subscriber"))
	if err != nil {
		fmt.Fprintf(stderr, "entityconn-subscriber: connect to %s: %v\n", *url, err)
		return 1
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn-subscriber: %v\n", err)
		return 1
	}
	// Both directions of the entity: it is the target, or it is the source.
	subjects := []string{
		events.Subject("*", *entity, events.TypeConnectionAccepted),
		events.Subject(*entity, "*", events.TypeConnectionAccepted),
	}
	var cons jetstream.Consumer
	if *durable == "" {
		cons, err = js.OrderedConsumer(ctx, events.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: subjects})
	} else {
		cons, err = js.CreateOrUpdateConsumer(ctx, events.Stream, jetstream.ConsumerConfig{
			Durable: *durable, FilterSubjects: subjects, AckPolicy: jetstream.AckExplicitPolicy})
	}
	if err != nil {
		fmt.Fprintf(stderr, "entityconn-subscriber: consumer on %s: %v\n", events.Stream, err)
		return 1
	}
	msgs, err := cons.Messages()
	if err != nil {
		fmt.Fprintf(stderr, "entityconn-subscriber: %v\n", err)
		return 1
	}
	defer msgs.Stop()

	seen := newRecent(10_000)
	for {
		m, err := msgs.Next(jetstream.NextContext(ctx))
		switch {
		case ctx.Err() != nil:
			return 0
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			fmt.Fprintf(stderr, "entityconn-subscriber: %v\n", err)
			return 1
		case err != nil: // such as missed heartbeats while the server restarts
			fmt.Fprintf(stderr, "entityconn-subscriber: %v; still trying\n", err)
			continue
		}
		e, err := events.Decode(m.Data())
		switch {
		case errors.Is(err, events.ErrUnknownType):
			// Written by a newer entityconn: not ours to understand.
		case err != nil:
			fmt.Fprintf(stderr, "entityconn-subscriber: skipping %s: %v\n", m.Subject(), err)
		case seen.add(e.EventID): // the event id is also the message's Nats-Msg-Id
			fmt.Fprintf(stdout, "connection %s from %s to %s accepted by %s at %s\n",
				e.ConnectionID, e.SourceEntityID, e.TargetEntityID, e.ActorUserID, e.OccurredAt.Format(time.RFC3339))
		}
		if *durable != "" {
			if err := m.Ack(); err != nil {
				fmt.Fprintf(stderr, "entityconn-subscriber: ack: %v\n", err)
			}
		}
	}
}

// recent remembers the last event ids it was given, forgetting the oldest beyond its size.
// A redelivery follows the first delivery closely, so a short memory is enough to print once;
// a service whose effect must happen once keeps the ids it acted on together with the effect.
type recent struct {
	ids  map[string]bool
	ring []string
	next int
}

func newRecent(size int) *recent {
	return &recent{ids: make(map[string]bool, size), ring: make([]string, size)}
}

// add records id and reports whether it is new.
func (r *recent) add(id string) bool {
	if r.ids[id] {
		return false
	}
	delete(r.ids, r.ring[r.next])
	r.ring[r.next], r.ids[id] = id, true
	r.next = (r.next + 1) % len(r.ring)
	return true
}
