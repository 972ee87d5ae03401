package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// As-of reads (contract §8) answer as the state was at an instant, from the event log: no
// second store of snapshots. A connection as of T is the fold of its events that occurred at
// T or before. A list as of T starts from the list index, which holds every connection with
// the time of its request and of its last event (shares included): one requested after T did
// not exist; one whose last event is at T or before is as it is now, its shares too; only
// those that changed after T are folded from their events, read from the log from their
// request on (a connection's events are contiguous among its pair's, and few).

// asOfReads bounds the histories an as-of list reads at once.
const asOfReads = 16

// checkAsOf refuses an as-of time in the future: the log does not know it yet.
func (s *Service) checkAsOf(t time.Time) error {
	if now := s.cfg.Now(); t.After(now) {
		return fmt.Errorf("%w: asOf %s is in the future (it is %s)", domain.ErrInvalidValue, t.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// GetAsOf returns connection id as p's entity saw it at asOf, with its history up to then.
// It returns an error wrapping domain.ErrNotFound when the connection did not exist then (or
// p's entity is neither its source nor its target), and one wrapping domain.ErrInvalidValue
// for a time in the future.
func (s *Service) GetAsOf(ctx context.Context, p Principal, id string, asOf time.Time) (Detail, error) {
	if _, err := s.actor(p); err != nil {
		return Detail{}, err
	}
	if err := s.checkAsOf(asOf); err != nil {
		return Detail{}, err
	}
	source, target, err := s.locate(ctx, p.EntityID, id, projections.Outbound)
	if err != nil {
		return Detail{}, err
	}
	spans := s.indexCaughtUp(ctx)
	hist, ok := s.requestOnly(source, target, id, asOf, spans)
	if !ok {
		if hist, err = s.historyUntil(ctx, source, target, id, asOf, spans); err != nil {
			return Detail{}, err
		}
	}
	if len(hist) == 0 {
		return Detail{}, fmt.Errorf("%w: %s did not exist at %s", domain.ErrConnectionNotFound, id, asOf.UTC().Format(time.RFC3339Nano))
	}
	return detailOf(id, hist), nil
}

// requestOnly answers from the list index alone when it shows that the history of
// connection id up to asOf is at most its request: requested after asOf (no history), or
// requested at asOf or before and changed by no other event until after asOf (its only event
// is the request, or its second one occurred after asOf). The index holds all that the
// request event says (its time, its user, its pair; the actor entity of a request is its
// source), so the log is not read: on a large log, reading one event from a message block
// the server has not read lately costs loading the whole block. spans says that the index
// has read the whole log; false when it cannot tell.
func (s *Service) requestOnly(source, target, id string, asOf time.Time, spans bool) ([]Stored, bool) {
	ix := s.cfg.Index
	if !spans || ix == nil {
		return nil, false
	}
	req, _, n := ix.Span(source, target, id)
	v, found := ix.Connection(source, target, id)
	if req == 0 || !found || v.RequestedBy == "" {
		return nil, false
	}
	switch {
	case asOf.Before(v.RequestedAt):
		return nil, true
	case n == 1, n == 2 && asOf.Before(v.UpdatedAt):
		return []Stored{{Sequence: req, Event: events.Event{Type: events.TypeConnectionRequested, ConnectionID: id,
			SourceEntityID: source, TargetEntityID: target, ActorUserID: v.RequestedBy, ActorEntityID: source,
			OccurredAt: v.RequestedAt}}}, true
	}
	return nil, false
}

// historyUntil returns the events of connection id that occurred at asOf or before. spans
// says that the list index has read the whole log (as it was a moment ago): a connection of
// one or two events it knows is then read by their sequences, without searching its pair's
// subjects, which on a large log costs a scan to the next event or the end.
func (s *Service) historyUntil(ctx context.Context, source, target, id string, asOf time.Time, spans bool) ([]Stored, error) {
	b := s.bound(source, target, id)
	if ix := s.cfg.Index; spans && ix != nil {
		if req, last, n := ix.Span(source, target, id); req > 0 && n <= 2 {
			b.From, b.To, b.Events = req, last, n
		}
	}
	hist, err := s.cfg.Store.Connection(ctx, source, target, id, b)
	if err != nil {
		return nil, unavailable(err)
	}
	for i, st := range hist {
		if st.Event.OccurredAt.After(asOf) {
			return hist[:i], nil
		}
	}
	return hist, nil
}

// listAsOf answers a list as of q.AsOf, from the list index and the log.
func (s *Service) listAsOf(ctx context.Context, p Principal, q ListQuery, ds []projections.Direction) (ListResult, error) {
	if err := s.checkAsOf(q.AsOf); err != nil {
		return ListResult{}, err
	}
	ix := s.cfg.Index
	if ix == nil || !ix.Ready() {
		return ListResult{}, fmt.Errorf("%w: the list index is loading", ErrUnavailable)
	}
	if err := s.waitUntil(ctx, ix.WaitFor, q.MinSequence); err != nil {
		return ListResult{}, err
	}
	states, err := s.connectionsAsOf(ctx, ix.List(p.EntityID, ds...), q.AsOf, false)
	if err != nil {
		return ListResult{}, err
	}
	all := make([]projections.View, len(states))
	for i, st := range states {
		all[i] = st.view
	}
	all = projections.Filter(all, q.Status)
	projections.SortNewestFirst(all)
	items, more := projections.Page(all, q.Page, q.PageSize)
	return ListResult{Items: items, More: more}, nil
}

// sharedAsOf returns p's entity's shares in the directions ds as of asOf.
func (s *Service) sharedAsOf(ctx context.Context, p Principal, ds []projections.Direction, asOf time.Time) ([]projections.Share, error) {
	if err := s.checkAsOf(asOf); err != nil {
		return nil, err
	}
	var all []projections.Share
	for _, d := range ds {
		cd := projections.Outbound
		if d == projections.SharedWith {
			cd = projections.Inbound
		}
		states, err := s.connectionsAsOf(ctx, s.cfg.Index.List(p.EntityID, cd), asOf, true)
		if err != nil {
			return nil, err
		}
		for _, st := range states {
			all = append(all, st.shares...)
		}
	}
	return all, nil
}

// indexCaughtUp reports whether the list index has read every event stored when it was
// called, waiting for it a little: then what it says of a connection's events is all of them
// up to now, and an as-of read (of a time before now) may rely on it.
func (s *Service) indexCaughtUp(ctx context.Context) bool {
	ix := s.cfg.Index
	if ix == nil || !ix.Ready() {
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, indexWait)
	defer cancel()
	return ix.WaitCaughtUp(wctx) == nil
}

// asOfState is a connection as of a time: its view, and the objects shared over it.
type asOfState struct {
	view   projections.View
	shares []projections.Share
}

// connectionsAsOf returns, for each view in vs (connections of the list index), the
// connection as it was at asOf; those requested after asOf are left out. withShares reads
// the shares too.
func (s *Service) connectionsAsOf(ctx context.Context, vs []projections.View, asOf time.Time, withShares bool) ([]asOfState, error) {
	out := make([]asOfState, 0, len(vs))
	spans := false    // whether the index has caught up: asked once, when a history is read
	var changed []int // in out: connections with events after asOf, to fold from the log
	for _, v := range vs {
		if v.RequestedAt.After(asOf) {
			continue
		}
		st := asOfState{view: v}
		if v.UpdatedAt.After(asOf) {
			changed = append(changed, len(out))
		} else if withShares {
			st.shares = s.cfg.Index.Shares(v.SourceEntityID, v.TargetEntityID, v.ID)
		}
		out = append(out, st)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs error
		sem  = make(chan struct{}, asOfReads)
	)
	if len(changed) > 0 {
		spans = s.indexCaughtUp(ctx)
	}
	for _, i := range changed {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			v := out[i].view
			hist, err := s.historyUntil(ctx, v.SourceEntityID, v.TargetEntityID, v.ID, asOf, spans)
			if err != nil {
				mu.Lock()
				errs = err
				mu.Unlock()
				return
			}
			out[i].view = detailOf(v.ID, hist).View
			if withShares {
				out[i].shares = foldShares(hist)
			}
		})
	}
	wg.Wait()
	if errs != nil {
		return nil, errs
	}
	kept := out[:0]
	for _, st := range out {
		if st.view.ID != "" { // a history that ends before asOf's first event: not yet there
			kept = append(kept, st)
		}
	}
	return kept, nil
}
