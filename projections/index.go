package projections

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// Index holds every connection's view in memory, by entity and direction: what a list needs
// without reading the views bucket. It is fed every event in stream order ([Index.Apply]) and
// holds, for each connection, exactly the [View] that [Apply] gives its two keys. It is
// compact (a connection costs about 70 bytes: its id as 16 bytes, entity and user ids
// interned, times as integers, one record shared by both directions) because every replica
// keeps one for every connection. Safe for concurrent use.
type Index struct {
	mu    sync.RWMutex
	seq   uint64
	names map[string]uint32 // entity and user ids, interned
	strs  []string          // by number
	recs  [][]record        // chunks of recordChunk records
	n     uint32            // records in use
	out   [][]uint32        // by entity number: the connections it is the source of
	in    [][]uint32        // by entity number: the connections it is the target of
	// odd holds the views that do not fit a record: an id that is not a canonical UUID, a
	// time outside int64 nanoseconds, an unknown status. The record marks them.
	odd map[uint32]View
	// shares holds the objects shared from one entity with another, by pair (see
	// pairKey), oldest share first: what the keys sharedby.<source>.<target>.* hold.
	shares map[uint64][]Share
}

// pairKey is the key of the pair (src, tgt) in Index.shares.
func pairKey(src, tgt uint32) uint64 { return uint64(src)<<32 | uint64(tgt) }

const recordChunk = 1 << 14

// record is a View, compact.
type record struct {
	id           [16]byte
	src, tgt, by uint32
	status       uint8
	odd          bool   // the view is in Index.odd
	events       uint16 // the connection's events read, up to 65535 (in the record's padding)
	requestedAt  int64
	updatedAt    int64
	sequence     uint64
	requested    uint64 // the stream sequence of the connection's request; 0: not read
}

// statuses numbers the statuses a record can hold; 0 is StatusNone.
var statuses = []domain.Status{domain.StatusNone, domain.StatusPending, domain.StatusConnected,
	domain.StatusDenied, domain.StatusCancelled, domain.StatusExpired, domain.StatusDisconnected}

// noTime stands for the zero time.Time in a record.
const noTime = math.MinInt64

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{names: map[string]uint32{}, odd: map[uint32]View{}, shares: map[uint64][]Share{}}
}

// Sequence returns the stream sequence of the last event applied.
func (x *Index) Sequence() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.seq
}

// Len returns the number of connections held.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return int(x.n)
}

// Apply applies the event stored at stream sequence seq, which must come after every event
// applied before; events of unknown types only advance the sequence.
func (x *Index) Apply(seq uint64, e events.Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.seq = max(x.seq, seq)
	if !domain.Known(e.Type) {
		return
	}
	src, tgt := x.intern(e.SourceEntityID), x.intern(e.TargetEntityID)
	u, isUUID := parseUUID(e.ConnectionID)
	r, found := x.find(src, tgt, e.ConnectionID, u, isUUID)
	var cur View
	var requested uint64
	if found {
		cur, requested = x.view(r), x.rec(r).requested
	}
	next, changed := Apply(cur, seq, e)
	if !changed {
		return
	}
	if e.Type == events.TypeConnectionRequested {
		requested = seq
	}
	if !found {
		r = x.n
		if int(r/recordChunk) == len(x.recs) {
			x.recs = append(x.recs, make([]record, recordChunk))
		}
		x.n++
		x.out[src] = append(x.out[src], r)
		x.in[tgt] = append(x.in[tgt], r)
	}
	var count uint16
	if found {
		count = x.rec(r).events
	}
	x.set(r, next, src, tgt, u, isUUID)
	x.rec(r).requested = requested
	x.rec(r).events = min(count, math.MaxUint16-1) + 1
	if e.Type.Object() {
		x.applyShare(pairKey(src, tgt), seq, e)
	}
}

// applyShare records the share or unshare e, at seq, of the pair p.
func (x *Index) applyShare(p uint64, seq uint64, e events.Event) {
	ss := x.shares[p]
	i := slices.IndexFunc(ss, func(s Share) bool { return s.ObjectType == e.ObjectType && s.ObjectID == e.ObjectID })
	var cur Share
	if i >= 0 {
		cur = ss[i]
	}
	next, exists, changed := ApplyShare(cur, i >= 0, seq, e)
	switch {
	case !changed:
	case !exists:
		ss = slices.Delete(ss, i, i+1)
	case i >= 0:
		ss[i] = next
	default:
		ss = append(ss, next)
	}
	if len(ss) == 0 {
		delete(x.shares, p)
	} else {
		x.shares[p] = ss
	}
}

