package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// EntityAccess is an entity a user can act in, with the user's role there.
type EntityAccess struct {
	domain.Entity
	Role domain.Role
}

// Entities returns the entities user can access, in directory order. It returns an error
// wrapping domain.ErrUnauthenticated for a user that is no longer in the directory.
func (s *Service) Entities(user string) ([]EntityAccess, error) {
	dir := s.cfg.Directory.Current()
	if dir == nil {
		return nil, fmt.Errorf("%w: no directory loaded", ErrUnavailable)
	}
	if _, ok := dir.User(user); !ok {
		return nil, fmt.Errorf("%w: user %q is not in the directory", domain.ErrUnauthenticated, user)
	}
	var out []EntityAccess
	for _, e := range dir.Entities() {
		if role, ok := dir.RoleOf(user, e.ID); ok {
			out = append(out, EntityAccess{Entity: e, Role: role})
		}
	}
	return out, nil
}

// Hierarchy returns the tenant's name and all its entities, in directory order, to any user
// of the directory (contract §4: any signed-in user may list names). It returns an error
// wrapping domain.ErrUnauthenticated for a user that is no longer in the directory.
func (s *Service) Hierarchy(user string) (tenant string, entities []domain.Entity, err error) {
	dir := s.cfg.Directory.Current()
	if dir == nil {
		return "", nil, fmt.Errorf("%w: no directory loaded", ErrUnavailable)
	}
	if _, ok := dir.User(user); !ok {
		return "", nil, fmt.Errorf("%w: user %q is not in the directory", domain.ErrUnauthenticated, user)
	}
	return dir.Tenant(), dir.Entities(), nil
}

// AccessibleEntities returns the tenant's name and the entities user can access, with its
// role in each, in directory order, as caller may read them (contract §4): its own, or
// anyone's for an admin of any entity, that entity being one allowed permits (nil: any; a
// token restricted by scope passes its restriction). Errors are those of
// [domain.Directory.MayReadAccess]: domain.ErrUnauthenticated, domain.ErrNotAnAdmin (403)
// and domain.ErrUserNotFound (404).
func (s *Service) AccessibleEntities(caller, user string, allowed func(entity string) bool) (tenant string, access []EntityAccess, err error) {
	dir := s.cfg.Directory.Current()
	if dir == nil {
		return "", nil, fmt.Errorf("%w: no directory loaded", ErrUnavailable)
	}
	if err := dir.MayReadAccess(caller, user, allowed); err != nil {
		return "", nil, err
	}
	for _, e := range dir.Entities() {
		if role, ok := dir.RoleOf(user, e.ID); ok {
			access = append(access, EntityAccess{Entity: e, Role: role})
		}
	}
	return dir.Tenant(), access, nil
}

// ListQuery selects connections of the acting entity.
type ListQuery struct {
	// Direction is outbound (the entity is the source), inbound, or "" for both.
	Direction projections.Direction
	// Status keeps only connections in that state; StatusNone keeps all.
	Status domain.Status
	// Page is 1..MaxPage; PageSize is 1..MaxPageSize.
	Page, PageSize int
	// MinSequence, when not 0, makes the query wait (up to MinSequenceWait) until the views
	// include that stream sequence.
	MinSequence uint64
	// AsOf, when not zero, answers as the connections were at that instant (contract §8).
	AsOf time.Time
}

// ListResult is one page of connections, newest request first.
type ListResult struct {
	Items []projections.View
	More  bool
}

// Validate returns an error wrapping domain.ErrInvalidValue, naming the parameter, when q's
// page is not within 1..MaxPage, its page size not within 1..MaxPageSize, or its direction
// or status is not one of the known ones.
func (q ListQuery) Validate() error {
	if q.Page < 1 || q.Page > MaxPage {
		return fmt.Errorf("%w: page %d is out of range: it must be between 1 and %d", domain.ErrInvalidValue, q.Page, MaxPage)
	}
	if q.PageSize < 1 || q.PageSize > MaxPageSize {
		return fmt.Errorf("%w: pageSize %d is out of range: it must be between 1 and %d", domain.ErrInvalidValue, q.PageSize, MaxPageSize)
	}
	if q.Direction != "" && q.Direction != projections.Outbound && q.Direction != projections.Inbound {
		return fmt.Errorf("%w: type %q must be outbound or inbound", domain.ErrInvalidValue, truncate(string(q.Direction)))
	}
	if q.Status != domain.StatusNone {
		if _, err := domain.ParseStatus(truncate(string(q.Status))); err != nil {
			return err
		}
	}
	return nil
}

