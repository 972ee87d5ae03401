package natsjs

import (
	"context"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsbatch"
	"github.com/entityconn/entityconn/events"
)

// GroupCommit configures group commit (decision 32, [natsbatch.Batcher]).
type GroupCommit = natsbatch.GroupCommit

// GroupStats counts what group commit did ([natsbatch.GroupStats]).
type GroupStats = natsbatch.GroupStats

// StoreOption configures a [Store].
type StoreOption func(*Store)

// WithGroupCommit sets the group commit of a store's single-event appends.
func WithGroupCommit(g GroupCommit) StoreOption {
	return func(s *Store) { s.group = natsbatch.NewBatcher(s.js.Conn(), g) }
}

// GroupStats returns what the store's group commit has done so far.
func (s *Store) GroupStats() GroupStats { return s.group.Stats() }

// appendGrouped is [Store.Append] through the store's group commit.
func (s *Store) appendGrouped(ctx context.Context, e events.Event, expect uint64) (uint64, error) {
	msg, pair, err := conditionalMsg(ctx, e, expect)
	if err != nil {
		return 0, err
	}
	return s.group.Write(ctx, msg, pair, func(ctx context.Context) (uint64, error) { return s.Append(ctx, e, expect) })
}

// groupKV is a key-value bucket whose creates and updates go through group commit; its
// stream allows atomic batches ([Setup]).
type groupKV struct {
	jetstream.KeyValue
	b *natsbatch.Batcher
}

func (g groupKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if len(opts) > 0 {
		return g.KeyValue.Create(ctx, key, value, opts...)
	}
	return g.put(ctx, key, value, 0, func(ctx context.Context) (uint64, error) { return g.KeyValue.Create(ctx, key, value) })
}

func (g groupKV) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	return g.put(ctx, key, value, revision, func(ctx context.Context) (uint64, error) {
		return g.KeyValue.Update(ctx, key, value, revision)
	})
}

// put writes value under key on the condition that key's last revision is last (0: none).
func (g groupKV) put(ctx context.Context, key string, value []byte, last uint64, alone func(context.Context) (uint64, error)) (uint64, error) {
	subject := "$KV." + g.Bucket() + "." + key
	msg := &nats.Msg{Subject: subject, Data: value, Header: nats.Header{}}
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(last, 10))
	return g.b.Write(ctx, msg, subject, alone)
}
