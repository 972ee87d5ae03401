package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// The shares of objects (contract §7, rule 6). A share or unshare is decided on the pairs
// from the acting entity to each target, read from the event log, and on the objects shared
// over them, from the list index once it has read each pair up to the event the decision is
// on, else from the connection's events ([Service.sharesAt]): a pair's last event alone does
// not say which objects its connection shares.
// The events are appended as one atomic batch, conditional on every pair, so the decision
// holds or nothing is stored. A disconnection appends the ends of its connection's shares in
// the same batch ([PairUpdate.Follow]).

// executeShare runs a share or unshare: its ids are derived from id as [Service.execute]
// derives a connection command's.
func (s *Service) executeShare(ctx context.Context, p Principal, actor domain.Actor, explicit, retry bool, ids func(kind, object string) string, cmd domain.Command) (Result, error) {
	var o domain.Object
	var targets []string
	field := "toEntityIds"
	switch c := cmd.(type) {
	case domain.ShareObject:
		o, targets = c.Object, c.Targets
	case domain.UnshareObject:
		o, targets, field = c.Object, c.Targets, "fromEntityIds"
	}
	if err := domain.CheckObject(o, targets, field); err != nil {
		return Result{}, err
	}
	eventIDs := make([]string, len(targets))
	pairs := make([]Pair, len(targets))
	for i, t := range targets {
		eventIDs[i] = ids("event", o.Type+"/"+o.ID+"/"+t)
		pairs[i] = Pair{p.EntityID, t}
	}
	switch c := cmd.(type) {
	case domain.ShareObject:
		c.EventIDs = eventIDs
		cmd = c
	case domain.UnshareObject:
		c.EventIDs = eventIDs
		cmd = c
	}
	ours := func(e events.Event) bool { return e.Type.Object() && slices.Contains(eventIDs, e.EventID) }
	if retry {
		// As for a connection's command: an earlier attempt may have stored the events
		// and someone acted after it.
		if res, ok, err := s.earlierShares(ctx, pairs, ours); err != nil || ok {
			return res, err
		}
	}
	up, err := s.cfg.Store.UpdatePairs(ctx, PairsUpdate{
		Pairs:   pairs,
		Ours:    ours,
		Guesses: s.guesses(pairs, retry),
		Decide: func(ctx context.Context, states []PairState) ([]events.Event, error) {
			ss := make([]domain.ShareState, len(states))
			for i, st := range states {
				ss[i].Connection = st.Latest
				if st.Latest.Status != domain.StatusConnected {
					continue
				}
				shared, err := s.sharesAt(ctx, pairs[i], st)
				if err != nil {
					return nil, err
				}
				ss[i].Shared = slices.ContainsFunc(shared, func(sh projections.Share) bool { return sh.Object() == o })
			}
			now := s.cfg.Now().UTC()
			if c, ok := cmd.(domain.ShareObject); ok {
				return domain.DecideShare(ss, c, actor, now)
			}
			return domain.DecideUnshare(ss, cmd.(domain.UnshareObject), actor, now)
		},
	})
	if err == nil {
		return Result{Sequence: up.Sequence, Replayed: up.Replayed}, nil
	}
	if refusal(err) && explicit && (retry || up.Appended) {
		res, ok, herr := s.earlierShares(ctx, pairs, ours)
		if herr != nil {
			return Result{}, herr
		}
		if ok {
			return res, nil
		}
	}
	return Result{}, err
}

// guesses returns the list index's states of the pairs, to decide on first (as
// [Service.guess] for a connection's command), or nil: on a retry, which must read what an
// earlier attempt may have stored, or without an index that has loaded.
func (s *Service) guesses(pairs []Pair, retry bool) []PairState {
	ix := s.cfg.Index
	if ix == nil || !ix.Ready() || retry {
		return nil
	}
	out := make([]PairState, len(pairs))
	for i, p := range pairs {
		if v, ok := ix.Pair(p.Source, p.Target); ok {
			out[i] = PairState{Sequence: v.Sequence, Latest: v.Connection()}
		}
	}
	return out
}

