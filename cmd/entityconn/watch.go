package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsclient"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// watchUsage describes "entityconn watch"; main's usage prints it.
const watchUsage = `  watch --entity E [--inbound|--outbound] [--json] [--nats-url URL] [--user ID]
               print entity E's connections from the views bucket on NATS, then a
               "-- live --" line, then every change as it happens, until interrupted;
               both directions unless one is given. --json: one object per line,
               {"direction","key","operation","view"}, and {"operation":"live"} for the
               separator. NATS: --nats-url, env NATS_URL, default ` + watchDefaultNATS + `;
               signs in with ENTITYCONN_CLIENT_ID and ENTITYCONN_CLIENT_SECRET, as the
               user --user (env ENTITYCONN_USER, default: the client id)
`

// watchDefaultNATS is where "serve" runs its embedded NATS server by default.
const watchDefaultNATS = "nats://127.0.0.1:4222"

// watchHint is appended to every error that most likely means no service is there.
const watchHint = "is entityconn serve running? is --nats-url right? may the user read the entity?"

// runWatch is "entityconn watch": it follows the Outbound and/or Inbound views of one entity in
// the KV bucket ENTITYCONN_VIEWS (contract §5) until ctx ends, and then returns 0. It returns 2
// for a usage error and 1 when NATS or the bucket cannot be reached.
func runWatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("entityconn watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: entityconn watch --entity E [--inbound|--outbound] [--json] [--nats-url URL] [--user ID]")
		fs.PrintDefaults()
	}
	var (
		entity, natsURL   string
		user              string
		inbound, outbound bool
		asJSON            bool
	)
	fs.StringVar(&entity, "entity", "", "the entity whose connections to watch (required)")
	fs.BoolVar(&inbound, "inbound", false, "watch the connections the entity is the target of")
	fs.BoolVar(&outbound, "outbound", false, "watch the connections the entity is the source of")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per line")
	fs.StringVar(&natsURL, "nats-url", "", "NATS server of the service (env NATS_URL, default "+watchDefaultNATS+")")
	fs.StringVar(&user, "user", "", "the directory user id the client id belongs to (env ENTITYCONN_USER, default: the client id); replies go to its inbox")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "entityconn watch: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if !events.ValidID(entity) {
		fmt.Fprintf(stderr, "entityconn watch: --entity %q is not an entity id (1 to 64 letters, digits, _ or -)\n", entity)
		return 2
	}
	if natsURL == "" && getenv != nil {
		natsURL = getenv("NATS_URL")
	}
	if natsURL == "" {
		natsURL = watchDefaultNATS
	}
	clientID, secret := getenv("ENTITYCONN_CLIENT_ID"), getenv("ENTITYCONN_CLIENT_SECRET")
	if clientID == "" || secret == "" {
		fmt.Fprintln(stderr, "entityconn watch: set ENTITYCONN_CLIENT_ID and ENTITYCONN_CLIENT_SECRET: a directory user signs in to NATS with them")
		return 2
	}
	if user == "" {
		user = getenv("ENTITYCONN_USER")
	}
	if user == "" {
		user = clientID
	}
	var filters []string
	if outbound || !inbound {
		filters = append(filters, projections.EntityFilter(projections.Outbound, entity))
	}
	if inbound || !outbound {
		filters = append(filters, projections.EntityFilter(projections.Inbound, entity))
	}

	// A watch is meant to run for long: it rides out server restarts, and says so.
	nc, err := nats.Connect(natsURL, append(natsclient.SignIn(clientID, secret, user), nats.Name("entityconn watch"), nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil when the connection is closed on purpose
				fmt.Fprintf(stderr, "entityconn watch: disconnected from NATS (%v); reconnecting\n", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { fmt.Fprintln(stderr, "entityconn watch: reconnected to NATS") }))...)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn watch: cannot reach NATS at %s: %v (%s)\n", natsURL, err, watchHint)
		return 1
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn watch: %v\n", err)
		return 1
	}
	kv, err := js.KeyValue(ctx, natsjs.BucketViews)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn watch: bucket %s on %s: %v (%s)\n", natsjs.BucketViews, natsURL, err, watchHint)
		return 1
	}
	// One watcher per direction: NATS permissions let a user watch views only with one
	// filter, naming an entity it can access.
	updates := make(chan watchUpdate)
	for _, f := range filters {
		w, err := kv.Watch(ctx, f)
		if err != nil {
			fmt.Fprintf(stderr, "entityconn watch: watch %s %s: %v (%s)\n", natsjs.BucketViews, f, err, watchHint)
			return 1
		}
		defer w.Stop()
		go func() {
			for e := range w.Updates() {
				select {
				case updates <- watchUpdate{e: e}:
				case <-ctx.Done():
					return
				}
			}
			select {
			case updates <- watchUpdate{ended: true}:
			case <-ctx.Done():
			}
		}()
	}

	p := watchPrinter{out: stdout, errs: stderr, json: asJSON}
	waiting, live := len(filters), false // watchers still delivering their current values
	for {
		select {
		case <-ctx.Done():
			return 0
		case u := <-updates:
			switch {
			case u.ended && ctx.Err() != nil:
				return 0
			case u.ended:
				fmt.Fprintf(stderr, "entityconn watch: the watch of %s ended\n", natsjs.BucketViews)
				return 1
			case u.e == nil: // one watcher has delivered every current value
				if waiting--; waiting == 0 {
					live = true
					p.live()
				}
			case live || u.e.Operation() == jetstream.KeyValuePut:
				// Before the marker a delete would only say that a key once existed.
				p.entry(u.e)
			}
		}
	}
}

