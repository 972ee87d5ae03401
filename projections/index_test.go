package projections_test

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// list is what the views bucket holds for entity in direction d, sorted for comparison.
func (s store) list(entity string, d projections.Direction) []projections.View {
	var vs []projections.View
	prefix := string(d) + "." + entity + "."
	for k, v := range s {
		if strings.HasPrefix(k, prefix) {
			vs = append(vs, v)
		}
	}
	return sorted(vs)
}

func sorted(vs []projections.View) []projections.View {
	slices.SortFunc(vs, func(a, b projections.View) int { return strings.Compare(a.ID, b.ID) })
	return vs
}

// The index holds exactly what the views bucket holds, for every entity and direction,
// whatever the events: fed the same events, it lists the same views as the keys that
// projections.Apply writes.
func TestIndexListsWhatTheViewsHold(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		entities := []string{"global", "eu", "us", "apac"}
		// A connection id belongs to one pair (ids are derived from the command that
		// requested the connection); some ids are not canonical UUIDs.
		type conn struct{ id, src, tgt string }
		var conns []conn
		for i := range rapid.IntRange(1, 12).Draw(t, "conns") {
			src := rapid.SampledFrom(entities).Draw(t, "src")
			tgt := rapid.SampledFrom(entities).Draw(t, "tgt")
			id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, rapid.Uint64Range(0, 1<<40).Draw(t, "id"))
			switch rapid.IntRange(0, 9).Draw(t, "idForm") {
			case 0:
				id = "conn-" + fmt.Sprint(i)
			case 1:
				id = strings.ToUpper(id)
			}
			conns = append(conns, conn{id, src, tgt})
		}
		types := []events.Type{events.TypeConnectionRequested, events.TypeConnectionAccepted, events.TypeConnectionDenied,
			events.TypeConnectionCancelled, events.TypeConnectionDisconnected, events.TypeConnectionExpired, "ConnectionRenamed",
			events.TypeObjectShared, events.TypeObjectUnshared}
		s, x, shares := store{}, projections.NewIndex(), shareStore{}
		for seq := range uint64(rapid.IntRange(0, 60).Draw(t, "events")) {
			c := rapid.SampledFrom(conns).Draw(t, "conn")
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rapid.Int64Range(0, 1e15).Draw(t, "at")))
			switch rapid.IntRange(0, 19).Draw(t, "atForm") {
			case 0:
				at = time.Date(3000, 1, 1, 0, 0, 0, 1, time.UTC) // beyond int64 nanoseconds
			case 1:
				at = at.In(time.FixedZone("x", 3600))
			}
			e := events.Event{EventID: fmt.Sprint(seq), Type: rapid.SampledFrom(types).Draw(t, "type"), ConnectionID: c.id,
				SourceEntityID: c.src, TargetEntityID: c.tgt, ActorUserID: rapid.SampledFrom([]string{"ann", "bob", ""}).Draw(t, "user"),
				OccurredAt: at}
			objectOf(t, &e)
			s.feed(seq+1, e)
			shares.feed(seq+1, e)
			x.Apply(seq+1, e)
			if x.Sequence() != seq+1 {
				t.Fatalf("index at sequence %d after applying %d", x.Sequence(), seq+1)
			}
		}
		for _, ent := range entities {
			for _, d := range []projections.Direction{projections.Outbound, projections.Inbound} {
				want, got := s.list(ent, d), sorted(x.List(ent, d))
				if len(want) != len(got) {
					t.Fatalf("%s %s: index lists %d views, the bucket holds %d:\n%v\n%v", d, ent, len(got), len(want), got, want)
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%s %s: index has\n%+v\nthe bucket\n%+v", d, ent, got[i], want[i])
					}
				}
			}
			for _, d := range []projections.Direction{projections.SharedBy, projections.SharedWith} {
				want, got := shares.list(ent, d), x.SharedObjects(ent, d)
				projections.SortSharesNewestFirst(got)
				if fmt.Sprint(want) != fmt.Sprint(got) {
					t.Fatalf("%s %s: index has\n%+v\nthe bucket\n%+v", d, ent, got, want)
				}
			}
			both := x.List(ent, projections.Outbound, projections.Inbound)
			if len(both) != len(s.list(ent, projections.Outbound))+len(s.list(ent, projections.Inbound)) {
				t.Fatalf("%s: both directions list %d views", ent, len(both))
			}
		}
	})
}

