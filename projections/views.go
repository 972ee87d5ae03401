// Package projections builds the Outbound ("Share To") and Inbound ("Share From") views of
// contract §5 from events. Everything here is pure: the projector in adapters/natsjs feeds it
// events with their stream sequences and stores what it returns.
//
// A connection appears in two views: the outbound view of its source entity and the inbound
// view of its target entity, under the keys outbound.<source>.<id> and inbound.<target>.<id>.
// Both hold the same [View]. Applying an event is idempotent by stream sequence: an event at or
// below the view's sequence changes nothing, so redelivery is harmless. Events of unknown
// types are ignored, so that older projectors survive newer event types. A view's state
// changes only through [domain.Evolve], as the decider's does ([Apply]); this package has no
// transitions of its own.
package projections

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/events/contract"
)

// View is one connection as the REST list shows it (contract §4), plus the stream sequence of
// the connection's last event: the value of its keys in the views bucket (contract §5).
//
// Its JSON is that of the list item, [contract.Connection], with "sequence" added (a test
// keeps the two alike), but it is a type of its own: the projection works with its status as
// a [domain.Status], and [View.AppendJSON] encodes it by hand. The doors derive the list
// item from it.
type View struct {
	ID             string        `json:"id"`
	SourceEntityID string        `json:"sourceEntityId"`
	TargetEntityID string        `json:"targetEntityId"`
	Status         domain.Status `json:"status"`
	RequestedBy    string        `json:"requestedBy"`
	RequestedAt    time.Time     `json:"requestedAt"`
	UpdatedAt      time.Time     `json:"updatedAt"`
	Sequence       uint64        `json:"sequence"`
}

// Direction says from which side an entity sees a connection.
type Direction string

// The two directions of contract §4: outbound (the entity is the source) and inbound (the
// entity is the target).
const (
	Outbound Direction = "outbound"
	Inbound  Direction = "inbound"
)

// Key returns the KV key of a connection's view for entity: <direction>.<entity>.<id>.
func Key(d Direction, entity, connectionID string) string {
	return string(d) + "." + entity + "." + connectionID
}

// EntityFilter returns the KV key filter of all of entity's views in direction d.
func EntityFilter(d Direction, entity string) string {
	return string(d) + "." + entity + ".*"
}

// ParseKey splits a view key into its parts; ok is false for a key of another form.
func ParseKey(key string) (d Direction, entity, connectionID string, ok bool) {
	parts := strings.Split(key, ".")
	if len(parts) != 3 || (parts[0] != string(Outbound) && parts[0] != string(Inbound)) {
		return "", "", "", false
	}
	return Direction(parts[0]), parts[1], parts[2], true
}

// Keys returns the two view keys an event changes: the source's outbound view and the
// target's inbound view of its connection.
func Keys(e events.Event) [2]string {
	return [2]string{
		Key(Outbound, e.SourceEntityID, e.ConnectionID),
		Key(Inbound, e.TargetEntityID, e.ConnectionID),
	}
}

// Apply returns the view after the event at stream sequence seq. cur is the stored view
// (the zero View if there is none). changed is false when the event is already in the view
// (seq ≤ cur.Sequence) or of an unknown type; the caller then writes nothing.
//
// The view's state changes only through [domain.Evolve]. An event that Evolve refuses (the
// request, or events before e, were lost to this view; or e belongs to another connection)
// is still recorded, from the state [domain.Presume] gives: the projector never stops on an
// event. Times are kept in UTC.
func Apply(cur View, seq uint64, e events.Event) (next View, changed bool) {
	if cur.Sequence != 0 && seq <= cur.Sequence {
		return cur, false
	}
	e.OccurredAt = e.OccurredAt.UTC()
	state := cur.state()
	after, err := domain.Evolve(state, e)
	if errors.Is(err, domain.ErrBadEvent) {
		after, err = domain.Evolve(domain.Presume(state, e), e)
	}
	if err != nil {
		return cur, false // an unknown type
	}
	return viewOf(after, seq), true
}

// state returns the view's connection, all of it.
func (v View) state() domain.Connection {
	return domain.Connection{ID: v.ID, Source: v.SourceEntityID, Target: v.TargetEntityID, Status: v.Status,
		RequestedBy: v.RequestedBy, RequestedAt: v.RequestedAt, UpdatedAt: v.UpdatedAt}
}

// viewOf returns the view of c, whose last event is at stream sequence seq.
func viewOf(c domain.Connection, seq uint64) View {
	return View{ID: c.ID, SourceEntityID: c.Source, TargetEntityID: c.Target, Status: c.Status,
		RequestedBy: c.RequestedBy, RequestedAt: c.RequestedAt, UpdatedAt: c.UpdatedAt, Sequence: seq}
}

// Connection returns the state of the view's connection as [domain.FromLast] gives it for
// the connection's last event ([domain.Connection.AsOfLastEvent]): who requested it and when
// only while that event is the request (the status is Pending). The decider then sees the
// same state whether the pair was loaded from its view or from its last event.
func (v View) Connection() domain.Connection {
	return v.state().AsOfLastEvent()
}

// Filter keeps the views with status, or all of them when status is StatusNone.
func Filter(vs []View, status domain.Status) []View {
	if status == domain.StatusNone {
		return vs
	}
	out := vs[:0:0]
	for _, v := range vs {
		if v.Status == status {
			out = append(out, v)
		}
	}
	return out
}

// SortNewestFirst orders views by requestedAt, newest first (contract §4), then by id so that
// pages are stable.
func SortNewestFirst(vs []View) {
	slices.SortFunc(vs, func(a, b View) int {
		if c := b.RequestedAt.Compare(a.RequestedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// Page returns page number page (1-based) of size items and whether a further page exists.
// Any page and size are safe: a page before the first or past the last, or a size below 1,
// gives no items. The offset of the page is never computed when it lies past the end, so
// that no page number, however large, overflows it.
func Page[T any](vs []T, page, size int) (items []T, more bool) {
	if page < 1 || size < 1 || len(vs) == 0 || page-1 > (len(vs)-1)/size {
		return nil, false
	}
	start := (page - 1) * size // at most len(vs)-1: page-1 ≤ (len(vs)-1)/size
	end := start + min(size, len(vs)-start)
	return vs[start:end], end < len(vs)
}

// HistoryItem is one entry of a connection's history: the published shape of contract §4.
type HistoryItem = contract.HistoryItem

// History returns the history items of connection id among evs, in order, ignoring other
// connections' events and unknown types.
func History(id string, evs []events.Event) []HistoryItem {
	var out []HistoryItem
	for _, e := range evs {
		if e.ConnectionID != id || !e.Type.Known() {
			continue
		}
		out = append(out, HistoryItem{Type: e.Type, At: e.OccurredAt.UTC(), ActorUserID: e.ActorUserID, ActorEntityID: e.ActorEntityID, Reason: e.Reason,
			ObjectType: e.ObjectType, ObjectID: e.ObjectID})
	}
	return out
}
