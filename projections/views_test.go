package projections_test

import (
	"math"
	"math/big"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func ev(id string, typ events.Type, src, tgt string, minutes int) events.Event {
	return events.Event{EventID: id + string(typ), Type: typ, ConnectionID: id, SourceEntityID: src, TargetEntityID: tgt,
		ActorUserID: "u-" + src, ActorEntityID: src, OccurredAt: t0.Add(time.Duration(minutes) * time.Minute)}
}

// store is a tiny key-value store standing in for the KV bucket, so the test exercises the
// same keys and idempotency the projector relies on.
type store map[string]projections.View

func (s store) feed(seq uint64, e events.Event) (writes int) {
	for _, k := range projections.Keys(e) {
		if next, changed := projections.Apply(s[k], seq, e); changed {
			s[k] = next
			writes++
		}
	}
	return writes
}

func TestApplyBuildsBothViews(t *testing.T) {
	s := store{}
	s.feed(1, ev("c1", events.TypeConnectionRequested, "global", "eu", 0))
	s.feed(2, ev("c2", events.TypeConnectionRequested, "us", "eu", 1)) // another entity's connection
	s.feed(3, ev("c1", events.TypeConnectionAccepted, "global", "eu", 5))

	out := s["outbound.global.c1"]
	in := s["inbound.eu.c1"]
	if out != in {
		t.Errorf("outbound %+v != inbound %+v, want the same view", out, in)
	}
	want := projections.View{ID: "c1", SourceEntityID: "global", TargetEntityID: "eu", Status: domain.StatusConnected,
		RequestedBy: "u-global", RequestedAt: t0, UpdatedAt: t0.Add(5 * time.Minute), Sequence: 3}
	if out != want {
		t.Errorf("view = %+v, want %+v", out, want)
	}
	if s["outbound.us.c2"].Status != domain.StatusPending || s["inbound.eu.c2"].Sequence != 2 {
		t.Errorf("views of c2 = %+v, %+v; want Pending at 2", s["outbound.us.c2"], s["inbound.eu.c2"])
	}
	if _, ok := s["outbound.eu.c1"]; ok {
		t.Error("eu got an outbound view of a connection it is the target of")
	}
}

func TestApplyIsIdempotentUnderRedelivery(t *testing.T) {
	s := store{}
	req := ev("c1", events.TypeConnectionRequested, "global", "eu", 0)
	acc := ev("c1", events.TypeConnectionAccepted, "global", "eu", 5)
	s.feed(1, req)
	s.feed(2, acc)
	before := s["inbound.eu.c1"]
	if n := s.feed(2, acc); n != 0 {
		t.Errorf("redelivered event 2 wrote %d views, want 0", n)
	}
	if n := s.feed(1, req); n != 0 {
		t.Errorf("redelivered older event 1 wrote %d views, want 0", n)
	}
	if s["inbound.eu.c1"] != before {
		t.Errorf("view after redelivery = %+v, want unchanged %+v", s["inbound.eu.c1"], before)
	}
}

func TestApplyIgnoresUnknownTypes(t *testing.T) {
	s := store{}
	s.feed(1, ev("c1", events.TypeConnectionRequested, "global", "eu", 0))
	if n := s.feed(2, ev("c1", "ConnectionRenamed", "global", "eu", 1)); n != 0 {
		t.Errorf("an unknown event wrote %d views, want 0", n)
	}
	if s["outbound.global.c1"].Sequence != 1 {
		t.Errorf("view = %+v, want unchanged at sequence 1", s["outbound.global.c1"])
	}
}

func TestANewConnectionOnThePairGetsItsOwnView(t *testing.T) {
	s := store{}
	s.feed(1, ev("c1", events.TypeConnectionRequested, "global", "eu", 0))
	s.feed(2, ev("c1", events.TypeConnectionDenied, "global", "eu", 1))
	s.feed(3, ev("c2", events.TypeConnectionRequested, "global", "eu", 2))
	if s["outbound.global.c1"].Status != domain.StatusDenied || s["outbound.global.c2"].Status != domain.StatusPending {
		t.Errorf("views = %+v / %+v, want Denied and Pending", s["outbound.global.c1"], s["outbound.global.c2"])
	}
}

func TestKeys(t *testing.T) {
	d, entity, id, ok := projections.ParseKey("inbound.eu.c1")
	if !ok || d != projections.Inbound || entity != "eu" || id != "c1" {
		t.Errorf("ParseKey = %q %q %q %v", d, entity, id, ok)
	}
	for _, bad := range []string{"sideways.eu.c1", "inbound.eu", "inbound.eu.c1.x"} {
		if _, _, _, ok := projections.ParseKey(bad); ok {
			t.Errorf("ParseKey(%q) ok, want not", bad)
		}
	}
	if got := projections.EntityFilter(projections.Outbound, "eu"); got != "outbound.eu.*" {
		t.Errorf("EntityFilter = %q", got)
	}
}

func TestFilterSortPage(t *testing.T) {
	var vs []projections.View
	for i, st := range []domain.Status{domain.StatusPending, domain.StatusConnected, domain.StatusPending, domain.StatusDenied, domain.StatusPending} {
		vs = append(vs, projections.View{ID: string(rune('a' + i)), Status: st, RequestedAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	pending := projections.Filter(vs, domain.StatusPending)
	if len(pending) != 3 || len(vs) != 5 {
		t.Fatalf("Filter(Pending) = %d views (input %d), want 3 (input untouched)", len(pending), len(vs))
	}
	projections.SortNewestFirst(vs)
	if vs[0].ID != "e" || vs[4].ID != "a" {
		t.Errorf("SortNewestFirst = %v..%v, want e..a", vs[0].ID, vs[4].ID)
	}
	p1, more := projections.Page(vs, 1, 2)
	p3, more3 := projections.Page(vs, 3, 2)
	p4, _ := projections.Page(vs, 4, 2)
	if len(p1) != 2 || !more || len(p3) != 1 || more3 || p4 != nil {
		t.Errorf("Page = %d/%v, %d/%v, %v; want 2/true, 1/false, nil", len(p1), more, len(p3), more3, p4)
	}
}

// Page is called with numbers straight from requests: none of them may overflow the offset
// (page-1)*size or panic. A page past the end is empty.
func TestPageIsSafeForAnyNumbers(t *testing.T) {
	vs := make([]projections.View, 5)
	for i := range vs {
		vs[i].ID = string(rune('a' + i))
	}
	cases := []struct {
		name       string
		page, size int
		want       int
		more       bool
	}{
		{"first page", 1, 2, 2, true},
		{"last page", 3, 2, 1, false},
		{"just past the end", 4, 2, 0, false},
		{"one page holds all", 1, 5, 5, false},
		{"size beyond the length", 1, math.MaxInt, 5, false},
		{"offset overflows to the minimum int", 4611686018427387905, 2, 0, false},
		{"offset overflows to zero", 1 << 62, 4, 0, false},
		{"largest page", math.MaxInt, 2, 0, false},
		{"largest page and size", math.MaxInt, math.MaxInt, 0, false},
		{"page 0", 0, 2, 0, false},
		{"smallest page", math.MinInt, 2, 0, false},
		{"size 0", 1, 0, 0, false},
		{"negative size", 2, -3, 0, false},
		{"smallest size", 2, math.MinInt, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			items, more := projections.Page(vs, c.page, c.size)
			if len(items) != c.want || more != c.more {
				t.Errorf("Page(5 views, %d, %d) = %d views, more %v; want %d, %v", c.page, c.size, len(items), more, c.want, c.more)
			}
		})
	}
	if items, more := projections.Page[projections.View](nil, 1, 30); items != nil || more {
		t.Errorf("Page(nil, 1, 30) = %v, %v; want nil, false", items, more)
	}
}

// TestPageAgreesWithExactArithmetic checks Page against the offset computed without
// overflow, for any int page and size.
func TestPageAgreesWithExactArithmetic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 40).Draw(t, "len")
		anyInt := rapid.OneOf(rapid.Int(), rapid.IntRange(-3, 45), rapid.SampledFrom([]int{math.MinInt, math.MaxInt, 1 << 62, 1<<62 + 1}))
		page, size := anyInt.Draw(t, "page"), anyInt.Draw(t, "size")
		vs := make([]projections.View, n)
		for i := range vs {
			vs[i].Sequence = uint64(i)
		}
		items, more := projections.Page(vs, page, size)

		var want []projections.View
		wantMore := false
		if page >= 1 && size >= 1 {
			start := new(big.Int).Mul(big.NewInt(int64(page-1)), big.NewInt(int64(size)))
			if start.Cmp(big.NewInt(int64(n))) < 0 {
				s := int(start.Int64())
				e := s + min(size, n-s)
				want, wantMore = vs[s:e], e < n
			}
		}
		if len(items) != len(want) || more != wantMore || (len(items) > 0 && items[0].Sequence != want[0].Sequence) {
			t.Fatalf("Page(%d views, %d, %d) = %d views from %v, more %v; want %d views, more %v", n, page, size, len(items), items, more, len(want), wantMore)
		}
	})
}

func TestHistory(t *testing.T) {
	evs := []events.Event{
		ev("c1", events.TypeConnectionRequested, "global", "eu", 0),
		ev("c2", events.TypeConnectionRequested, "us", "eu", 1),
		ev("c1", "ConnectionRenamed", "global", "eu", 2),
		ev("c1", events.TypeConnectionAccepted, "global", "eu", 3),
	}
	h := projections.History("c1", evs)
	if len(h) != 2 || h[0].Type != events.TypeConnectionRequested || h[1].Type != events.TypeConnectionAccepted {
		t.Errorf("History(c1) = %+v, want Requested then Accepted", h)
	}
}
