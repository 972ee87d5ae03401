package natsjs

import (
	"context"
	"log/slog"
	"time"
)

// backoff paces a loop that tries again after each failure: every pause is twice the one
// before, up to limit, so that a failure that lasts is not hammered and a brief one costs
// little. The zero value is not usable: see [newBackoff]. Not safe for concurrent use.
type backoff struct {
	first, limit time.Duration
	// pause is how long the next wait lasts.
	pause time.Duration
}

// newBackoff returns the back-off of the loops that retry until they succeed or their
// context ends (the projector, the followers of the event stream, expiry): from 10 ms to 2 s.
func newBackoff() backoff { return backoffBetween(10*time.Millisecond, 2*time.Second) }

// backoffBetween returns a back-off whose first pause is first and whose pauses grow to limit.
func backoffBetween(first, limit time.Duration) backoff {
	return backoff{first: first, limit: limit, pause: first}
}

// wait pauses for b.pause, or until ctx ends, and doubles the next pause. It returns ctx's
// error if ctx ended first.
func (b *backoff) wait(ctx context.Context) error {
	t := time.NewTimer(b.pause)
	defer t.Stop()
	b.pause = min(2*b.pause, b.limit)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// reset makes the next pause the first again, after a success.
func (b *backoff) reset() { b.pause = b.first }

// retry runs f until it succeeds or ctx ends, pausing after each failure as [newBackoff]
// says, and logging the failure with what was being done. It returns nil or ctx's error.
func retry(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	b := newBackoff()
	for {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn("retrying", "step", what, "err", err, "in", b.pause)
		if err := b.wait(ctx); err != nil {
			return err
		}
	}
}