func TestIndexUnknownEntity(t *testing.T) {
	x := projections.NewIndex()
	x.Apply(1, ev("c1", events.TypeConnectionRequested, "global", "eu", 0))
	if vs := x.List("nowhere", projections.Outbound, projections.Inbound); len(vs) != 0 {
		t.Errorf("lists %v for an entity with no connection", vs)
	}
	if vs := x.List("eu", projections.Outbound); len(vs) != 0 {
		t.Errorf("eu's outbound %v; it is only a target", vs)
	}
	if vs := x.List("eu", projections.Inbound); len(vs) != 1 || vs[0].Status != domain.StatusPending {
		t.Errorf("eu's inbound %v", vs)
	}
}

// BenchmarkIndexList lists one entity of 10,000 with 200 views (both directions), as the
// list endpoint does at a million connections.
func BenchmarkIndexList(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := projections.NewIndex()
	const entities, conns = 10_000, 1_000_000
	for i := range conns {
		src, tgt := fmt.Sprintf("e%d", i%entities), fmt.Sprintf("e%d", (i/entities+1+i)%entities)
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		x.Apply(uint64(i+1), events.Event{EventID: id, Type: events.TypeConnectionRequested, ConnectionID: id,
			SourceEntityID: src, TargetEntityID: tgt, ActorUserID: "u", OccurredAt: time.Unix(int64(i), 0)})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		vs := x.List(fmt.Sprintf("e%d", i%entities), projections.Outbound, projections.Inbound)
		projections.SortNewestFirst(vs)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/conns, "heapB/conn")
	runtime.KeepAlive(x)
}

// BenchmarkIndexApply applies requests, as loading the index at start does.
func BenchmarkIndexApply(b *testing.B) {
	const entities = 10_000
	es := make([]events.Event, 100_000)
	for i := range es {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		es[i] = events.Event{EventID: id, Type: events.TypeConnectionRequested, ConnectionID: id,
			SourceEntityID: fmt.Sprintf("e%d", i%entities), TargetEntityID: fmt.Sprintf("e%d", (i/entities+1+i)%entities),
			ActorUserID: "u", OccurredAt: time.Unix(int64(i), 0)}
	}
	x := projections.NewIndex()
	for i := 0; b.Loop(); i++ {
		if i%len(es) == 0 {
			x = projections.NewIndex()
		}
		x.Apply(uint64(i+1), es[i%len(es)])
	}
}

// What the index says of a pair is what deciding from the pair's last event would start
// from: the pair's latest view, as a connection, equals domain.FromLast of the pair's last
// event of a known type.
func TestIndexPairIsTheStateOfTheLastEvent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		entities := []string{"global", "eu", "us"}
		types := []events.Type{events.TypeConnectionRequested, events.TypeConnectionAccepted, events.TypeConnectionDenied,
			events.TypeConnectionCancelled, events.TypeConnectionDisconnected, events.TypeConnectionExpired, "ConnectionRenamed"}
		x := projections.NewIndex()
		last := map[[2]string]events.Event{}
		for seq := range uint64(rapid.IntRange(0, 50).Draw(t, "events")) {
			src, tgt := rapid.SampledFrom(entities).Draw(t, "src"), rapid.SampledFrom(entities).Draw(t, "tgt")
			id := fmt.Sprintf("%08x-0000-4000-8000-%012x", rapid.IntRange(0, 3).Draw(t, "conn"), len(src)*7+len(tgt))
			e := events.Event{EventID: fmt.Sprint(seq), Type: rapid.SampledFrom(types).Draw(t, "type"), ConnectionID: id,
				SourceEntityID: src, TargetEntityID: tgt, ActorUserID: rapid.SampledFrom([]string{"ann", "bob"}).Draw(t, "user"),
				OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Hour)}
			x.Apply(seq+1, e)
			if _, known := domain.StatusAfter(e.Type); known {
				last[[2]string{src, tgt}] = e
			}
		}
		for _, src := range entities {
			for _, tgt := range entities {
				v, ok := x.Pair(src, tgt)
				e, had := last[[2]string{src, tgt}]
				if ok != had {
					t.Fatalf("%s→%s: index has a connection %v, the events %v", src, tgt, ok, had)
				}
				if !ok {
					continue
				}
				want, err := domain.FromLast(e)
				if err != nil {
					t.Fatal(err)
				}
				got := v.Connection()
				if got.ID != want.ID || got.Source != want.Source || got.Target != want.Target || got.Status != want.Status ||
					got.RequestedBy != want.RequestedBy || !got.RequestedAt.Equal(want.RequestedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
					t.Fatalf("%s→%s: index gives\n%+v\nthe last event\n%+v", src, tgt, got, want)
				}
			}
		}
	})
}

