package natsjs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
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

// Duplicate windows. The server keeps the Nats-Msg-Id of every message of the last window in
// memory, and at start reads back every message stored within the window to rebuild that
// map, so a window costs memory and start time in proportion to the write rate. Appends do
// not need one: every append is conditional on the pair's last sequence, so a retry of a
// stored append is refused and recognised by its event id ([Store.Append]). The event stream
// keeps a short window as a first answer to a quick resend; the views bucket, whose writes
// carry no Nats-Msg-Id, the server's minimum (docs/decisions.md).
const (
	EventsDuplicateWindow = 10 * time.Second
	ViewsDuplicateWindow  = 100 * time.Millisecond
)

// AppendPrefix starts the subjects the service appends events on:
// entityconn.store.events.<source>.<target>.<Type>. The event stream stores each one under
// entityconn.events.<source>.<target>.<Type> (a subject transform) and republishes it there
// once stored, for live subscribers.
//
// Why not append on the stored subjects themselves: NATS permissions let a user subscribe to
// its entities' events (contract §5a) and create consumers, and a push consumer's deliver
// subject is not checked against its creator's permissions. A stream taking messages on
// entityconn.events.> would store whatever such a consumer delivers there while someone
// listens: a forged event. Nobody but the service may publish or subscribe under
// entityconn.store, so nothing reaches the stream but the service's appends.
const AppendPrefix = "entityconn.store.events"

// AppendSubject returns the subject e is appended on (see [AppendPrefix]).
func AppendSubject(e events.Event) string {
	return AppendPrefix + "." + e.SourceEntityID + "." + e.TargetEntityID + "." + string(e.Type)
}

// EventStreamConfig is the configuration of the event stream: file storage, nothing ever
// deleted (DenyDelete, DenyPurge, no limits, DiscardNew), direct gets allowed so that loading
// state needs no consumer, atomic batches allowed, and a short de-duplication window ([EventsDuplicateWindow]). It
// takes messages on [AppendPrefix], stores them under entityconn.events, and republishes
// each stored event on its subject.
func EventStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:             events.Stream,
		Description:      "entityconn events: the source of truth (append-only)",
		Subjects:         []string{AppendPrefix + ".>"},
		SubjectTransform: &jetstream.SubjectTransformConfig{Source: AppendPrefix + ".>", Destination: events.SubjectPrefix + ".>"},
		RePublish:        &jetstream.RePublish{Source: events.SubjectPrefix + ".>", Destination: events.SubjectPrefix + ".>"},
		Storage:          jetstream.FileStorage,
		Retention:        jetstream.LimitsPolicy,
		Discard:          jetstream.DiscardNew,
		DenyDelete:       true,
		DenyPurge:        true,
		AllowDirect:      true,
		// A disconnection with its shares' ends, and a share with several targets, are
		// appended as one atomic batch (rule 6).
		AllowAtomicPublish: true,
		Duplicates:         EventsDuplicateWindow,
		MaxMsgSize:         maxEventSize,
		Replicas:           replicas,
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

