package natsauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/events"
)

// auditSubject is where the servers report every JetStream API call of the account.
const auditSubject = "$JS.EVENT.ADVISORY.API"

// ConsumerGuard enforces what NATS permissions cannot say about the consumers directory users
// create on the event stream and the views bucket (docs/decisions.md, decision 18): a user's
// durable consumers are named <userId>-<anything>, and a user's push consumers deliver to its
// own inbox (_INBOX_<userId>.…), not to a subject where others listen. It follows the
// servers' JetStream API audit and deletes, as soon as it hears of it, a consumer created or
// updated otherwise. It runs in every replica; deleting twice does no harm.
//
// Not guaranteed: it acts after the fact. What such a consumer delivered or was fetched
// before it is deleted (a few milliseconds, measured in the permission matrix test) has gone
// out, and a durable of another user that a create updated (the server lets a create of an
// existing name change its filter) is deleted, not restored.
type ConsumerGuard struct {
	dir Directory
	js  jetstream.JetStream
	log *slog.Logger
}

// NewConsumerGuard returns a guard that reads users from dir and deletes consumers through
// js, the service's own JetStream context. log may be nil.
func NewConsumerGuard(dir Directory, js jetstream.JetStream, log *slog.Logger) *ConsumerGuard {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ConsumerGuard{dir: dir, js: js, log: log}
}

// guardedStreams are the streams whose consumers users may create.
var guardedStreams = []string{events.Stream, viewsStream}

// audit is the part of a JetStream API audit advisory the guard reads.
type audit struct {
	Client *struct {
		User string `json:"user"`
	} `json:"client"`
	Subject  string `json:"subject"`
	Request  string `json:"request"`
	Response string `json:"response"`
}

// Run follows the audit on nc, the service's own connection, until ctx ends, and returns
// ctx's error, or why it could not subscribe.
func (g *ConsumerGuard) Run(ctx context.Context, nc *nats.Conn) error {
	ch := make(chan *nats.Msg, 1024)
	sub, err := nc.ChanSubscribe(auditSubject, ch)
	if err != nil {
		return fmt.Errorf("natsauth: subscribe %s: %w", auditSubject, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("natsauth: subscribe %s: %w", auditSubject, err)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-ch:
			g.check(ctx, m.Data)
		}
	}
}

// check deletes the consumer an audited call created, if a user made it against the rules.
func (g *ConsumerGuard) check(ctx context.Context, data []byte) {
	var a audit
	if json.Unmarshal(data, &a) != nil || a.Client == nil {
		return
	}
	stream, ok := createdOn(a.Subject)
	if !ok {
		return
	}
	dir := g.dir.Current()
	if dir == nil {
		return
	}
	u, ok := dir.User(a.Client.User)
	if !ok {
		return // the service itself, or the system user
	}
	var resp struct {
		Name   string `json:"name"`
		Config struct {
			Durable string `json:"durable_name"`
			Deliver string `json:"deliver_subject"`
		} `json:"config"`
		Error *json.RawMessage `json:"error"`
	}
	if json.Unmarshal([]byte(a.Response), &resp) != nil || resp.Error != nil || resp.Name == "" {
		return // refused: nothing was created
	}
	var why string
	switch {
	case resp.Config.Durable != "" && !strings.HasPrefix(resp.Config.Durable, u.ID+"-"):
		why = fmt.Sprintf("a durable consumer of user %s must be named %s-<anything>", u.ID, u.ID)
	case resp.Config.Deliver != "" && !strings.HasPrefix(resp.Config.Deliver, InboxPrefix(u.ID)+"."):
		why = fmt.Sprintf("a push consumer of user %s must deliver to its inbox %s.>", u.ID, InboxPrefix(u.ID))
	default:
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := g.js.DeleteConsumer(dctx, stream, resp.Name)
	switch {
	case err == nil:
		g.log.Warn("natsauth: consumer deleted", "stream", stream, "consumer", resp.Name, "user", u.ID, "reason", why)
	case errors.Is(err, jetstream.ErrConsumerNotFound):
	default:
		g.log.Error("natsauth: consumer against the rules not deleted", "stream", stream, "consumer", resp.Name, "user", u.ID, "reason", why, "err", err)
	}
}

// createdOn returns the stream of a consumer-create API subject
// ($JS.API.CONSUMER.CREATE.<stream>.…, and the legacy DURABLE.CREATE) if it is guarded.
func createdOn(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, "$JS.API.CONSUMER.CREATE.")
	if !ok {
		if rest, ok = strings.CutPrefix(subject, "$JS.API.CONSUMER.DURABLE.CREATE."); !ok {
			return "", false
		}
	}
	stream, _, _ := strings.Cut(rest, ".")
	for _, s := range guardedStreams {
		if s == stream {
			return stream, true
		}
	}
	return "", false
}
