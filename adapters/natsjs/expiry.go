package natsjs

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Keys of the views bucket that expiry keeps.
const (
	expiryCheckpointKey = "expiry.checkpoint"
	expiryLeaseKey      = "expiry.lease"
)

// ExpiryFeed hands the requests of the event stream, in the order they were made, to the
// service's expiry, one at a time: expiry waits for each to reach its time to live and then
// expires it unless it was answered. Requests are made in time order, so the oldest one not
// yet due holds the others back, and nothing but this one position needs remembering: the
// checkpoint (key expiry.checkpoint), moved past each request once it is settled. One
// process at a time feeds (key expiry.lease); a second feeder would only repeat work,
// because an expiry is stored once whoever tries it.
type ExpiryFeed struct {
	r     *Resources
	log   *slog.Logger
	lease *lease
}

// NewExpiryFeed returns the feed of r for the process named holder. log may be nil.
func NewExpiryFeed(r *Resources, holder string, log *slog.Logger) *ExpiryFeed {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ExpiryFeed{r: r, log: log, lease: &lease{kv: r.Views, key: expiryLeaseKey, holder: holder, log: log}}
}

// Run calls settle with every request after the checkpoint, in stream order, while it holds
// the lease, until ctx ends; it returns ctx's error. settle returns nil once the request is
// settled (expired, or found answered), and the checkpoint moves past it; an error is
// logged and the same request is given again after a pause.
func (x *ExpiryFeed) Run(ctx context.Context, settle func(context.Context, Stored) error) error {
	return x.lease.whileHeld(ctx, func(ctx context.Context) error { return x.feed(ctx, settle) })
}

func (x *ExpiryFeed) feed(ctx context.Context, settle func(context.Context, Stored) error) error {
	from, rev, err := x.checkpoint(ctx)
	if err != nil {
		return err
	}
	n := 0
	for ev, err := range followEvents(ctx, x.r, allRequests, from, 256, x.log.With("follower", "expiry")) {
		if err == nil {
			if err := retry(ctx, x.log, "expiry settle", func() error { return settle(ctx, ev.Stored) }); err != nil {
				return err
			}
		} else {
			x.log.Error("expiry: request skipped", "sequence", ev.Sequence, "err", err)
		}
		// Move the checkpoint when nothing else is waiting, or every 256 requests; also when
		// ctx has just ended, so that a stop does not lose the last position.
		if n++; ev.Pending == 0 || n%256 == 0 {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			var werr error
			rev, werr = x.setCheckpoint(wctx, ev.Sequence, rev)
			cancel()
			if werr != nil {
				return werr
			}
		}
	}
	return ctx.Err()
}

func (x *ExpiryFeed) checkpoint(ctx context.Context) (uint64, uint64, error) {
	e, err := x.r.Views.Get(ctx, expiryCheckpointKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	seq, err := strconv.ParseUint(string(e.Value()), 10, 64)
	return seq, e.Revision(), err
}

// setCheckpoint writes seq conditionally on rev; another feeder having moved it is fine (it
// is only a position to resume from).
func (x *ExpiryFeed) setCheckpoint(ctx context.Context, seq, rev uint64) (uint64, error) {
	value := []byte(strconv.FormatUint(seq, 10))
	var err error
	var next uint64
	if rev == 0 {
		next, err = x.r.Views.Create(ctx, expiryCheckpointKey, value)
	} else {
		next, err = x.r.Views.Update(ctx, expiryCheckpointKey, value, rev)
	}
	if err == nil {
		return next, nil
	}
	if !isRevisionConflict(err) {
		return rev, err
	}
	_, cur, err := x.checkpoint(ctx)
	return cur, err
}