// AttemptsWithin is [Attempts] with a timeout of its own for each attempt. When ctx ends
// first, the error returned is the last one that says more than that an attempt timed out, if
// any did.
func AttemptsWithin(ctx context.Context, each time.Duration, f func(context.Context) error) error {
	var cause error
	for {
		actx, cancel := context.WithTimeout(ctx, each)
		err := f(actx)
		cancel()
		if err == nil || !transient(err) {
			return err
		}
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			cause = err
		}
		if ctx.Err() != nil {
			return cmp.Or(cause, err)
		}
		if report, ok := ctx.Value(onRetryKey{}).(func(error)); ok {
			report(err)
		}
		select {
		case <-ctx.Done():
			return cmp.Or(cause, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type onRetryKey struct{}

// OnRetry returns a context under which [Attempts] and [AttemptsWithin] call report with
// each error they are about to retry (a timeout, no responders, JetStream's 503), so that a
// caller waiting for NATS can say why. report must be safe for concurrent use.
func OnRetry(ctx context.Context, report func(error)) context.Context {
	return context.WithValue(ctx, onRetryKey{}, report)
}

func transient(err error) bool {
	return Unavailable(err) || errors.Is(err, errNotYet)
}

// Permanent reports whether err, from connecting to NATS or from [Setup], [Bind] or another
// call that creates or binds JetStream resources, is one that waiting cannot cure: it says
// the configuration is wrong. The list is short on purpose; anything else (a cluster still
// forming, a stream without a leader, no responders, timeouts, JetStream not enabled yet, no
// server reachable, no suitable peers for placement yet) may pass, and callers that wait
// for NATS should retry it. Permanent are:
//   - the server refused the credentials (authorization violation, authentication expired
//     or revoked) or the TLS set-up (a secure connection required, or not available);
//   - replicas > 1 on a server that is not clustered (JetStream error 10074);
//   - a stream that exists with a configuration JetStream cannot update to ours: its
//     replicas (10061), storage or retention (10052, invalid configuration), another
//     configuration under the same name (10058), or subjects another stream takes (10065).
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	for _, e := range []error{nats.ErrAuthorization, nats.ErrAuthExpired, nats.ErrAuthRevoked, nats.ErrAccountAuthExpired,
		nats.ErrSecureConnRequired, nats.ErrSecureConnWanted} {
		if errors.Is(err, e) {
			return true
		}
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case JSErrCodeReplicasNotSupported, JSErrCodeReplicasNotUpdatable, JSErrCodeStreamInvalidConfig,
			jetstream.JSErrCodeStreamNameInUse, JSErrCodeStreamSubjectOverlap:
			return true
		}
	}
	return false
}

// JetStream error codes that nats.go does not name (nats-server's errors.json).
const (
	// JSErrCodeReplicasNotSupported: "replicas > 1 not supported in non-clustered mode".
	JSErrCodeReplicasNotSupported jetstream.ErrorCode = 10074
	// JSErrCodeReplicasNotUpdatable: "Replicas configuration can not be updated".
	JSErrCodeReplicasNotUpdatable jetstream.ErrorCode = 10061
	// JSErrCodeStreamInvalidConfig: an invalid stream configuration, such as an update that
	// changes the storage type or the retention policy.
	JSErrCodeStreamInvalidConfig jetstream.ErrorCode = 10052
	// JSErrCodeStreamSubjectOverlap: "subjects overlap with an existing stream".
	JSErrCodeStreamSubjectOverlap jetstream.ErrorCode = 10065
	// JSErrCodeNoSuitablePeers: "no suitable peers for placement" (a cluster with fewer
	// servers available than the replicas asked for; one that is forming, say).
	JSErrCodeNoSuitablePeers jetstream.ErrorCode = 10005
)

// ViewsDescription is the description of the views bucket, which `nats kv ls` shows: what
// its keys hold.
const ViewsDescription = "entityconn views: each entity's Outbound and Inbound connections, objects shared by and with it; projector and expiry checkpoints and leases"

// viewsBucket creates or binds the views bucket. Its stream is the one nats.go would create
// for cfg (jetstream.prepareKeyValueConfig) with two changes. With one replica it persists
// asynchronously: the server flushes it to disk in the background instead of on every
// write. Views are derived from the event stream, and the projector's checkpoint is in the
// same stream after the views it covers, so a power loss can only lose a tail of both, which
// the projector then applies again (docs/decisions.md). Replicated streams do not support
// that mode (nor need it: their Raft log is what is synced). And its duplicate window is
// [ViewsDuplicateWindow]. A bucket that exists is updated to that window, to cfg's
// description (an earlier version's is replaced) and, unless it persists asynchronously, to
// cfg's replicas.
func viewsBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	want := jetstream.StreamConfig{
		Name:              "KV_" + cfg.Bucket,
		Description:       cfg.Description,
		Subjects:          []string{"$KV." + cfg.Bucket + ".>"},
		MaxMsgsPerSubject: int64(max(cfg.History, 1)),
		MaxBytes:          -1,
		MaxMsgSize:        -1,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		Storage:           cfg.Storage,
		Replicas:          max(cfg.Replicas, 1),
		AllowRollup:       true,
		DenyDelete:        true,
		Duplicates:        ViewsDuplicateWindow,
		AllowDirect:       true,
		Discard:           jetstream.DiscardNew,
	}
	if want.Replicas == 1 {
		want.PersistMode = jetstream.AsyncPersistMode
	}
	s, err := js.Stream(ctx, want.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if _, err := js.CreateStream(ctx, want); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		have := s.CachedInfo().Config
		async := have.PersistMode == jetstream.AsyncPersistMode
		if have.Duplicates != want.Duplicates || have.Description != want.Description || !async && have.Replicas != want.Replicas {
			have.Duplicates, have.Description = want.Duplicates, want.Description
			if !async {
				have.Replicas = want.Replicas
			}
			if _, err := js.UpdateStream(ctx, have); err != nil {
				return nil, err
			}
		}
	}
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		// Created a moment ago, here or by another process: on a cluster the server that
		// answers may not know the new stream yet.
		return nil, fmt.Errorf("%w: %w", errNotYet, err)
	}
	return kv, err
}