// sharesAt returns the objects shared over the pair's latest connection as of its last
// event, st: the list index's once it has read that event; if it has not within
// indexShareWait (a replica catching up, an index stopped), the fold of the connection's
// events, read from the log.
func (s *Service) sharesAt(ctx context.Context, p Pair, st PairState) ([]projections.Share, error) {
	if ix := s.cfg.Index; ix != nil && ix.Ready() {
		if ix.Sequence() < st.Sequence {
			wctx, cancel := context.WithTimeout(ctx, indexShareWait)
			_ = ix.WaitFor(wctx, st.Sequence)
			cancel()
		}
		if ix.Sequence() >= st.Sequence {
			return ix.Shares(p.Source, p.Target, st.Latest.ID), nil
		}
	}
	hist, err := s.cfg.Store.Connection(ctx, p.Source, p.Target, st.Latest.ID, s.bound(p.Source, p.Target, st.Latest.ID))
	if err != nil {
		return nil, unavailable(err)
	}
	if len(hist) == 0 || hist[len(hist)-1].Sequence < st.Sequence {
		return nil, ErrReadAgain // the history read is behind the pair's last event
	}
	return foldShares(hist), nil
}

// indexShareWait bounds how long a decision waits for the list index to reach a pair's last
// event before it reads the connection's events instead.
const indexShareWait = 250 * time.Millisecond

// foldShares returns the objects that the events of one connection leave shared, oldest
// share first, as the list index holds them.
func foldShares(hist []Stored) []projections.Share {
	var out []projections.Share
	for _, st := range hist {
		e := st.Event
		if !e.Type.Object() {
			continue
		}
		i := slices.IndexFunc(out, func(s projections.Share) bool { return s.ObjectType == e.ObjectType && s.ObjectID == e.ObjectID })
		var cur projections.Share
		if i >= 0 {
			cur = out[i]
		}
		next, exists, changed := projections.ApplyShare(cur, i >= 0, st.Sequence, e)
		switch {
		case !changed:
		case !exists:
			out = slices.Delete(out, i, i+1)
		case i >= 0:
			out[i] = next
		default:
			out = append(out, next)
		}
	}
	return out
}

// earlierShares looks for the events of an earlier attempt of a share or unshare in the
// histories of the pairs' latest connections.
func (s *Service) earlierShares(ctx context.Context, pairs []Pair, ours func(events.Event) bool) (Result, bool, error) {
	ix := s.cfg.Index
	var res Result
	for _, p := range pairs {
		if ix == nil {
			break
		}
		v, ok := ix.Pair(p.Source, p.Target)
		if !ok {
			continue
		}
		hist, err := s.cfg.Store.Connection(ctx, p.Source, p.Target, v.ID, s.bound(p.Source, p.Target, v.ID))
		if err != nil {
			return Result{}, false, unavailable(err)
		}
		for _, st := range hist {
			if ours(st.Event) {
				res.Sequence, res.Replayed = max(res.Sequence, st.Sequence), true
			}
		}
	}
	return res, res.Replayed, nil
}

// endShares returns what a disconnection adds to its batch ([PairUpdate.Follow]): the end
// of every share over the connection, with ids derived from the disconnection's.
func (s *Service) endShares(source, target string) func(ctx context.Context, st PairState, e events.Event) ([]events.Event, []Expect, error) {
	return func(ctx context.Context, st PairState, e events.Event) ([]events.Event, []Expect, error) {
		if e.Type != events.TypeConnectionDisconnected {
			return nil, nil, nil
		}
		shared, err := s.sharesAt(ctx, Pair{source, target}, st)
		if err != nil {
			return nil, nil, err
		}
		objects := make([]domain.Object, len(shared))
		ids := make([]string, len(shared))
		for i, sh := range shared {
			objects[i] = sh.Object()
			ids[i] = endedShareID(e.EventID, objects[i])
		}
		return domain.SharesEnded(e, objects, ids), nil, nil
	}
}

