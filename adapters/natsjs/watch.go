package natsjs

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// errWatchClosed is returned by watch when the server side of a watch goes away.
var errWatchClosed = errors.New("natsjs: watch closed")

// watch calls f with each entry of kv matching filters: the current ones, then nil once they
// are all delivered, then every change, until ctx ends (it returns ctx's error), f returns
// false (it returns nil) or the watch closes.
func watch(ctx context.Context, kv jetstream.KeyValue, filters []string, f func(jetstream.KeyValueEntry) bool, opts ...jetstream.WatchOpt) error {
	w, err := kv.WatchFiltered(ctx, filters, opts...)
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return errWatchClosed
			}
			if !f(e) {
				return nil
			}
		}
	}
}

// puts calls f with the value of every put (not the nil marker, nor deletions).
func puts(f func(jetstream.KeyValueEntry)) func(jetstream.KeyValueEntry) bool {
	return func(e jetstream.KeyValueEntry) bool {
		if e != nil && e.Operation() == jetstream.KeyValuePut {
			f(e)
		}
		return true
	}
}
