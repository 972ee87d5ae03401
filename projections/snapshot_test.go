package projections_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// randomEvents draws events over a few entities and connections, odd ids, odd times and
// unknown types included.
func randomEvents(t *rapid.T, entities []string, n int, from uint64) []events.Event {
	types := []events.Type{events.TypeConnectionRequested, events.TypeConnectionAccepted, events.TypeConnectionDenied,
		events.TypeConnectionCancelled, events.TypeConnectionDisconnected, events.TypeConnectionExpired, "ConnectionRenamed",
		events.TypeObjectShared, events.TypeObjectUnshared}
	es := make([]events.Event, n)
	for i := range es {
		k := rapid.IntRange(0, 9).Draw(t, "conn")
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", k, 7)
		if k == 9 {
			id = "conn-nine"
		}
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(from+uint64(i)) * time.Minute)
		if rapid.IntRange(0, 19).Draw(t, "oddTime") == 0 {
			at = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		es[i] = events.Event{EventID: fmt.Sprint(from + uint64(i)), Type: rapid.SampledFrom(types).Draw(t, "type"), ConnectionID: id,
			SourceEntityID: rapid.SampledFrom(entities).Draw(t, "src"), TargetEntityID: rapid.SampledFrom(entities).Draw(t, "tgt"),
			ActorUserID: rapid.SampledFrom([]string{"ann", "bob"}).Draw(t, "user"), OccurredAt: at}
		objectOf(t, &es[i])
	}
	return es
}

// objectOf gives an event of a shared object its object and reason.
func objectOf(t *rapid.T, e *events.Event) {
	if !e.Type.Object() {
		return
	}
	e.ObjectType = rapid.SampledFrom([]string{"Product", "AccountingPeriod"}).Draw(t, "objectType")
	e.ObjectID = rapid.SampledFrom([]string{"P-1", "P-2"}).Draw(t, "objectId")
	if e.Type == events.TypeObjectUnshared {
		e.Reason = rapid.SampledFrom([]string{events.ReasonUnshared, events.ReasonConnectionEnded}).Draw(t, "reason")
	}
}

func sameIndex(t *rapid.T, a, b *projections.Index, entities []string) {
	if a.Sequence() != b.Sequence() || a.Len() != b.Len() {
		t.Fatalf("sequence %d/%d, connections %d/%d", a.Sequence(), b.Sequence(), a.Len(), b.Len())
	}
	for _, e := range entities {
		for _, d := range []projections.Direction{projections.Outbound, projections.Inbound} {
			la, lb := a.List(e, d), b.List(e, d)
			if fmt.Sprint(la) != fmt.Sprint(lb) {
				t.Fatalf("%s %s:\n%v\n%v", d, e, la, lb)
			}
			for _, v := range la {
				ra := a.RequestSequence(v.SourceEntityID, v.TargetEntityID, v.ID)
				if rb := b.RequestSequence(v.SourceEntityID, v.TargetEntityID, v.ID); ra != rb {
					t.Fatalf("request sequence of %s: %d/%d", v.ID, ra, rb)
				}
				_, _, na := a.Span(v.SourceEntityID, v.TargetEntityID, v.ID)
				if _, _, nb := b.Span(v.SourceEntityID, v.TargetEntityID, v.ID); na != nb {
					t.Fatalf("events of %s: %d/%d", v.ID, na, nb)
				}
			}
		}
		for _, d := range []projections.Direction{projections.SharedBy, projections.SharedWith} {
			sa, sb := a.SharedObjects(e, d), b.SharedObjects(e, d)
			projections.SortSharesNewestFirst(sa)
			projections.SortSharesNewestFirst(sb)
			if fmt.Sprint(sa) != fmt.Sprint(sb) {
				t.Fatalf("%s %s:\n%v\n%v", d, e, sa, sb)
			}
		}
		for _, f := range entities {
			pa, oka := a.Pair(e, f)
			pb, okb := b.Pair(e, f)
			if oka != okb || pa != pb {
				t.Fatalf("pair %s→%s: %v %v / %v %v", e, f, pa, oka, pb, okb)
			}
		}
	}
}

// A snapshot reads back into the same index, which then goes on as the original does.
func TestSnapshotRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		entities := []string{"global", "eu", "us"}
		x := projections.NewIndex()
		es := randomEvents(t, entities, rapid.IntRange(0, 40).Draw(t, "n"), 1)
		for i, e := range es {
			x.Apply(uint64(i+1), e)
		}
		stamp := []byte(rapid.StringMatching(`[a-z0-9:]{0,20}`).Draw(t, "stamp"))
		var buf bytes.Buffer
		if err := x.WriteTo(&buf, stamp); err != nil {
			t.Fatal(err)
		}
		y, got, err := projections.ReadIndex(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, stamp) {
			t.Fatalf("stamp %q, wrote %q", got, stamp)
		}
		sameIndex(t, x, y, entities)
		more := randomEvents(t, entities, rapid.IntRange(0, 20).Draw(t, "more"), uint64(len(es)+1))
		for i, e := range more {
			seq := uint64(len(es) + i + 1)
			x.Apply(seq, e)
			y.Apply(seq, e)
		}
		sameIndex(t, x, y, entities)
	})
}

// Anything but an intact snapshot is refused, and said so.
func TestSnapshotRefusesDamage(t *testing.T) {
	x := projections.NewIndex()
	x.Apply(1, ev("0f917a74-6967-5a27-a6b9-69427d77419f", events.TypeConnectionRequested, "global", "eu", 0))
	x.Apply(2, ev("odd-id", events.TypeConnectionRequested, "us", "eu", 1))
	var buf bytes.Buffer
	if err := x.WriteTo(&buf, []byte("stream:1")); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	cases := map[string][]byte{
		"empty":     nil,
		"other":     []byte(strings.Repeat("x", 100)),
		"truncated": good[:len(good)-7],
		"longer":    append(append([]byte{}, good...), 0),
	}
	for i := range len(good) {
		b := append([]byte{}, good...)
		b[i] ^= 0x40
		cases[fmt.Sprintf("byte %d altered", i)] = b
	}
	for name, b := range cases {
		if _, _, err := projections.ReadIndex(bytes.NewReader(b)); !errors.Is(err, projections.ErrBadSnapshot) {
			t.Errorf("%s: ReadIndex = %v, want ErrBadSnapshot", name, err)
		}
	}
	if _, _, err := projections.ReadIndex(bytes.NewReader(good)); err != nil {
		t.Fatalf("intact snapshot refused: %v", err)
	}
}

// A snapshot of another format version is refused with both versions named: the index is
// then read from the event stream.
func TestSnapshotOfAnotherFormat(t *testing.T) {
	old := append([]byte("entityconn-index-3\n"), make([]byte, 40)...)
	_, _, err := projections.ReadIndex(bytes.NewReader(old))
	if !errors.Is(err, projections.ErrBadSnapshot) || !strings.Contains(err.Error(), `"entityconn-index-3"`) || !strings.Contains(err.Error(), `"entityconn-index-4"`) {
		t.Errorf("ReadIndex(format 1) = %v; want ErrBadSnapshot naming both formats", err)
	}
}
