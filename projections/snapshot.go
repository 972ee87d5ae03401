package projections

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

// snapshotMagic opens an index snapshot; the digit is its format's version.
const snapshotMagic = "entityconn-index-4\n"

// ErrBadSnapshot is returned by [ReadIndex] for a snapshot it cannot read.
var ErrBadSnapshot = errors.New("projections: not a readable index snapshot")

// WriteTo writes a snapshot of the index: what [ReadIndex] reads back into the same index.
// stamp is stored with it for the reader to check (which stream it was read from, say).
func (x *Index) WriteTo(w io.Writer, stamp []byte) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	crc := crc32.NewIEEE()
	bw := bufio.NewWriter(io.MultiWriter(w, crc))
	var buf [binary.MaxVarintLen64]byte
	uv := func(v uint64) { _, _ = bw.Write(buf[:binary.PutUvarint(buf[:], v)]) }
	bytes := func(b []byte) { uv(uint64(len(b))); _, _ = bw.Write(b) }
	_, _ = bw.WriteString(snapshotMagic)
	bytes(stamp)
	uv(x.seq)
	uv(uint64(len(x.strs)))
	for _, s := range x.strs {
		bytes([]byte(s))
	}
	uv(uint64(x.n))
	var rb [recordSize]byte
	for r := range x.n {
		putRecord(rb[:], x.rec(r))
		_, _ = bw.Write(rb[:])
	}
	uv(uint64(len(x.odd)))
	for r, v := range x.odd {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		uv(uint64(r))
		bytes(b)
	}
	uv(uint64(len(x.shares)))
	for p, ss := range x.shares {
		uv(p)
		uv(uint64(len(ss)))
		for _, sh := range ss {
			b, err := json.Marshal(sh)
			if err != nil {
				return err
			}
			bytes(b)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32()))
	return err
}

// ReadIndex reads a snapshot that [Index.WriteTo] wrote, and the stamp stored with it. It
// returns an error wrapping [ErrBadSnapshot] for anything else, a truncated or altered one
// included.
func ReadIndex(r io.Reader) (*Index, []byte, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	if len(data) < len(snapshotMagic)+4 || string(data[:len(snapshotMagic)]) != snapshotMagic {
		if head, _, ok := bytes.Cut(data[:min(len(data), 64)], []byte("\n")); ok && bytes.HasPrefix(head, []byte("entityconn-index-")) {
			// An older format (or a newer one): the index is read from the stream instead.
			return nil, nil, fmt.Errorf("%w: format %q, this version reads %q", ErrBadSnapshot, head, strings.TrimSpace(snapshotMagic))
		}
		return nil, nil, fmt.Errorf("%w: no snapshot header", ErrBadSnapshot)
	}
	body := data[:len(data)-4]
	if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(data[len(data)-4:]) {
		return nil, nil, fmt.Errorf("%w: checksum mismatch", ErrBadSnapshot)
	}
	d := decoder{b: body[len(snapshotMagic):]}
	stamp := d.bytes()
	x := NewIndex()
	x.seq = d.uv()
	nstrs := d.uv()
	for i := uint64(0); i < nstrs && d.err == nil; i++ {
		x.intern(string(d.bytes()))
	}
	n, odd := d.uv(), 0
	if d.err == nil && n > uint64(len(d.b))/recordSize {
		d.err = errors.New("record count beyond the data")
	}
	for r := uint64(0); r < n && d.err == nil; r++ {
		rb := d.take(recordSize)
		if d.err != nil {
			break
		}
		if int(r/recordChunk) == len(x.recs) {
			x.recs = append(x.recs, make([]record, recordChunk))
		}
		rec := x.rec(uint32(r))
		getRecord(rb, rec)
		if max(rec.src, rec.tgt, rec.by) >= uint32(len(x.strs)) || int(rec.status) >= len(statuses) {
			d.err = fmt.Errorf("record %d out of range", r)
			break
		}
		if rec.odd {
			odd++
		}
		x.n++
		x.out[rec.src] = append(x.out[rec.src], uint32(r))
		x.in[rec.tgt] = append(x.in[rec.tgt], uint32(r))
	}
	nodd := d.uv()
	for i := uint64(0); i < nodd && d.err == nil; i++ {
		r := d.uv()
		var v View
		if err := json.Unmarshal(d.bytes(), &v); err != nil && d.err == nil {
			d.err = err
		}
		if d.err == nil && (r >= uint64(x.n) || !x.rec(uint32(r)).odd) {
			d.err = fmt.Errorf("odd view %d out of range", r)
		}
		x.odd[uint32(r)] = v
	}
	if d.err == nil && len(x.odd) != odd {
		d.err = fmt.Errorf("%d odd views for %d odd records", len(x.odd), odd)
	}
	nshared := d.uv()
	for i := uint64(0); i < nshared && d.err == nil; i++ {
		p, n := d.uv(), d.uv()
		if d.err == nil && (p>>32 >= uint64(len(x.strs)) || p&(1<<32-1) >= uint64(len(x.strs)) || n == 0 || n > uint64(len(d.b))) {
			d.err = fmt.Errorf("shares of pair %x out of range", p)
		}
		ss := make([]Share, 0, min(n, 64))
		for j := uint64(0); j < n && d.err == nil; j++ {
			var sh Share
			if err := json.Unmarshal(d.bytes(), &sh); err != nil && d.err == nil {
				d.err = err
			}
			ss = append(ss, sh)
		}
		x.shares[p] = ss
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("data after the end")
	}
	if d.err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadSnapshot, d.err)
	}
	return x, stamp, nil
}

// recordSize is a record's size in a snapshot.
const recordSize = 16 + 3*4 + 2 + 4*8 + 2

func putRecord(b []byte, r *record) {
	copy(b, r.id[:])
	binary.LittleEndian.PutUint32(b[16:], r.src)
	binary.LittleEndian.PutUint32(b[20:], r.tgt)
	binary.LittleEndian.PutUint32(b[24:], r.by)
	b[28] = r.status
	b[29] = 0
	if r.odd {
		b[29] = 1
	}
	binary.LittleEndian.PutUint64(b[30:], uint64(r.requestedAt))
	binary.LittleEndian.PutUint64(b[38:], uint64(r.updatedAt))
	binary.LittleEndian.PutUint64(b[46:], r.sequence)
	binary.LittleEndian.PutUint64(b[54:], r.requested)
	binary.LittleEndian.PutUint16(b[62:], r.events)
}

func getRecord(b []byte, r *record) {
	copy(r.id[:], b)
	r.src = binary.LittleEndian.Uint32(b[16:])
	r.tgt = binary.LittleEndian.Uint32(b[20:])
	r.by = binary.LittleEndian.Uint32(b[24:])
	r.status = b[28]
	r.odd = b[29] == 1
	r.requestedAt = int64(binary.LittleEndian.Uint64(b[30:]))
	r.updatedAt = int64(binary.LittleEndian.Uint64(b[38:]))
	r.sequence = binary.LittleEndian.Uint64(b[46:])
	r.requested = binary.LittleEndian.Uint64(b[54:])
	r.events = binary.LittleEndian.Uint16(b[62:])
}

// decoder reads a snapshot's body; the first failure sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("bad number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) take(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errors.New("truncated")
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) bytes() []byte { return d.take(d.uv()) }