// errNotYet marks a stream just created that the server answering does not show yet: worth
// another attempt.
var errNotYet = errors.New("natsjs: just created, not visible yet")

// Setup creates or updates the event stream and the buckets with the given number of
// replicas, and returns handles to them. It is safe to run from several processes at once.
func Setup(ctx context.Context, js jetstream.JetStream, replicas int) (*Resources, error) {
	if replicas < 1 {
		replicas = 1
	}
	r := &Resources{JS: js}
	want := EventStreamConfig(replicas)
	err := Attempts(ctx, func(ctx context.Context) (err error) {
		// An update of a stream holding a million events takes the server a few hundred
		// milliseconds even when nothing changes: look first.
		r.Events, err = js.Stream(ctx, want.Name)
		if err == nil && sameEventStreamConfig(r.Events.CachedInfo().Config, want) {
			return nil
		}
		r.Events, err = js.CreateOrUpdateStream(ctx, want)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natsjs: event stream %s: %w", events.Stream, err)
	}
	err = Attempts(ctx, func(ctx context.Context) (err error) {
		r.Views, err = viewsBucket(ctx, js, jetstream.KeyValueConfig{Bucket: BucketViews, Description: ViewsDescription,
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
	// The outcome records' writes are committed in groups, as atomic batches ([Outcomes]).
	if err := Attempts(ctx, func(ctx context.Context) error { return allowAtomicPublish(ctx, js, "KV_"+BucketIdempotency) }); err != nil {
		return nil, fmt.Errorf("natsjs: bucket %s: allow atomic batches: %w", BucketIdempotency, err)
	}
	return r, nil
}

// allowAtomicPublish lets stream take atomic batches, unless it does already.
func allowAtomicPublish(ctx context.Context, js jetstream.JetStream, stream string) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	cfg := s.CachedInfo().Config
	if cfg.AllowAtomicPublish {
		return nil
	}
	cfg.AllowAtomicPublish = true
	_, err = js.UpdateStream(ctx, cfg)
	return err
}

// sameEventStreamConfig reports whether have, a stream's configuration as the server
// reports it, has every setting of want, an [EventStreamConfig].
func sameEventStreamConfig(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) && have.Description == want.Description &&
		reflect.DeepEqual(have.SubjectTransform, want.SubjectTransform) && reflect.DeepEqual(have.RePublish, want.RePublish) &&
		have.Storage == want.Storage && have.Retention == want.Retention && have.Discard == want.Discard &&
		have.DenyDelete == want.DenyDelete && have.DenyPurge == want.DenyPurge && have.AllowDirect == want.AllowDirect &&
		have.AllowAtomicPublish == want.AllowAtomicPublish &&
		have.Duplicates == want.Duplicates && have.MaxMsgSize == want.MaxMsgSize && have.Replicas == want.Replicas
}

// Bind returns handles to the event stream and buckets that [Setup] created, through js
// (another connection, say), without creating or changing anything.
func Bind(ctx context.Context, js jetstream.JetStream) (*Resources, error) {
	r := &Resources{JS: js}
	err := Attempts(ctx, func(ctx context.Context) (err error) {
		if r.Events, err = js.Stream(ctx, events.Stream); err != nil {
			return err
		}
		if r.Views, err = js.KeyValue(ctx, BucketViews); err != nil {
			return err
		}
		if r.Idempotency, err = js.KeyValue(ctx, BucketIdempotency); err != nil {
			return err
		}
		r.Directory, err = js.KeyValue(ctx, BucketDirectory)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natsjs: bind: %w", err)
	}
	return r, nil
}
