// Command entityconn-subscriber is an example of a service that reacts to entityconn's events:
// a sync worker. It keeps, in memory, the set of objects shared with one entity, from the
// ObjectShared and ObjectUnshared events (contract §7), and prints each object it adds and
// removes: the place where a real service would copy the object in, or drop its copy. It also
// prints every connection of the entity that gets accepted, in either direction.
//
//	ENTITYCONN_CLIENT_ID=eu-admin ENTITYCONN_CLIENT_SECRET=... \
//	  entityconn-subscriber --entity eu [--durable NAME] [--nats-url URL] [--user ID]
//
// It signs in to entityconn's NATS as a directory user (client id and secret; --user names
// the user when its id is not the client id), who may read only the events of the entities
// it can access, and reads the stream ENTITYCONN_EVENTS through the Go client
// (adapters/natsclient): one JetStream consumer per direction, each filtered to the entity's
// subjects (docs/events.md). Without --durable the consumers are ordered: the server forgets
// them when the program stops, and every run replays the stream from the start. With
// --durable NAME (start it with the user id) the server remembers what was acknowledged and a
// restart resumes after it; delivery is then at least once, which is why the client
// de-duplicates events by event id.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/entityconn/entityconn/adapters/natsclient"
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
	durable := fs.String("durable", "", "name of the durable consumers (<name>-out, <name>-in), to resume where the last run stopped; it starts with the user id, e.g. eu-admin-sharing")
	user := fs.String("user", "", "the directory user id of ENTITYCONN_CLIENT_ID (env ENTITYCONN_USER, default: the client id)")
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
	clientID, secret := getenv("ENTITYCONN_CLIENT_ID"), getenv("ENTITYCONN_CLIENT_SECRET")
	if clientID == "" || secret == "" {
		fmt.Fprintln(stderr, "entityconn-subscriber: set ENTITYCONN_CLIENT_ID and ENTITYCONN_CLIENT_SECRET: a directory user signs in to NATS with them")
		return 2
	}
	if *user == "" {
		*user = getenv("ENTITYCONN_USER")
	}
	if *user == "" {
		*user = clientID
	}
	if *url == "" {
		*url = getenv("NATS_URL")
	}
	if *url == "" {
		*url = nats.DefaultURL
	}

	nc, err := nats.Connect(*url, append(natsclient.SignIn(clientID, secret, *user), nats.Name("entityconn-subscriber"))...)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn-subscriber: connect to %s: %v\n", *url, err)
		return 1
	}
	defer nc.Close()
	client, err := natsclient.New(nc)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn-subscriber: %v\n", err)
		return 1
	}
	var mu sync.Mutex // the handler and OnError may run at once
	w := &syncWorker{entity: *entity, shared: map[sharedObject]bool{}, out: stdout}
	opts := []natsclient.SubscribeOption{
		natsclient.FromStart(),
		natsclient.Types(events.TypeConnectionAccepted, events.TypeObjectShared, events.TypeObjectUnshared),
		natsclient.OnError(func(err error) {
			// Such as missed heartbeats while the server restarts: the client keeps trying.
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(stderr, "entityconn-subscriber: %v; still trying\n", err)
		}),
	}
	if *durable != "" {
		opts = append(opts, natsclient.Durable(*durable))
	}
	sub, err := client.Subscribe(ctx, *entity, func(e events.Event) error {
		mu.Lock()
		defer mu.Unlock()
		// The client hands an event over once even when it is stored or delivered twice (it
		// remembers the last 1024 event ids); a service whose effect must happen once keeps
		// the ids it acted on together with the effect. The set below is idempotent anyway.
		w.apply(e)
		return nil
	}, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn-subscriber: subscribe to %s's events: %v\n", *entity, err)
		return 1
	}
	<-ctx.Done()
	sub.Stop()
	return 0
}

// sharedObject is an object shared with the worker's entity, and by whom.
type sharedObject struct {
	Type, ID, Source string
}

// syncWorker keeps the set of objects shared with entity, from the events in stream order.
type syncWorker struct {
	entity string
	shared map[sharedObject]bool
	out    io.Writer
}

// apply takes one event in: an accepted connection is printed; a share with the entity adds
// its object to the set, and the end of a share removes it. An event the set already
// reflects changes nothing and prints nothing.
func (w *syncWorker) apply(e events.Event) {
	switch e.Type {
	case events.TypeConnectionAccepted:
		fmt.Fprintf(w.out, "connection %s from %s to %s accepted by %s at %s\n",
			e.ConnectionID, e.SourceEntityID, e.TargetEntityID, e.ActorUserID, e.OccurredAt.Format(time.RFC3339))
	case events.TypeObjectShared, events.TypeObjectUnshared:
		if e.TargetEntityID != w.entity {
			return // an object the entity shares with another: not ours to sync
		}
		o := sharedObject{Type: e.ObjectType, ID: e.ObjectID, Source: e.SourceEntityID}
		switch {
		case e.Type == events.TypeObjectShared && !w.shared[o]:
			w.shared[o] = true
			fmt.Fprintf(w.out, "+ %s %s shared by %s (%d objects)\n", o.Type, o.ID, o.Source, len(w.shared))
		case e.Type == events.TypeObjectUnshared && w.shared[o]:
			delete(w.shared, o)
			fmt.Fprintf(w.out, "- %s %s no longer shared by %s: %s (%d objects)\n", o.Type, o.ID, o.Source, e.Reason, len(w.shared))
		}
	}
}