// Shares returns the objects shared over connection id of the pair, oldest share first.
func (x *Index) Shares(source, target, id string) []Share {
	x.mu.RLock()
	defer x.mu.RUnlock()
	src, ok := x.names[source]
	tgt, ok2 := x.names[target]
	if !ok || !ok2 {
		return nil
	}
	var out []Share
	for _, s := range x.shares[pairKey(src, tgt)] {
		if s.ConnectionID == id {
			out = append(out, s)
		}
	}
	return out
}

// SharedObjects returns the shares of entity in direction d ([SharedBy]: the objects it
// shares, [SharedWith]: those shared with it), in no particular order.
func (x *Index) SharedObjects(entity string, d Direction) []Share {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n, ok := x.names[entity]
	if !ok {
		return nil
	}
	rs := x.out[n]
	if d == SharedWith {
		rs = x.in[n]
	}
	var out []Share
	seen := map[uint64]bool{}
	for _, r := range rs {
		rec := x.rec(r)
		if p := pairKey(rec.src, rec.tgt); !seen[p] {
			seen[p] = true
			out = append(out, x.shares[p]...)
		}
	}
	return out
}

// RequestSequence returns the stream sequence of the request of connection id of the pair,
// or 0 when the index has not read it. A connection's events are contiguous among its pair's
// (rule 2), so its history is read from there, without searching the pair's.
func (x *Index) RequestSequence(source, target, id string) uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if r, found := x.lookup(source, target, id); found {
		return x.rec(r).requested
	}
	return 0
}

// Span returns where connection id of the pair is in the event log, as far as the index has
// read it: the sequence of its request (0: not read), of its last event, and how many events
// it has. With two events or fewer, they are the request and the last one, which a reader can
// get by sequence without searching the pair's subjects.
func (x *Index) Span(source, target, id string) (requested, last uint64, events int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if r, found := x.lookup(source, target, id); found {
		rec := x.rec(r)
		return rec.requested, rec.sequence, int(rec.events)
	}
	return 0, 0, 0
}

// List returns entity's views in the directions ds, in no particular order.
func (x *Index) List(entity string, ds ...Direction) []View {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n, ok := x.names[entity]
	if !ok {
		return nil
	}
	var vs []View
	for _, d := range ds {
		rs := x.out[n]
		if d == Inbound {
			rs = x.in[n]
		}
		if vs == nil {
			vs = make([]View, 0, len(rs))
		}
		for _, r := range rs {
			vs = append(vs, x.view(r))
		}
	}
	return vs
}

// Pair returns the view of the pair's connection whose last event is the latest: the one
// that the pair's last event (of a known type) changed. false: the pair has none.
func (x *Index) Pair(source, target string) (View, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	src, ok := x.names[source]
	tgt, ok2 := x.names[target]
	if !ok || !ok2 {
		return View{}, false
	}
	var best uint32
	var bestSeq uint64
	for _, r := range x.out[src] {
		if rec := x.rec(r); rec.tgt == tgt && rec.sequence > bestSeq {
			best, bestSeq = r, rec.sequence
		}
	}
	if bestSeq == 0 {
		return View{}, false
	}
	return x.view(best), true
}

// Connection returns the view of connection id of the pair (source, target). false: the
// index has no such connection, so none was requested up to [Index.Sequence].
func (x *Index) Connection(source, target, id string) (View, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	r, found := x.lookup(source, target, id)
	if !found {
		return View{}, false
	}
	return x.view(r), true
}

// lookup finds connection id of the pair (source, target); the caller holds x.mu.
func (x *Index) lookup(source, target, id string) (uint32, bool) {
	src, ok := x.names[source]
	tgt, ok2 := x.names[target]
	if !ok || !ok2 {
		return 0, false
	}
	u, isUUID := parseUUID(id)
	return x.find(src, tgt, id, u, isUUID)
}

