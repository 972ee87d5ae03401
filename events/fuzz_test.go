package events

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds Decode any bytes. It must never panic; whatever the canonical fast path
// accepts must decode to exactly what encoding/json makes of the same bytes; an event Decode
// accepts must survive Encode and Decode again unchanged.
//
// Run it with: go test -run='^$' -fuzz=FuzzDecode -fuzztime=30s ./events/
func FuzzDecode(f *testing.F) {
	golden, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range golden {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	canonical := `{"eventId":"e1","type":"ConnectionRequested","connectionId":"c1","sourceEntityId":"global","targetEntityId":"eu","actorUserId":"alice","actorEntityId":"global","occurredAt":"2026-11-27T10:00:00.123456789Z","reason":""}`
	for _, s := range []string{
		canonical,
		canonical + "\n",
		` ` + canonical,
		`{"eventId":"e1","type":"ConnectionRenamed","connectionId":"c1","sourceEntityId":"global","targetEntityId":"eu","actorUserId":"alice","actorEntityId":"global","occurredAt":"2026-11-27T10:00:00Z","reason":""}`,
		`{"eventId":"e1","type":"ConnectionDenied","connectionId":"c1","sourceEntityId":"global","targetEntityId":"eu","actorUserId":"alice","actorEntityId":"global","occurredAt":"2026-11-27T11:00:00+01:00","reason":"caf\u00e9 \u003c"}`,
		`{"eventId":"e1","type":"ConnectionDenied","connectionId":"c1","sourceEntityId":"global","targetEntityId":"eu","actorUserId":"alice","actorEntityId":"global","occurredAt":"2026-11-27T10:00:00Z","reason":"` + "\xff\xfe" + `"}`,
		`{"type":"ConnectionAccepted","eventId":"e1","connectionId":"c1","sourceEntityId":"a","targetEntityId":"b","occurredAt":"2026-11-27T10:00:00Z","newField":[1,2]}`,
		`{"eventId":"e1","type":"ConnectionExpired","connectionId":"c1","sourceEntityId":"a.b","targetEntityId":"b","actorUserId":"","actorEntityId":"","occurredAt":"2026-11-27T10:00:00Z","reason":""}`,
		`{"eventId":"e1","type":"ConnectionExpired","connectionId":"c1","sourceEntityId":"a","targetEntityId":"b","actorUserId":"","actorEntityId":"","occurredAt":"0000-01-01T00:00:00Z","reason":""}`,
		`{"eventId":"e1","type":"ConnectionExpired","connectionId":"c1","sourceEntityId":"a","targetEntityId":"b","actorUserId":"","actorEntityId":"","occurredAt":"2026-11-27T10:00:00+24:00","reason":""}`,
		`{}`, `[]`, `null`, `"x"`, ``, `{"eventId":`, `{"occurredAt":"not a time"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if fast, ok := decodeCanonical(data); ok {
			var viaJSON Event
			if err := json.Unmarshal(data, &viaJSON); err != nil {
				t.Fatalf("the fast path accepts %q, encoding/json refuses it: %v", data, err)
			}
			if !sameEvent(fast, viaJSON) {
				t.Fatalf("the fast path decodes %q to %+v, encoding/json to %+v", data, fast, viaJSON)
			}
		}
		e, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnknownType) {
				t.Fatalf("Decode(%q) = %v, want an error wrapping ErrInvalid or ErrUnknownType", data, err)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("Decode(%q) accepted an event that fails Validate: %v", data, err)
		}
		again, err := Encode(e)
		if err != nil {
			t.Fatalf("Encode(Decode(%q)): %v", data, err)
		}
		back, err := Decode(again)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(%q))) = %v; encoded %s", data, err, again)
		}
		e.OccurredAt = e.OccurredAt.UTC() // Encode writes UTC
		if !sameEvent(back, e) {
			t.Fatalf("round trip of %q: %+v, then %+v", data, e, back)
		}
	})
}

// sameEvent compares two events field by field, their times as instants with their offsets
// (two parses of one zone give equal but distinct *time.Location values).
func sameEvent(a, b Event) bool {
	_, oa := a.OccurredAt.Zone()
	_, ob := b.OccurredAt.Zone()
	ta, tb := a.OccurredAt, b.OccurredAt
	a.OccurredAt, b.OccurredAt = ta.UTC(), tb.UTC()
	return a == b && oa == ob
}