// watchUpdate is an entry of one of the watchers (nil: its current values are delivered), or
// the end of its updates.
type watchUpdate struct {
	e     jetstream.KeyValueEntry
	ended bool
}

// watchPrinter writes the entries of a watch as text or JSON lines.
type watchPrinter struct {
	out, errs io.Writer
	json      bool
}

// watchLine is one line of "entityconn watch --json". View is null for a deleted key.
type watchLine struct {
	Direction projections.Direction `json:"direction"`
	Key       string                `json:"key"`
	Operation string                `json:"operation"`
	View      *projections.View     `json:"view"`
}

func (p watchPrinter) live() {
	if p.json {
		fmt.Fprintln(p.out, `{"operation":"live"}`)
		return
	}
	fmt.Fprintln(p.out, "-- live --")
}

func (p watchPrinter) entry(e jetstream.KeyValueEntry) {
	d, _, id, ok := projections.ParseKey(e.Key())
	if !ok {
		return // not a view (the filters should not let one through)
	}
	line := watchLine{Direction: d, Key: e.Key(), Operation: "put"}
	switch e.Operation() {
	case jetstream.KeyValueDelete:
		line.Operation = "delete"
	case jetstream.KeyValuePurge:
		line.Operation = "purge"
	default:
		line.View = new(projections.View)
		if err := json.Unmarshal(e.Value(), line.View); err != nil {
			fmt.Fprintf(p.errs, "entityconn watch: %s: unreadable view: %v\n", e.Key(), err)
			return
		}
	}
	if p.json {
		b, err := json.Marshal(line)
		if err != nil {
			fmt.Fprintf(p.errs, "entityconn watch: %s: %v\n", e.Key(), err)
			return
		}
		fmt.Fprintf(p.out, "%s\n", b)
		return
	}
	if line.View == nil {
		fmt.Fprintf(p.out, "%-8s %s  %sd\n", d, id, line.Operation)
		return
	}
	v := line.View
	fmt.Fprintf(p.out, "%-8s %s  %s → %s  %s  requestedBy=%s  updatedAt=%s  sequence=%d\n",
		d, v.ID, v.SourceEntityID, v.TargetEntityID, v.Status, v.RequestedBy,
		v.UpdatedAt.UTC().Format(time.RFC3339), v.Sequence)
}