// endedShareID is the id of the event that ends the share of o with the disconnection whose
// event is disconnectID.
func endedShareID(disconnectID string, o domain.Object) string {
	return deriveID("share-ended", disconnectID, o.Type, o.ID)
}

// endedShareOf reports whether e ends a share with the disconnection whose event is
// disconnectID: one of the events [Service.endShares] adds.
func endedShareOf(disconnectID string) func(events.Event) bool {
	return func(e events.Event) bool {
		return e.Type == events.TypeObjectUnshared && e.Reason == events.ReasonConnectionEnded &&
			e.EventID == endedShareID(disconnectID, domain.Object{Type: e.ObjectType, ID: e.ObjectID})
	}
}

// SharedQuery selects the shares of the acting entity.
type SharedQuery struct {
	// Direction is projections.SharedBy, projections.SharedWith, or "" for both.
	Direction projections.Direction
	// ObjectType keeps only objects of that type; "" keeps all.
	ObjectType string
	// Page is 1..MaxPage; PageSize is 1..MaxPageSize.
	Page, PageSize int
	// MinSequence, when not 0, makes the query wait (up to MinSequenceWait) until the list
	// index includes that stream sequence.
	MinSequence uint64
	// AsOf, when not zero, answers as the shares were at that instant (contract §8).
	AsOf time.Time
}

// SharedResult is one page of shares, newest first.
type SharedResult struct {
	Items []projections.Share
	More  bool
}

// SharedObjects returns a page of the objects p's entity shares or that are shared with it.
func (s *Service) SharedObjects(ctx context.Context, p Principal, q SharedQuery) (SharedResult, error) {
	if _, err := s.actor(p); err != nil {
		return SharedResult{}, err
	}
	switch {
	case q.Page < 1 || q.Page > MaxPage:
		return SharedResult{}, fmt.Errorf("%w: page %d is out of range: it must be between 1 and %d", domain.ErrInvalidValue, q.Page, MaxPage)
	case q.PageSize < 1 || q.PageSize > MaxPageSize:
		return SharedResult{}, fmt.Errorf("%w: pageSize %d is out of range: it must be between 1 and %d", domain.ErrInvalidValue, q.PageSize, MaxPageSize)
	case q.Direction != "" && q.Direction != projections.SharedBy && q.Direction != projections.SharedWith:
		return SharedResult{}, fmt.Errorf("%w: direction %q must be sharedBy or sharedWith", domain.ErrInvalidValue, truncate(string(q.Direction)))
	case q.ObjectType != "" && !events.ValidObjectType(q.ObjectType):
		return SharedResult{}, fmt.Errorf("%w: objectType %q does not match %s", domain.ErrInvalidValue, truncate(q.ObjectType), events.ObjectTypePattern)
	}
	ix := s.cfg.Index
	if ix == nil || !ix.Ready() {
		return SharedResult{}, fmt.Errorf("%w: the list index is loading", ErrUnavailable)
	}
	if err := s.waitUntil(ctx, ix.WaitFor, q.MinSequence); err != nil {
		return SharedResult{}, err
	}
	ds := []projections.Direction{projections.SharedBy, projections.SharedWith}
	if q.Direction != "" {
		ds = []projections.Direction{q.Direction}
	}
	var all []projections.Share
	if q.AsOf.IsZero() {
		for _, d := range ds {
			all = append(all, ix.SharedObjects(p.EntityID, d)...)
		}
	} else {
		var err error
		if all, err = s.sharedAsOf(ctx, p, ds, q.AsOf); err != nil {
			return SharedResult{}, err
		}
	}
	all = projections.FilterShares(all, q.ObjectType)
	projections.SortSharesNewestFirst(all)
	items, more := projections.Page(all, q.Page, q.PageSize)
	return SharedResult{Items: items, More: more}, nil
}
