package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/projections"
)

// ErrNotProjected is returned by [Views.WaitFor] when ctx ends before the views include the
// awaited sequence.
var ErrNotProjected = errors.New("natsjs: the views do not include that sequence yet")

// Views reads the Outbound and Inbound views from the KV bucket and tells how far the
// projector has got. Start [Views.Run] before calling [Views.WaitFor]. Safe for concurrent use.
type Views struct {
	r   *Resources
	log *slog.Logger

	mu       sync.Mutex
	progress uint64
	changed  chan struct{} // closed and replaced whenever progress grows
}

// NewViews returns a reader of the views of r. log may be nil.
func NewViews(r *Resources, log *slog.Logger) *Views {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Views{r: r, log: log, changed: make(chan struct{})}
}

// Run follows the projector's checkpoint until ctx ends, so that [Views.WaitFor] can answer.
// It returns ctx's error, or an error if the watch cannot be started.
func (v *Views) Run(ctx context.Context) error {
	err := watch(ctx, v.r.Views, []string{checkpointKey}, puts(func(e jetstream.KeyValueEntry) {
		seq, err := strconv.ParseUint(string(e.Value()), 10, 64)
		if err != nil {
			v.log.Error("views: unreadable projector progress", "value", string(e.Value()))
			return
		}
		v.advance(seq)
	}))
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("natsjs: watch projector progress: %w", err)
	}
	return ctx.Err()
}

func (v *Views) advance(seq uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if seq > v.progress {
		v.progress = seq
		close(v.changed)
		v.changed = make(chan struct{})
	}
}

// Progress returns the stream sequence up to which the views are known to be complete.
func (v *Views) Progress() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.progress
}

// Changed returns the current progress and a channel that is closed when it grows.
func (v *Views) Changed() (uint64, <-chan struct{}) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.progress, v.changed
}

// WaitFor returns once the views include every event up to stream sequence seq, or
// [ErrNotProjected] when ctx ends first.
func (v *Views) WaitFor(ctx context.Context, seq uint64) error {
	for {
		v.mu.Lock()
		done, ch := v.progress >= seq, v.changed
		v.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for %d: %w", ErrNotProjected, seq, ctx.Err())
		case <-ch:
		}
	}
}

// WaitCaughtUp waits until the views include every event stored when it was called.
func (v *Views) WaitCaughtUp(ctx context.Context) error {
	info, err := v.r.Events.Info(ctx)
	if err != nil {
		return fmt.Errorf("natsjs: event stream info: %w", err)
	}
	return v.WaitFor(ctx, info.State.LastSeq)
}

// Get returns the view of connection id as entity sees it in direction d, and false if
// entity has no such view.
func (v *Views) Get(ctx context.Context, d projections.Direction, entity, id string) (projections.View, bool, error) {
	e, err := retrying(ctx, readTimeout, func(ctx context.Context) (jetstream.KeyValueEntry, error) {
		return v.r.Views.Get(ctx, projections.Key(d, entity, id))
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return projections.View{}, false, nil
	}
	if err != nil {
		return projections.View{}, false, fmt.Errorf("natsjs: view %s: %w", projections.Key(d, entity, id), err)
	}
	var view projections.View
	if err := json.Unmarshal(e.Value(), &view); err != nil {
		return projections.View{}, false, fmt.Errorf("natsjs: view %s: %w", e.Key(), err)
	}
	return view, true, nil
}

// List returns every view of entity in the given directions, in no particular order. It asks
// the server for the last value of every matching key in one direct-get request; an entity
// with more views than one such answer may hold (1,024) is read with a watch instead.
func (v *Views) List(ctx context.Context, entity string, ds ...projections.Direction) ([]projections.View, error) {
	out, err := v.listDirect(ctx, entity, ds)
	if !errors.Is(err, errTooManyViews) {
		return out, err
	}
	out = nil
	err = v.Follow(ctx, entity, ds, func(ch Change) bool {
		if ch.Live {
			return false // every current view delivered
		}
		out = append(out, ch.View)
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// errTooManyViews is listDirect's answer for more views than a direct get returns at once.
var errTooManyViews = errors.New("natsjs: too many views for one direct get")

// listDirect reads the views of entity with a multi-last direct get on the views stream:
// one request, one message per key, then an end-of-batch status.
func (v *Views) listDirect(ctx context.Context, entity string, ds []projections.Direction) ([]projections.View, error) {
	req := struct {
		MultiLast []string `json:"multi_last"`
	}{}
	for _, d := range ds {
		req.MultiLast = append(req.MultiLast, "$KV."+BucketViews+"."+projections.EntityFilter(d, entity))
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	nc := v.r.JS.Conn()
	inbox := nc.NewRespInbox()
	msgs := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(inbox, msgs)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest("$JS.API.DIRECT.GET.KV_"+BucketViews, inbox, body); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out []projections.View
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("natsjs: list views of %s: %w", entity, ctx.Err())
		case m := <-msgs:
			switch m.Header.Get("Status") {
			case "":
			case "204": // end of batch
				return out, nil
			case "404": // no views
				return nil, nil
			case "413":
				return nil, errTooManyViews
			case "503":
				return nil, fmt.Errorf("natsjs: list views of %s: %w", entity, nats.ErrNoResponders)
			default:
				return nil, fmt.Errorf("natsjs: list views of %s: direct get status %s %s", entity, m.Header.Get("Status"), m.Header.Get("Description"))
			}
			if len(m.Data) == 0 {
				continue // a deleted key's marker
			}
			var view projections.View
			if err := json.Unmarshal(m.Data, &view); err != nil {
				v.log.Error("views: unreadable view", "subject", m.Header.Get("Nats-Subject"), "err", err)
				continue
			}
			out = append(out, view)
		}
	}
}

// Change is one entry of [Views.Follow] ([app.Change]).
type Change = app.Change

// Follow calls f with every view of entity in the given directions, then with a Live
// marker, then with every change until ctx ends or f returns false. It returns ctx's error or
// the watch's. Views never disappear, so there are no deletions to report.
func (v *Views) Follow(ctx context.Context, entity string, ds []projections.Direction, f func(Change) bool) error {
	filters := make([]string, len(ds))
	for i, d := range ds {
		filters[i] = projections.EntityFilter(d, entity)
	}
	err := watch(ctx, v.r.Views, filters, func(e jetstream.KeyValueEntry) bool {
		if e == nil {
			return f(Change{Live: true})
		}
		d, _, _, ok := projections.ParseKey(e.Key())
		if !ok {
			return true
		}
		var view projections.View
		if err := json.Unmarshal(e.Value(), &view); err != nil {
			v.log.Error("views: unreadable view", "key", e.Key(), "err", err)
			return true
		}
		return f(Change{Direction: d, View: view})
	}, jetstream.IgnoreDeletes())
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("natsjs: follow views of %s: %w", entity, err)
	}
	return err
}
