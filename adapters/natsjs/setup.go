package natsjs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/events"
)

// Names of the KV buckets entityconn creates besides the event stream [events.Stream].
const (
	// BucketViews holds the Outbound and Inbound views (contract §5) and, under keys of
	// their own that other services should not rely on, the projector's checkpoint and lease
	// (projector.*) and expiry's (expiry.*).
	BucketViews = "ENTITYCONN_VIEWS"
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

// attemptTimeout bounds one attempt to create a stream or bucket.
const attemptTimeout = 3 * time.Second

// Attempts runs f, each time with its own short timeout, until it succeeds, fails in a way a
// retry cannot change, or ctx ends. It retries lost requests only: timeouts, "no responders"
// (a stream without a leader yet) and JetStream's 503. On a cluster, two processes creating the
// same replicated stream at once can leave one request unanswered (nats-io/nats-server#3677);
// a second attempt then finds the stream.
func Attempts(ctx context.Context, f func(context.Context) error) error {
	return AttemptsWithin(ctx, attemptTimeout, f)
}

// AttemptsWithin is [Attempts] with a timeout of its own for each attempt.
func AttemptsWithin(ctx context.Context, each time.Duration, f func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, each)
		err := f(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 503 || apiErr.Code == 408
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// viewsBucket creates or binds the views bucket. With one replica its stream is created with
// asynchronous persistence: the server flushes it to disk in the background instead of on
// every write. Views are derived from the event stream, and the projector's checkpoint is in
// the same stream after the views it covers, so a power loss can only lose a tail of both,
// which the projector then applies again (docs/decisions.md). Replicated streams do not
// support that mode (nor need it: their Raft log is what is synced).
func viewsBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if cfg.Replicas > 1 {
		return js.CreateOrUpdateKeyValue(ctx, cfg)
	}
	name := "KV_" + cfg.Bucket
	if _, err := js.Stream(ctx, name); errors.Is(err, jetstream.ErrStreamNotFound) {
		// The stream nats.go would create for cfg (jetstream.prepareKeyValueConfig), plus
		// the persistence mode, which cannot be changed once the stream exists.
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{
			Name:              name,
			Description:       cfg.Description,
			Subjects:          []string{"$KV." + cfg.Bucket + ".>"},
			MaxMsgsPerSubject: int64(max(cfg.History, 1)),
			MaxBytes:          -1,
			MaxMsgSize:        -1,
			MaxMsgs:           -1,
			MaxConsumers:      -1,
			Storage:           cfg.Storage,
			Replicas:          1,
			AllowRollup:       true,
			DenyDelete:        true,
			Duplicates:        2 * time.Minute,
			AllowDirect:       true,
			Discard:           jetstream.DiscardNew,
			PersistMode:       jetstream.AsyncPersistMode,
		})
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return js.KeyValue(ctx, cfg.Bucket)
}

// Setup creates or updates the event stream and the buckets with the given number of
// replicas, and returns handles to them. It is safe to run from several processes at once.
func Setup(ctx context.Context, js jetstream.JetStream, replicas int) (*Resources, error) {
	if replicas < 1 {
		replicas = 1
	}
	r := &Resources{JS: js}
	err := Attempts(ctx, func(ctx context.Context) (err error) {
		r.Events, err = js.CreateOrUpdateStream(ctx, EventStreamConfig(replicas))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natsjs: event stream %s: %w", events.Stream, err)
	}
	err = Attempts(ctx, func(ctx context.Context) (err error) {
		r.Views, err = viewsBucket(ctx, js, jetstream.KeyValueConfig{Bucket: BucketViews, Description: "entityconn Outbound and Inbound views, projector checkpoint, pending requests",
			History: 1, Storage: jetstream.FileStorage, Replicas: replicas})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natsjs: bucket %s: %w", BucketViews, err)
	}
	buckets := []struct {
		kv  *jetstream.KeyValue
		cfg jetstream.KeyValueConfig
	}{
		{&r.Idempotency, jetstream.KeyValueConfig{Bucket: BucketIdempotency, Description: "entityconn first outcomes of commands, kept 24h", History: 1, TTL: IdempotencyWindow}},
		{&r.Directory, jetstream.KeyValueConfig{Bucket: BucketDirectory, Description: "entityconn directory and token signing key", History: 5}},
	}
	for _, b := range buckets {
		b.cfg.Storage = jetstream.FileStorage
		b.cfg.Replicas = replicas
		err := Attempts(ctx, func(ctx context.Context) (err error) {
			*b.kv, err = js.CreateOrUpdateKeyValue(ctx, b.cfg)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("natsjs: bucket %s: %w", b.cfg.Bucket, err)
		}
	}
	return r, nil
}
