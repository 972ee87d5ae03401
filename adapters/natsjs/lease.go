package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LeaseTTL is how long a lease lasts unless renewed: the longest a replica that dies without
// handing over keeps its work (projection, expiry) from the others.
const LeaseTTL = 3 * time.Second

// lease is a key of the views bucket that one process at a time holds: {holder, until}.
// Taking it is a conditional write; a lease not renewed within LeaseTTL is free. It is an
// efficiency measure (one process does the work), never what keeps data correct.
type lease struct {
	kv     jetstream.KeyValue
	key    string
	holder string
	log    *slog.Logger
}

type leaseValue struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

// acquire waits until this process holds the lease.
func (l *lease) acquire(ctx context.Context) error {
	for {
		ok, err := l.try(ctx)
		if ok {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			l.log.Warn("lease", "key", l.key, "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(LeaseTTL / 5):
		}
	}
}

// try takes the lease if it is free, expired or already ours, and extends it.
func (l *lease) try(ctx context.Context) (bool, error) {
	data, _ := json.Marshal(leaseValue{Holder: l.holder, Until: time.Now().Add(LeaseTTL)})
	e, err := l.kv.Get(ctx, l.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		_, err = l.kv.Create(ctx, l.key, data)
		return err == nil, ignoreConflict(err)
	}
	if err != nil {
		return false, err
	}
	var cur leaseValue
	_ = json.Unmarshal(e.Value(), &cur)
	if cur.Holder != l.holder && time.Now().Before(cur.Until) {
		return false, nil
	}
	_, err = l.kv.Update(ctx, l.key, data, e.Revision())
	return err == nil, ignoreConflict(err)
}

// keep renews the lease until ctx ends, and calls lost when another process has it.
func (l *lease) keep(ctx context.Context, lost context.CancelFunc) {
	t := time.NewTicker(LeaseTTL / 5)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := l.try(ctx)
		if ctx.Err() != nil {
			return
		}
		if !ok && err == nil {
			l.log.Warn("lease taken over by another process", "key", l.key)
			lost()
			return
		}
	}
}

// release gives the lease up so that another process takes over at once.
func (l *lease) release() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	e, err := l.kv.Get(ctx, l.key)
	if err != nil {
		return
	}
	var cur leaseValue
	if json.Unmarshal(e.Value(), &cur) == nil && cur.Holder == l.holder {
		_ = l.kv.Delete(ctx, l.key, jetstream.LastRevision(e.Revision()))
	}
}

// whileHeld runs f with the lease held, again each time it is lost and taken back, until ctx
// ends; f's context ends when the lease is lost. It returns ctx's error.
func (l *lease) whileHeld(ctx context.Context, f func(context.Context) error) error {
	for {
		if err := l.acquire(ctx); err != nil {
			return err
		}
		lctx, lost := context.WithCancel(ctx)
		kept := make(chan struct{})
		go func() {
			defer close(kept)
			l.keep(lctx, lost)
		}()
		err := f(lctx)
		lost()
		<-kept
		if ctx.Err() != nil {
			l.release()
			return ctx.Err()
		}
		if err != nil {
			l.log.Warn("stopped while holding the lease; will resume", "key", l.key, "err", err)
		}
	}
}

func ignoreConflict(err error) error {
	if err == nil || isRevisionConflict(err) {
		return nil
	}
	return err
}
