package projections_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

// FuzzAppendJSON checks the projector's fast encoder against encoding/json for any view:
// the same bytes, and an error exactly when encoding/json has one.
//
// Run it with: go test -run='^$' -fuzz=FuzzAppendJSON -fuzztime=30s ./projections/
func FuzzAppendJSON(f *testing.F) {
	f.Add("6f1c8f56-3b7e-4f8e-9a53-2f3f4c1d2e10", "global", "eu", "Pending", "alice", int64(1795773600), int64(0), 0, int64(1795773601), int64(500_000_000), uint64(42))
	f.Add("", "", "", "", "", int64(0), int64(0), 0, int64(0), int64(0), uint64(0))
	f.Add(`<a href="x">&</a>`, "\u2028\u2029", "\x00\x1f\x7f", `"\`, "\xff\xe2\x80é🚀", int64(-62135596800), int64(999_999_999), -12600, int64(253402300799), int64(1), uint64(math.MaxUint64))
	f.Add("x", "y", "z", "Connected", "bob", int64(253402300799), int64(0), 86400, int64(-62135596801), int64(0), uint64(1))
	f.Add("x", "y", "z", "Denied", "bob", int64(math.MaxInt64), int64(math.MaxInt64), math.MinInt32, int64(math.MinInt64), int64(-1), uint64(7))
	f.Fuzz(func(t *testing.T, id, src, tgt, status, by string, reqSec, reqNsec int64, zone int, updSec, updNsec int64, seq uint64) {
		checkAppendJSON(t, projections.View{
			ID: id, SourceEntityID: src, TargetEntityID: tgt, Status: domain.Status(status), RequestedBy: by,
			RequestedAt: time.Unix(reqSec, reqNsec).In(time.FixedZone("z", zone)),
			UpdatedAt:   time.Unix(updSec, updNsec).UTC(),
			Sequence:    seq,
		})
	})
}

// FuzzPage checks Page against the offset computed without overflow, for any page and size.
//
// Run it with: go test -run='^$' -fuzz=FuzzPage -fuzztime=30s ./projections/
func FuzzPage(f *testing.F) {
	f.Add(uint8(5), 1, 2)
	f.Add(uint8(5), 3, 2)
	f.Add(uint8(5), 4611686018427387905, 2)
	f.Add(uint8(0), 1, 30)
	f.Add(uint8(200), math.MaxInt, math.MaxInt)
	f.Add(uint8(1), math.MinInt, -1)
	f.Fuzz(func(t *testing.T, n uint8, page, size int) {
		vs := make([]projections.View, n)
		for i := range vs {
			vs[i].Sequence = uint64(i)
		}
		items, more := projections.Page(vs, page, size)
		first, want, wantMore := 0, 0, false
		if page >= 1 && size >= 1 {
			start := new(big.Int).Mul(big.NewInt(int64(page-1)), big.NewInt(int64(size)))
			if start.Cmp(big.NewInt(int64(n))) < 0 {
				first = int(start.Int64())
				want = min(size, int(n)-first)
				wantMore = first+want < int(n)
			}
		}
		if len(items) != want || more != wantMore || (want > 0 && items[0].Sequence != uint64(first)) {
			t.Fatalf("Page(%d views, %d, %d) = %d views, more %v; want %d from %d, more %v", n, page, size, len(items), more, want, first, wantMore)
		}
	})
}

// FuzzReadIndex feeds ReadIndex any bytes: a damaged or forged snapshot on disk. It must
// never panic and must refuse with ErrBadSnapshot what it cannot read; a snapshot it reads
// is written and read back the same. With fixCRC the input is taken as a snapshot without
// its checksum, which is appended, so that mutations reach the decoder past the checksum.
//
// Run it with: go test -run='^$' -fuzz=FuzzReadIndex -fuzztime=30s ./projections/
func FuzzReadIndex(f *testing.F) {
	for _, seed := range snapshotSeeds(f) {
		f.Add(seed, false)
		f.Add(seed[:len(seed)-4], true)
	}
	f.Add([]byte("entityconn-index-1\n"), true)
	f.Add([]byte("entityconn-index-1\n\x00\x00\x00\x00\xff\xff\xff\xff\x0f"), true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		if fixCRC {
			data = binary.BigEndian.AppendUint32(bytes.Clone(data), crc32.ChecksumIEEE(data))
		}
		x, stamp, err := projections.ReadIndex(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, projections.ErrBadSnapshot) {
				t.Fatalf("ReadIndex = %v, want an error wrapping ErrBadSnapshot", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := x.WriteTo(&buf, stamp); err != nil {
			t.Fatalf("WriteTo of a snapshot read back: %v", err)
		}
		y, stamp2, err := projections.ReadIndex(&buf)
		if err != nil {
			t.Fatalf("ReadIndex of a snapshot written from a read one: %v", err)
		}
		if !bytes.Equal(stamp, stamp2) || x.Sequence() != y.Sequence() || x.Len() != y.Len() {
			t.Fatalf("read back: stamp %q/%q, sequence %d/%d, connections %d/%d", stamp, stamp2, x.Sequence(), y.Sequence(), x.Len(), y.Len())
		}
	})
}

// snapshotSeeds returns snapshots of a few small indexes: empty, typical, and with odd views
// (an id that is not a UUID, a time beyond int64 nanoseconds).
func snapshotSeeds(f *testing.F) [][]byte {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	e := func(id string, typ events.Type, src, tgt string, when time.Time) events.Event {
		return events.Event{EventID: id + string(typ), Type: typ, ConnectionID: id, SourceEntityID: src, TargetEntityID: tgt, ActorUserID: "ann", OccurredAt: when}
	}
	indexes := [][]events.Event{
		nil,
		{e("6f1c8f56-3b7e-4f8e-9a53-2f3f4c1d2e10", events.TypeConnectionRequested, "global", "eu", at)},
		{
			e("6f1c8f56-3b7e-4f8e-9a53-2f3f4c1d2e10", events.TypeConnectionRequested, "global", "eu", at),
			e("6f1c8f56-3b7e-4f8e-9a53-2f3f4c1d2e10", events.TypeConnectionAccepted, "global", "eu", at.Add(time.Minute)),
			e("conn-nine", events.TypeConnectionRequested, "eu", "us", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)),
			e("conn-ten", events.TypeConnectionDenied, "us", "global", at),
		},
	}
	var out [][]byte
	for i, es := range indexes {
		x := projections.NewIndex()
		for j, ev := range es {
			x.Apply(uint64(j+1), ev)
		}
		var buf bytes.Buffer
		if err := x.WriteTo(&buf, []byte{byte('a' + i)}); err != nil {
			f.Fatal(err)
		}
		out = append(out, buf.Bytes())
	}
	return out
}
