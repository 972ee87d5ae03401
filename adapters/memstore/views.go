package memstore

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/projections"
)

// Views are the store's views ([app.Views]); they include every event as soon as it is
// appended.
type Views struct{ s *Store }

// Views returns the store's views.
func (s *Store) Views() Views { return Views{s} }

// Get implements [app.Views].
func (v Views) Get(_ context.Context, d projections.Direction, entity, id string) (projections.View, bool, error) {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	view, ok := v.s.views[projections.Key(d, entity, id)]
	return view, ok, nil
}

// List implements [app.Views].
func (v Views) List(_ context.Context, entity string, ds ...projections.Direction) ([]projections.View, error) {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	return v.list(entity, ds), nil
}

func (v Views) list(entity string, ds []projections.Direction) []projections.View {
	var out []projections.View
	for _, k := range slices.Sorted(maps.Keys(v.s.views)) {
		if d, e, _, ok := projections.ParseKey(k); ok && e == entity && slices.Contains(ds, d) {
			out = append(out, v.s.views[k])
		}
	}
	return out
}

// WaitFor implements [app.Views]: it waits for an append when seq is not stored yet.
func (v Views) WaitFor(ctx context.Context, seq uint64) error { return v.s.waitFor(ctx, seq) }

// Progress implements [app.Views]: the views include every stored event.
func (v Views) Progress() uint64 {
	last, _ := v.s.sequence()
	return last
}

// WaitCaughtUp implements [app.Views]: the views are never behind.
func (v Views) WaitCaughtUp(context.Context) error { return nil }

// Follow implements [app.Views].
func (v Views) Follow(ctx context.Context, entity string, ds []projections.Direction, f func(app.Change) bool) error {
	v.s.mu.Lock()
	seen := map[string]uint64{}
	var initial []app.Change
	for _, k := range slices.Sorted(maps.Keys(v.s.views)) {
		if d, e, _, ok := projections.ParseKey(k); ok && e == entity && slices.Contains(ds, d) {
			initial = append(initial, app.Change{Direction: d, View: v.s.views[k]})
			seen[k] = v.s.views[k].Sequence
		}
	}
	changed := v.s.changed
	v.s.mu.Unlock()
	for _, c := range initial {
		if !f(c) {
			return nil
		}
	}
	if !f(app.Change{Live: true}) {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
		v.s.mu.Lock()
		var news []app.Change
		for _, k := range slices.Sorted(maps.Keys(v.s.views)) {
			d, e, _, ok := projections.ParseKey(k)
			if !ok || e != entity || !slices.Contains(ds, d) || seen[k] == v.s.views[k].Sequence {
				continue
			}
			seen[k] = v.s.views[k].Sequence
			news = append(news, app.Change{Direction: d, View: v.s.views[k]})
		}
		changed = v.s.changed
		v.s.mu.Unlock()
		for _, c := range news {
			if !f(c) {
				return nil
			}
		}
	}
}

// waitFor returns once seq is stored, or an error wrapping [app.ErrUnavailable] when ctx ends.
func (s *Store) waitFor(ctx context.Context, seq uint64) error {
	for {
		last, changed := s.sequence()
		if last >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for %d: %w", app.ErrUnavailable, seq, ctx.Err())
		case <-changed:
		}
	}
}

// Index is the store's list index ([app.ListIndex]), always caught up.
type Index struct{ s *Store }

// Index returns the store's list index.
func (s *Store) Index() Index { return Index{s} }

// Ready implements [app.ListIndex].
func (x Index) Ready() bool { return true }

// Sequence implements [app.ListIndex].
func (x Index) Sequence() uint64 { return x.s.index.Sequence() }

// WaitFor implements [app.ListIndex].
func (x Index) WaitFor(ctx context.Context, seq uint64) error { return x.s.waitFor(ctx, seq) }

// WaitCaughtUp implements [app.ListIndex].
func (x Index) WaitCaughtUp(context.Context) error { return nil }

// List implements [app.ListIndex].
func (x Index) List(entity string, ds ...projections.Direction) []projections.View {
	return x.s.index.List(entity, ds...)
}

// Pair implements [app.ListIndex].
func (x Index) Pair(source, target string) (projections.View, bool) {
	return x.s.index.Pair(source, target)
}

// Connection implements [app.ListIndex].
func (x Index) Connection(source, target, id string) (projections.View, bool) {
	return x.s.index.Connection(source, target, id)
}

// RequestSequence implements [app.ListIndex].
func (x Index) RequestSequence(source, target, id string) uint64 {
	return x.s.index.RequestSequence(source, target, id)
}

// Find implements [app.ListIndex].
func (x Index) Find(entity, id string) (projections.View, bool) { return x.s.index.Find(entity, id) }

// Shares implements [app.ListIndex].
func (x Index) Shares(source, target, id string) []projections.Share {
	return x.s.index.Shares(source, target, id)
}

// SharedObjects implements [app.ListIndex].
func (x Index) SharedObjects(entity string, d projections.Direction) []projections.Share {
	return x.s.index.SharedObjects(entity, d)
}

// Span implements [app.ListIndex].
func (x Index) Span(source, target, id string) (requested, last uint64, events int) {
	return x.s.index.Span(source, target, id)
}
