package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// ErrProjectorRunning is returned by [Rebuild] while another process holds the projector's
// lease: a running entityconn serve. Stop it first.
var ErrProjectorRunning = errors.New("natsjs: another process is projecting (stop entityconn serve first)")

// errCaughtUp ends a projector that was asked to stop at a sequence.
var errCaughtUp = errors.New("natsjs: caught up")

// Rebuild throws the views away (views and checkpoint) and projects every
// event again, from the first. progress, if not nil, is called after every batch with the
// events applied so far and the total. It returns the number of events in the stream when it
// started. It takes the projector's lease first and returns [ErrProjectorRunning] if another
// process has it; views written by events stored during the rebuild are projected by the
// next projector to run. log may be nil.
func Rebuild(ctx context.Context, r *Resources, log *slog.Logger, progress func(done, total uint64)) (uint64, error) {
	p := NewProjector(r, "rebuild-"+uuid.NewString(), log, nil)
	ok, err := p.lease.try(ctx)
	if err != nil {
		return 0, fmt.Errorf("natsjs: projector lease: %w", err)
	}
	if !ok {
		return 0, ErrProjectorRunning
	}
	defer p.lease.release()
	lctx, lost := context.WithCancel(ctx)
	defer lost()
	go p.lease.keep(lctx, lost)

	info, err := r.Events.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("natsjs: event stream: %w", err)
	}
	total := info.State.LastSeq
	views, err := r.JS.Stream(ctx, "KV_"+BucketViews)
	if err != nil {
		return 0, fmt.Errorf("natsjs: views stream: %w", err)
	}
	// Everything in the bucket is the projector's: purge it whole (much faster than by
	// subject when it holds millions of views), then take the lease again.
	pctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	err = views.Purge(pctx)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("natsjs: purge the views: %w", err)
	}
	if ok, err := p.lease.try(ctx); !ok || err != nil {
		return 0, fmt.Errorf("natsjs: projector lease lost while purging the views (%v)", err)
	}
	n := info.State.Msgs
	if progress != nil {
		progress(0, n)
	}
	if n == 0 {
		return 0, nil
	}
	before := info.State.FirstSeq - 1 // the stream denies deletes: sequences are contiguous
	p.stopAt = total
	p.onBatch = func(cp uint64) {
		if progress != nil {
			progress(cp-before, n)
		}
	}
	start := time.Now()
	err = p.project(lctx)
	if errors.Is(err, errCaughtUp) {
		p.log.Info("views rebuilt", "events", n, "in", time.Since(start))
		return n, nil
	}
	if err == nil || lctx.Err() != nil && ctx.Err() == nil {
		return 0, fmt.Errorf("natsjs: rebuild interrupted: the lease was taken by another process")
	}
	return 0, err
}
