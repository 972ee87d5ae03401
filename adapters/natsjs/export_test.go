package natsjs

import (
	"context"
	"iter"
	"log/slog"
)

// Followed is followed, for the package's tests.
type Followed = followed

// FollowEvents is followEvents, for the package's tests; log may be nil.
func FollowEvents(ctx context.Context, r *Resources, filter string, after uint64, buffer int, log *slog.Logger) iter.Seq2[Followed, error] {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return followEvents(ctx, r, filter, after, buffer, log)
}