// List returns a page of p's entity's connections. It returns errors wrapping
// domain.ErrInvalidValue for a query that fails [ListQuery.Validate], domain.ErrPermission
// when the user may not act in the entity, and ErrNotYetVisible when MinSequence is not
// reached in time.
func (s *Service) List(ctx context.Context, p Principal, q ListQuery) (ListResult, error) {
	if _, err := s.actor(p); err != nil {
		return ListResult{}, err
	}
	if err := q.Validate(); err != nil {
		return ListResult{}, err
	}
	ds := []projections.Direction{projections.Outbound, projections.Inbound}
	if q.Direction != "" {
		ds = []projections.Direction{q.Direction}
	}
	if !q.AsOf.IsZero() {
		return s.listAsOf(ctx, p, q, ds)
	}
	var all []projections.View
	if ix := s.cfg.Index; ix != nil && ix.Ready() && s.indexHasViews(ctx, ix) {
		// The index in memory, once loaded.
		if err := s.waitUntil(ctx, ix.WaitFor, q.MinSequence); err != nil {
			return ListResult{}, err
		}
		all = ix.List(p.EntityID, ds...)
	} else {
		if err := s.waitFor(ctx, q.MinSequence); err != nil {
			return ListResult{}, err
		}
		var err error
		if all, err = s.cfg.Views.List(ctx, p.EntityID, ds...); err != nil {
			return ListResult{}, unavailable(err)
		}
	}
	all = projections.Filter(all, q.Status)
	projections.SortNewestFirst(all)
	items, more := projections.Page(all, q.Page, q.PageSize)
	return ListResult{Items: items, More: more}, nil
}

// indexWait bounds how long a list waits for the list index to include what the views do.
const indexWait = time.Second

// indexHasViews reports whether the list index includes every event the views do, waiting
// for it a little. The index follows the event stream in this process and is usually ahead
// of the views, which the projector writes, but nothing makes it so: a caller who saw a
// change in the views (watching the bucket, or the change stream) must not get a list
// without it. When the index lags further, the list is read from the views.
func (s *Service) indexHasViews(ctx context.Context, ix ListIndex) bool {
	p := s.cfg.Views.Progress()
	if ix.Sequence() >= p {
		return true
	}
	wctx, cancel := context.WithTimeout(ctx, indexWait)
	defer cancel()
	return ix.WaitFor(wctx, p) == nil
}

// Detail is one connection with its history.
type Detail struct {
	projections.View
	History []projections.HistoryItem
}

// Get returns connection id as p's entity sees it, with its history read from the event
// store (so it is never behind). It returns an error wrapping domain.ErrNotFound when the
// connection does not exist or p's entity is neither its source nor its target.
func (s *Service) Get(ctx context.Context, p Principal, id string, minSequence uint64) (Detail, error) {
	if _, err := s.actor(p); err != nil {
		return Detail{}, err
	}
	if err := s.waitFor(ctx, minSequence); err != nil {
		return Detail{}, err
	}
	source, target, err := s.locate(ctx, p.EntityID, id, projections.Outbound)
	if err != nil {
		return Detail{}, err
	}
	hist, err := s.cfg.Store.Connection(ctx, source, target, id, s.bound(source, target, id))
	if err != nil {
		return Detail{}, unavailable(err)
	}
	if len(hist) == 0 {
		return Detail{}, fmt.Errorf("%w: %s", domain.ErrConnectionNotFound, id)
	}
	return detailOf(id, hist), nil
}

// detailOf returns connection id as its events hist, oldest first, leave it.
func detailOf(id string, hist []Stored) Detail {
	var d Detail
	evs := make([]events.Event, len(hist))
	for i, st := range hist {
		d.View, _ = projections.Apply(d.View, st.Sequence, st.Event)
		evs[i] = st.Event
	}
	d.History = projections.History(id, evs)
	return d
}

// waitFor waits until the views include stream sequence seq (minSequence).
func (s *Service) waitFor(ctx context.Context, seq uint64) error {
	return s.waitUntil(ctx, s.cfg.Views.WaitFor, seq)
}

// waitUntil waits with wait, at most MinSequenceWait, until seq is included.
func (s *Service) waitUntil(ctx context.Context, wait func(context.Context, uint64) error, seq uint64) error {
	if seq == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, MinSequenceWait)
	defer cancel()
	err := wait(wctx, seq)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return unavailable(ctx.Err())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: minSequence %d", ErrNotYetVisible, seq)
	}
	return unavailable(err)
}

// Follow calls f with p's entity's views in the directions ds (both when empty), then a Live
// marker, then every change, until ctx ends or f returns false. Permission to read is checked
// at the start and again whenever the directory changes: when p's user may no longer act in
// the entity (its grant revoked, or the user removed), Follow stops and returns the error
// that a new call would get (domain.ErrPermission or domain.ErrUnauthenticated). f may
// still be called for a change that was on its way when the directory changed.
func (s *Service) Follow(ctx context.Context, p Principal, ds []projections.Direction, f func(Change) bool) error {
	changed := s.cfg.Directory.Changed()
	if _, err := s.actor(p); err != nil {
		return err
	}
	if len(ds) == 0 {
		ds = []projections.Direction{projections.Outbound, projections.Inbound}
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lost := make(chan error, 1)
	go func() {
		for {
			select {
			case <-fctx.Done():
				return
			case <-changed:
				changed = s.cfg.Directory.Changed()
				if _, err := s.actor(p); err != nil && !errors.Is(err, ErrUnavailable) {
					lost <- err
					cancel()
					return
				}
			}
		}
	}()
	err := s.cfg.Views.Follow(fctx, p.EntityID, ds, f)
	cancel()
	select {
	case err := <-lost:
		return err
	default:
	}
	if err != nil && ctx.Err() == nil {
		return unavailable(err)
	}
	return nil
}
