package natsjs

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/events"
)

// Names of the KV buckets entityconn creates besides the event stream [events.Stream].
const (
	// BucketViews holds the Outbound and Inbound views (contract §5).
	BucketViews = "ENTITYCONN_VIEWS"
	// BucketIndex holds the projector's checkpoint and the index of pending requests that
	// expiry works from. Internal: other services should not rely on its keys.
	BucketIndex = "ENTITYCONN_INDEX"
	// BucketIdempotency holds the first outcome of each command id and idempotency key for 24 h.
	BucketIdempotency = "ENTITYCONN_IDEMPOTENCY"
	// BucketDirectory holds the imported directory and the token signing key.
	BucketDirectory = "ENTITYCONN_DIRECTORY"
)

// IdempotencyWindow is how long a command's first outcome is replayed (contract §4: 24 h).
const IdempotencyWindow = 24 * time.Hour

// maxEventSize bounds an event message. Events are a few hundred bytes; a reason is at most a
// few KiB because request bodies are at most 64 KiB.
const maxEventSize = 64 << 10

// Resources are the JetStream stream and buckets entityconn works with.
type Resources struct {
	JS          jetstream.JetStream
	Events      jetstream.Stream
	Views       jetstream.KeyValue
	Index       jetstream.KeyValue
	Idempotency jetstream.KeyValue
	Directory   jetstream.KeyValue
}

// EventStreamConfig is the configuration of the event stream: file storage, nothing ever
// deleted (DenyDelete, DenyPurge, no limits, DiscardNew), direct gets allowed so that loading
// state needs no consumer, and a 2-minute de-duplication window as a net for retries.
func EventStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        events.Stream,
		Description: "entityconn events: the source of truth (append-only)",
		Subjects:    []string{events.SubjectPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
		Duplicates:  2 * time.Minute,
		MaxMsgSize:  maxEventSize,
		Replicas:    replicas,
	}
}

// Setup creates or updates the event stream and the buckets with the given number of
// replicas, and returns handles to them. It is safe to run from several processes at once.
func Setup(ctx context.Context, js jetstream.JetStream, replicas int) (*Resources, error) {
	if replicas < 1 {
		replicas = 1
	}
	r := &Resources{JS: js}
	var err error
	if r.Events, err = js.CreateOrUpdateStream(ctx, EventStreamConfig(replicas)); err != nil {
		return nil, fmt.Errorf("natsjs: event stream %s: %w", events.Stream, err)
	}
	buckets := []struct {
		kv  *jetstream.KeyValue
		cfg jetstream.KeyValueConfig
	}{
		{&r.Views, jetstream.KeyValueConfig{Bucket: BucketViews, Description: "entityconn Outbound and Inbound views", History: 1}},
		{&r.Index, jetstream.KeyValueConfig{Bucket: BucketIndex, Description: "entityconn projector checkpoint and pending-request index", History: 1}},
		{&r.Idempotency, jetstream.KeyValueConfig{Bucket: BucketIdempotency, Description: "entityconn first outcomes of commands, kept 24h", History: 1, TTL: IdempotencyWindow}},
		{&r.Directory, jetstream.KeyValueConfig{Bucket: BucketDirectory, Description: "entityconn directory and token signing key", History: 5}},
	}
	for _, b := range buckets {
		b.cfg.Storage = jetstream.FileStorage
		b.cfg.Replicas = replicas
		if *b.kv, err = js.CreateOrUpdateKeyValue(ctx, b.cfg); err != nil {
			return nil, fmt.Errorf("natsjs: bucket %s: %w", b.cfg.Bucket, err)
		}
	}
	return r, nil
}
