// Package memstore implements the ports of package app in memory: the event log, the views,
// the list index, the directory, the expiry feed and the outcome records. It is the twin of
// package natsjs for tests of the service and its doors that need no NATS: the store
// contract suite (package storetest) holds both to the same behaviour. The views and the
// index are brought up to date with each append, so they are never behind.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// Store is an event log with its views, list index and directory, in memory. The zero value
// is not usable: use [New]. Safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	log     []app.Stored                // log[i] is at sequence i+1
	pairs   map[[2]string][]int         // positions in log, by pair
	byID    map[string]int              // position in log, by event id
	views   map[string]projections.View // by key (projections.Key)
	index   *projections.Index
	changed chan struct{} // closed and replaced on every append

	dirMu      sync.Mutex
	dir        *domain.Directory
	dirChanged chan struct{}
}

// New returns an empty store with no directory loaded.
func New() *Store {
	return &Store{
		pairs: map[[2]string][]int{}, byID: map[string]int{}, views: map[string]projections.View{},
		index: projections.NewIndex(), changed: make(chan struct{}), dirChanged: make(chan struct{}),
	}
}

// UpdatePair implements [app.EventStore.UpdatePair] ([app.UpdateOptimistically]).
func (s *Store) UpdatePair(ctx context.Context, u app.PairUpdate) (app.Update, error) {
	if err := ctx.Err(); err != nil {
		return app.Update{}, fmt.Errorf("%w: %w", app.ErrUnavailable, err)
	}
	return app.UpdateOptimistically(ctx, s, u)
}

// LastOfPair implements [app.ConditionalLog].
func (s *Store) LastOfPair(_ context.Context, source, target string) (app.Stored, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.pairs[[2]string{source, target}]
	if len(ps) == 0 {
		return app.Stored{}, false, nil
	}
	return s.log[ps[len(ps)-1]], true, nil
}

// AppendIf implements [app.ConditionalLog] ([Store.Append]).
func (s *Store) AppendIf(_ context.Context, e events.Event, expect uint64) (uint64, error) {
	return s.Append(e, expect)
}

// Append stores e if the pair's last event is at sequence expect (0: the pair has none), and
// returns its sequence, or [app.ErrConcurrentChange]. An event whose id is stored already is not stored again: its sequence
// is returned if it is the same event (id, pair, type, connection), and an error wrapping
// [app.ErrEventIDTaken] if not.
func (s *Store) Append(e events.Event, expect uint64) (uint64, error) {
	if err := e.Validate(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.byID[e.EventID]; ok {
		st := s.log[i]
		if st.Event.Type != e.Type || st.Event.ConnectionID != e.ConnectionID ||
			st.Event.SourceEntityID != e.SourceEntityID || st.Event.TargetEntityID != e.TargetEntityID {
			return 0, fmt.Errorf("%w: %s at sequence %d", app.ErrEventIDTaken, st.Event.Type, st.Sequence)
		}
		return st.Sequence, nil
	}
	key := [2]string{e.SourceEntityID, e.TargetEntityID}
	var last uint64
	if ps := s.pairs[key]; len(ps) > 0 {
		last = s.log[ps[len(ps)-1]].Sequence
	}
	if last != expect {
		return 0, app.ErrConcurrentChange
	}
	return s.appendLocked(e), nil
}

// UpdatePairs implements [app.EventStore.UpdatePairs] ([app.UpdatePairsOptimistically]).
func (s *Store) UpdatePairs(ctx context.Context, u app.PairsUpdate) (app.PairsResult, error) {
	if err := ctx.Err(); err != nil {
		return app.PairsResult{}, fmt.Errorf("%w: %w", app.ErrUnavailable, err)
	}
	return app.UpdatePairsOptimistically(ctx, s, u)
}

// AppendBatch implements [app.ConditionalLog]: es are stored together, or none of them.
func (s *Store) AppendBatch(_ context.Context, es []events.Event, expect []app.Expect) ([]uint64, error) {
	for _, e := range es {
		if err := e.Validate(); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stored := 0
	for _, e := range es {
		if _, ok := s.byID[e.EventID]; ok {
			stored++
		}
	}
	switch {
	case stored == len(es):
		return nil, app.ErrConcurrentChange // stored already: the pairs show it
	case stored > 0:
		return nil, fmt.Errorf("%w: %d of the batch's %d event ids", app.ErrEventIDTaken, stored, len(es))
	}
	for _, x := range expect {
		var last uint64
		if ps := s.pairs[[2]string{x.Source, x.Target}]; len(ps) > 0 {
			last = s.log[ps[len(ps)-1]].Sequence
		}
		if last != x.Sequence {
			return nil, app.ErrConcurrentChange
		}
	}
	seqs := make([]uint64, len(es))
	for i, e := range es {
		seqs[i] = s.appendLocked(e)
	}
	return seqs, nil
}

// appendLocked stores e and brings the views and index up to date; s.mu is held.
func (s *Store) appendLocked(e events.Event) uint64 {
	key := [2]string{e.SourceEntityID, e.TargetEntityID}
	seq := uint64(len(s.log) + 1)
	s.log = append(s.log, app.Stored{Event: e, Sequence: seq})
	s.pairs[key] = append(s.pairs[key], len(s.log)-1)
	s.byID[e.EventID] = len(s.log) - 1
	for _, k := range projections.Keys(e) {
		if next, changed := projections.Apply(s.views[k], seq, e); changed {
			s.views[k] = next
		}
	}
	s.index.Apply(seq, e)
	close(s.changed)
	s.changed = make(chan struct{})
	return seq
}

// Connection implements [app.EventStore.Connection]: b is not needed in memory.
func (s *Store) Connection(ctx context.Context, source, target, id string, _ app.Bound) ([]app.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", app.ErrUnavailable, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []app.Stored
	for _, i := range s.pairs[[2]string{source, target}] {
		if st := s.log[i]; st.Event.ConnectionID == id {
			out = append(out, st)
		}
	}
	return out, nil
}

// Events returns every stored event, in order.
func (s *Store) Events() []app.Stored {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// sequence returns the last sequence and the channel closed at the next append.
func (s *Store) sequence() (uint64, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint64(len(s.log)), s.changed
}

// SetDirectory makes dir the directory in force.
func (s *Store) SetDirectory(dir *domain.Directory) {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	s.dir = dir
	close(s.dirChanged)
	s.dirChanged = make(chan struct{})
}

// Current implements [app.Directory].
func (s *Store) Current() *domain.Directory {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	return s.dir
}

// Changed implements [app.Directory].
func (s *Store) Changed() <-chan struct{} {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	return s.dirChanged
}

// The ports this package implements.
var (
	_ app.EventStore = (*Store)(nil)
	_ app.Directory  = (*Store)(nil)
	_ app.Views      = Views{}
	_ app.ListIndex  = Index{}
	_ app.ExpiryFeed = ExpiryFeed{}
)