// Connection finds a connection by its pair and id, and only there: what the index has not
// seen (another id, the reverse pair) is not found.
func TestIndexConnection(t *testing.T) {
	x := projections.NewIndex()
	const id = "0c6c1f9e-0000-4000-8000-000000000001"
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x.Apply(1, events.Event{EventID: "e1", Type: events.TypeConnectionRequested, ConnectionID: id,
		SourceEntityID: "global", TargetEntityID: "eu", ActorUserID: "ann", OccurredAt: at})
	v, ok := x.Connection("global", "eu", id)
	if !ok || v.ID != id || !v.RequestedAt.Equal(at) || v.Sequence != 1 {
		t.Errorf("Connection(global, eu, %s) = %+v, %v; want its view", id, v, ok)
	}
	for _, c := range [][3]string{{"eu", "global", id}, {"global", "eu", "0c6c1f9e-0000-4000-8000-000000000002"}, {"global", "nowhere", id}} {
		if _, ok := x.Connection(c[0], c[1], c[2]); ok {
			t.Errorf("Connection(%s, %s, %s) found, want not found", c[0], c[1], c[2])
		}
	}
}

// RequestSequence is the stream sequence of a connection's request, kept through its later
// events and apart from the pair's next connection; 0 for what the index has not read.
func TestIndexRequestSequence(t *testing.T) {
	x := projections.NewIndex()
	const first, second = "0c6c1f9e-0000-4000-8000-000000000001", "0c6c1f9e-0000-4000-8000-000000000002"
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	apply := func(seq uint64, typ events.Type, id string) {
		x.Apply(seq, events.Event{EventID: fmt.Sprint(seq), Type: typ, ConnectionID: id,
			SourceEntityID: "global", TargetEntityID: "eu", ActorUserID: "ann", OccurredAt: at})
	}
	apply(5, events.TypeConnectionRequested, first)
	apply(9, events.TypeConnectionAccepted, first)
	apply(12, events.TypeConnectionDisconnected, first)
	apply(20, events.TypeConnectionRequested, second)
	apply(21, events.TypeConnectionDenied, second)
	for _, c := range []struct {
		source, target, id string
		want               uint64
	}{
		{"global", "eu", first, 5},
		{"global", "eu", second, 20},
		{"eu", "global", first, 0},
		{"global", "eu", "0c6c1f9e-0000-4000-8000-000000000003", 0},
		{"global", "nowhere", first, 0},
	} {
		if got := x.RequestSequence(c.source, c.target, c.id); got != c.want {
			t.Errorf("RequestSequence(%s, %s, %s) = %d; want %d", c.source, c.target, c.id, got, c.want)
		}
	}
}

// Find locates a connection by id from either of its entities, and from no other entity;
// an id that is not a canonical UUID is found too.
func TestIndexFind(t *testing.T) {
	x := projections.NewIndex()
	const id = "0c6c1f9e-0000-4000-8000-000000000001"
	const odd = "not-a-uuid"
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x.Apply(1, events.Event{EventID: "e1", Type: events.TypeConnectionRequested, ConnectionID: id,
		SourceEntityID: "global", TargetEntityID: "eu", ActorUserID: "ann", OccurredAt: at})
	x.Apply(2, events.Event{EventID: "e2", Type: events.TypeConnectionRequested, ConnectionID: odd,
		SourceEntityID: "us", TargetEntityID: "global", ActorUserID: "bob", OccurredAt: at})
	for _, c := range [][2]string{{"global", id}, {"eu", id}, {"us", odd}, {"global", odd}} {
		v, ok := x.Find(c[0], c[1])
		if !ok || v.ID != c[1] {
			t.Errorf("Find(%s, %s) = %+v, %v; want its view", c[0], c[1], v, ok)
		}
	}
	for _, c := range [][2]string{{"us", id}, {"eu", odd}, {"nowhere", id}, {"global", "0c6c1f9e-0000-4000-8000-000000000002"}} {
		if v, ok := x.Find(c[0], c[1]); ok {
			t.Errorf("Find(%s, %s) = %+v, want not found", c[0], c[1], v)
		}
	}
}

// shareStore is what the views bucket holds of shares: the keys projections.ApplyShare writes.
type shareStore map[string]projections.Share

func (s shareStore) feed(seq uint64, e events.Event) {
	if !e.Type.Object() {
		return
	}
	for _, k := range projections.ShareKeys(e) {
		cur, exists := s[k]
		next, nextExists, changed := projections.ApplyShare(cur, exists, seq, e)
		switch {
		case !changed:
		case nextExists:
			s[k] = next
		default:
			delete(s, k)
		}
	}
}

// list returns the shares of entity in direction d, newest first.
func (s shareStore) list(entity string, d projections.Direction) []projections.Share {
	var ss []projections.Share
	for k, v := range s {
		if strings.HasPrefix(k, string(d)+"."+entity+".") {
			ss = append(ss, v)
		}
	}
	projections.SortSharesNewestFirst(ss)
	return ss
}
