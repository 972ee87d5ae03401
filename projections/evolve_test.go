package projections_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// disagreement says how view v, last changed at sequence seq, differs from connection c, or
// returns "" when they agree.
func disagreement(v projections.View, c domain.Connection, seq uint64) string {
	if v.ID != c.ID || v.SourceEntityID != c.Source || v.TargetEntityID != c.Target || v.Status != c.Status ||
		v.RequestedBy != c.RequestedBy || !v.RequestedAt.Equal(c.RequestedAt) || !v.UpdatedAt.Equal(c.UpdatedAt) || v.Sequence != seq {
		return fmt.Sprintf("view\n%+v\nwant the connection Evolve folds, at sequence %d\n%+v", v, seq, c)
	}
	return ""
}

// same reports whether a and b are equal, their times compared as instants.
func same(a, b domain.Connection) bool {
	times := a.RequestedAt.Equal(b.RequestedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
	a.RequestedAt, a.UpdatedAt = b.RequestedAt, b.UpdatedAt
	return times && a == b
}

// The views have no transitions of their own: whatever the events, the View that Apply folds
// for a pair (one view fed all the pair's events, as faults_check does), the views under the
// keys of each connection and the index all agree with the Connection that domain.Evolve
// folds, for as long as Evolve accepts the pair's events. Unknown types change nothing, a
// redelivered event changes nothing, and an event Evolve refuses is still recorded as it
// alone tells (domain.FromLast), so that the projector never stops.
func TestApplyFoldsWhatEvolveFolds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		entities := []string{"global", "eu", "us"}
		types := append([]events.Type{"ConnectionRenamed"}, events.Types...)
		zones := []*time.Location{time.UTC, time.FixedZone("x", 3600), time.FixedZone("y", -7200)}
		type pair struct{ src, tgt string }
		type fed struct {
			seq uint64
			e   events.Event
		}
		var (
			pairs    = map[pair]int{} // pair → number, for its connections' ids
			state    = map[pair]domain.Connection{}
			lastSeq  = map[pair]uint64{}
			diverged = map[pair]bool{}
			pairView = map[pair]projections.View{}
			s        = store{}
			x        = projections.NewIndex()
			history  []fed
		)
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for seq := uint64(1); seq <= uint64(rapid.IntRange(1, 60).Draw(t, "events")); seq++ {
			if len(history) > 0 && rapid.IntRange(0, 9).Draw(t, "redeliver") == 0 {
				old := rapid.SampledFrom(history).Draw(t, "redelivered")
				p := pair{old.e.SourceEntityID, old.e.TargetEntityID}
				before := pairView[p]
				if next, changed := projections.Apply(before, old.seq, old.e); changed || next != before {
					t.Fatalf("redelivered %s at %d changed the pair's view %+v to %+v", old.e.Type, old.seq, before, next)
				}
				if n := s.feed(old.seq, old.e); n != 0 {
					t.Fatalf("redelivered %s at %d wrote %d views", old.e.Type, old.seq, n)
				}
			}
			p := pair{rapid.SampledFrom(entities).Draw(t, "src"), rapid.SampledFrom(entities).Draw(t, "tgt")}
			if _, ok := pairs[p]; !ok {
				pairs[p] = len(pairs)
			}
			// A few connections per pair, so that events of another connection than the
			// pair's latest come too; ids are canonical UUIDs or not.
			id := fmt.Sprintf("%08x-0000-4000-8000-%012x", pairs[p], rapid.IntRange(0, 2).Draw(t, "conn"))
			if rapid.IntRange(0, 4).Draw(t, "idForm") == 0 {
				id = fmt.Sprintf("conn-%d-%s", pairs[p], id[len(id)-1:])
			}
			at = at.Add(time.Duration(rapid.IntRange(0, 90).Draw(t, "minutes")) * time.Minute)
			e := events.Event{EventID: fmt.Sprint(seq), ConnectionID: id, SourceEntityID: p.src, TargetEntityID: p.tgt,
				ActorUserID: rapid.SampledFrom([]string{"ann", "bob", ""}).Draw(t, "user"),
				OccurredAt:  at.In(rapid.SampledFrom(zones).Draw(t, "zone"))}
			// Mostly an event that fits the pair's state, found by asking Evolve, so that
			// long histories are folded; otherwise any type, fitting or not.
			var fitting []events.Type
			for _, typ := range events.Types {
				e.Type = typ
				if _, err := domain.Evolve(state[p], e); err == nil {
					fitting = append(fitting, typ)
				}
			}
			e.Type = rapid.SampledFrom(types).Draw(t, "type")
			if len(fitting) > 0 && rapid.IntRange(0, 4).Draw(t, "fit") > 0 {
				e.Type = rapid.SampledFrom(fitting).Draw(t, "fittingType")
			}
			history = append(history, fed{seq, e})

			before := pairView[p]
			pv, changed := projections.Apply(before, seq, e)
			pairView[p] = pv
			writes := s.feed(seq, e)
			x.Apply(seq, e)

			next, err := domain.Evolve(state[p], e)
			switch {
			case errors.Is(err, domain.ErrUnknownEvent):
				if changed || pv != before || writes != 0 {
					t.Fatalf("unknown type %s changed the views: %v, %d writes", e.Type, changed, writes)
				}
			case errors.Is(err, domain.ErrBadEvent):
				diverged[p] = true
				last, err := domain.FromLast(e)
				if err != nil {
					t.Fatalf("FromLast(%s) = %v", e.Type, err)
				}
				if !changed || writes != 2 || pv.ID != last.ID || pv.Status != last.Status || !pv.UpdatedAt.Equal(last.UpdatedAt) || pv.Sequence != seq {
					t.Fatalf("%s that Evolve refuses (%v): view %+v (changed %v, %d writes), want it recorded as\n%+v", e.Type, err, pv, changed, writes, last)
				}
			case err != nil:
				t.Fatalf("Evolve(%s) = %v, an error of no known kind", e.Type, err)
			default:
				state[p], lastSeq[p] = next, seq
				if diverged[p] {
					continue
				}
				if d := disagreement(pv, next, seq); d != "" {
					t.Fatalf("the pair's %s", d)
				}
				for _, k := range projections.Keys(e) {
					if d := disagreement(s[k], next, seq); d != "" {
						t.Fatalf("%s: %s", k, d)
					}
				}
				iv, ok := x.Connection(p.src, p.tgt, id)
				if !ok {
					t.Fatalf("the index has no %s", id)
				}
				if d := disagreement(iv, next, seq); d != "" {
					t.Fatalf("the index's %s", d)
				}
				if last, err := domain.FromLast(e); err != nil || !same(pv.Connection(), last) || !same(next.AsOfLastEvent(), last) {
					t.Fatalf("FromLast(%s) = %+v, %v; the view gives %+v, Evolve %+v", e.Type, last, err, pv.Connection(), next.AsOfLastEvent())
				}
			}
		}
		for p, c := range state {
			if diverged[p] || lastSeq[p] == 0 {
				continue
			}
			if v, ok := x.Pair(p.src, p.tgt); !ok || disagreement(v, c, lastSeq[p]) != "" {
				t.Fatalf("index Pair(%s, %s) = %+v, %v; want %+v at %d", p.src, p.tgt, v, ok, c, lastSeq[p])
			}
		}
	})
}
