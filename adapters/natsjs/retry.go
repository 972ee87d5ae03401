package natsjs

import (
	"context"
	"time"
)

// Per-request bounds of the command path. A request to a node that is stopped (SIGSTOP, a
// long GC pause, a full disk) or cut off is not refused: NATS still routes it there, and it
// waits for its context. A command's context lasts 30 s, so one such request made a command
// hang for 30 s and every retry of its key wait behind it. Each request gets a bound of its
// own instead and, when it fails for a reason a retry can change ([Unavailable]), is tried
// again, elsewhere or after the stream's new leader is elected, until the command's context
// ends.
const (
	readTimeout  = 2 * time.Second // a direct or leader get, a KV get
	writeTimeout = 4 * time.Second // an append or KV write (replicated, synced to disk)
	retryPause   = 50 * time.Millisecond
	retryFor     = 30 * time.Second // without a deadline of the caller's
)

// retrying runs f with a context bounded by each, again while it fails for a reason a
// retry can change and ctx has time left (at most retryFor when ctx has no deadline). It
// returns f's last result.
func retrying[T any](ctx context.Context, each time.Duration, f func(context.Context) (T, error)) (T, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, retryFor)
		defer cancel()
	}
	pause := backoffBetween(retryPause, time.Second)
	for {
		actx, cancel := context.WithTimeout(ctx, each)
		v, err := f(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !Unavailable(err) {
			return v, err
		}
		if pause.wait(ctx) != nil {
			return v, err
		}
	}
}