// Find returns the view of connection id if entity is its source or its target. It scans
// the entity's connections (newest first), so it is for when the pair is not known.
func (x *Index) Find(entity, id string) (View, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n, ok := x.names[entity]
	if !ok {
		return View{}, false
	}
	u, isUUID := parseUUID(id)
	for _, rs := range [][]uint32{x.out[n], x.in[n]} {
		for i := len(rs) - 1; i >= 0; i-- {
			rec := x.rec(rs[i])
			if rec.odd {
				if x.odd[rs[i]].ID == id {
					return x.view(rs[i]), true
				}
			} else if isUUID && rec.id == u {
				return x.view(rs[i]), true
			}
		}
	}
	return View{}, false
}

func (x *Index) intern(s string) uint32 {
	if n, ok := x.names[s]; ok {
		return n
	}
	n := uint32(len(x.strs))
	x.names[s] = n
	x.strs = append(x.strs, s)
	x.out = append(x.out, nil)
	x.in = append(x.in, nil)
	return n
}

func (x *Index) rec(r uint32) *record { return &x.recs[r/recordChunk][r%recordChunk] }

// find looks for connection id (u, when it is a canonical UUID) of the pair (src, tgt)
// among src's outbound connections, newest first.
func (x *Index) find(src, tgt uint32, id string, u [16]byte, isUUID bool) (uint32, bool) {
	rs := x.out[src]
	for i := len(rs) - 1; i >= 0; i-- {
		rec := x.rec(rs[i])
		if rec.tgt != tgt {
			continue
		}
		if rec.odd {
			if x.odd[rs[i]].ID == id {
				return rs[i], true
			}
		} else if isUUID && rec.id == u {
			return rs[i], true
		}
	}
	return 0, false
}

// set stores v, the view of connection (u, isUUID) of the pair (src, tgt), as record r.
func (x *Index) set(r uint32, v View, src, tgt uint32, u [16]byte, isUUID bool) {
	rec := x.rec(r)
	status, okStatus := statusNumber(v.Status)
	reqAt, okReq := nanos(v.RequestedAt)
	updAt, okUpd := nanos(v.UpdatedAt)
	*rec = record{id: u, src: src, tgt: tgt, by: x.intern(v.RequestedBy),
		status: status, requestedAt: reqAt, updatedAt: updAt, sequence: v.Sequence}
	if isUUID && okStatus && okReq && okUpd {
		delete(x.odd, r)
		return
	}
	rec.odd = true
	x.odd[r] = v
}

func (x *Index) view(r uint32) View {
	rec := x.rec(r)
	if rec.odd {
		return x.odd[r]
	}
	return View{
		ID:             formatUUID(rec.id),
		SourceEntityID: x.strs[rec.src],
		TargetEntityID: x.strs[rec.tgt],
		Status:         statuses[rec.status],
		RequestedBy:    x.strs[rec.by],
		RequestedAt:    fromNanos(rec.requestedAt),
		UpdatedAt:      fromNanos(rec.updatedAt),
		Sequence:       rec.sequence,
	}
}

func statusNumber(s domain.Status) (uint8, bool) {
	for i, st := range statuses {
		if st == s {
			return uint8(i), true
		}
	}
	return 0, false
}

// nanos returns t as Unix nanoseconds, noTime for the zero time; ok is false when that
// would not give t back exactly (out of range, or not in UTC).
func nanos(t time.Time) (int64, bool) {
	if t.IsZero() {
		return noTime, t.Location() == time.UTC
	}
	n := t.UnixNano()
	return n, n != noTime && fromNanos(n) == t
}

func fromNanos(n int64) time.Time {
	if n == noTime {
		return time.Time{}.UTC()
	}
	return time.Unix(0, n).UTC()
}

const hexDigits = "0123456789abcdef"

// parseUUID parses the canonical lowercase form of a UUID (8-4-4-4-12 hex digits), the
// only form formatUUID gives back.
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, lo := unhex(s[i]), unhex(s[i+1])
		if hi > 15 || lo > 15 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, true
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 255
}

func formatUUID(u [16]byte) string {
	var b [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hexDigits[c>>4], hexDigits[c&15]
		j += 2
	}
	return string(b[:])
}
