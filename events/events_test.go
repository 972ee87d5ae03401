package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/entityconn/entityconn/events"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// examples holds one event of every type; each is checked against testdata/<Type>.json.
func examples() []events.Event {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	base := events.Event{
		ConnectionID:   "6f1c8f56-3b7e-4f8e-9a53-2f3f4c1d2e10",
		SourceEntityID: "global",
		TargetEntityID: "eu",
	}
	mk := func(t events.Type, id, user, entity, reason string, minutes int) events.Event {
		e := base
		e.EventID, e.Type, e.ActorUserID, e.ActorEntityID, e.Reason = id, t, user, entity, reason
		e.OccurredAt = at.Add(time.Duration(minutes) * time.Minute)
		return e
	}
	return []events.Event{
		mk(events.TypeConnectionRequested, "0b7a5c4e-93a1-4d0e-8f7a-1c2d3e4f5a61", "alice", "global", "", 0),
		mk(events.TypeConnectionAccepted, "0b7a5c4e-93a1-4d0e-8f7a-1c2d3e4f5a62", "erik", "eu", "", 5),
		mk(events.TypeConnectionDenied, "0b7a5c4e-93a1-4d0e-8f7a-1c2d3e4f5a63", "erik", "eu", "not needed yet", 5),
		mk(events.TypeConnectionCancelled, "0b7a5c4e-93a1-4d0e-8f7a-1c2d3e4f5a64", "alice", "global", "", 6),
		mk(events.TypeConnectionDisconnected, "0b7a5c4e-93a1-4d0e-8f7a-1c2d3e4f5a65", "alice", "global", "contract ended", 90),
		mk(events.TypeConnectionExpired, "0b7a5c4e-93a1-4d0e-8f7a-1c2d3e4f5a66", "", "", "", 10080),
		object(mk(events.TypeObjectShared, "0b7a5c4e-93a1-4d0e-8f7a-1c2d3e4f5a67", "alice", "global", "", 10)),
		object(mk(events.TypeObjectUnshared, "0b7a5c4e-93a1-4d0e-8f7a-1c2d3e4f5a68", "alice", "global", events.ReasonUnshared, 60)),
		{EventID: "0b7a5c4e-93a1-4d0e-8f7a-1c2d3e4f5a69", Type: events.TypeSharingSettingsChanged, SourceEntityID: "eu", TargetEntityID: "eu",
			ActorUserID: "erik", ActorEntityID: "eu", OccurredAt: at.Add(-time.Hour), AutoAcceptFrom: events.NewIDList([]string{"global", "us"})},
	}
}

// object makes e an event of the shared product P-100.
func object(e events.Event) events.Event {
	e.ObjectType, e.ObjectID = "Product", "P-100"
	return e
}

func TestGoldenFiles(t *testing.T) {
	ex := examples()
	if len(ex) != len(events.Types) {
		t.Fatalf("examples cover %d types, want all %d", len(ex), len(events.Types))
	}
	for _, e := range ex {
		t.Run(string(e.Type), func(t *testing.T) {
			path := filepath.Join("testdata", string(e.Type)+".json")
			got, err := events.Encode(e)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got = append(got, '\n')
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Encode(%s) =\n%s\nwant (from %s)\n%s", e.Type, got, path, want)
			}
			back, err := events.Decode(want)
			if err != nil {
				t.Fatalf("Decode(%s): %v", path, err)
			}
			if back != e {
				t.Errorf("Decode(%s) = %+v, want %+v", path, back, e)
			}
		})
	}
}

func TestEncodeWritesUTC(t *testing.T) {
	e := examples()[0]
	e.OccurredAt = e.OccurredAt.In(time.FixedZone("CET", 3600))
	b, err := events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"occurredAt":"2026-11-27T10:00:00Z"`)) {
		t.Errorf("Encode = %s, want occurredAt in UTC with Z", b)
	}
}

func TestDecodeRefusesBrokenEvents(t *testing.T) {
	cases := map[string]struct {
		body string
		want error
	}{
		"not json":       {`{"eventId":`, events.ErrInvalid},
		"unknown type":   {`{"eventId":"x","type":"ConnectionRenamed","connectionId":"c","sourceEntityId":"a","targetEntityId":"b","occurredAt":"2026-11-27T10:00:00Z"}`, events.ErrUnknownType},
		"no event id":    {`{"type":"ConnectionAccepted","connectionId":"c","sourceEntityId":"a","targetEntityId":"b","occurredAt":"2026-11-27T10:00:00Z"}`, events.ErrInvalid},
		"no connection":  {`{"eventId":"x","type":"ConnectionAccepted","sourceEntityId":"a","targetEntityId":"b","occurredAt":"2026-11-27T10:00:00Z"}`, events.ErrInvalid},
		"subject unsafe": {`{"eventId":"x","type":"ConnectionAccepted","connectionId":"c","sourceEntityId":"a.b","targetEntityId":"b","occurredAt":"2026-11-27T10:00:00Z"}`, events.ErrInvalid},
		"no time":        {`{"eventId":"x","type":"ConnectionAccepted","connectionId":"c","sourceEntityId":"a","targetEntityId":"b"}`, events.ErrInvalid},
		"year -1 in UTC": {`{"eventId":"x","type":"ConnectionAccepted","connectionId":"c","sourceEntityId":"a","targetEntityId":"b","occurredAt":"0000-01-01T00:00:00+01:00"}`, events.ErrInvalid},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := events.Decode([]byte(c.body))
			if !errors.Is(err, c.want) {
				t.Errorf("Decode(%s) error = %v, want %v", c.body, err, c.want)
			}
		})
	}
}

func TestDecodeIgnoresNewFields(t *testing.T) {
	body := `{"eventId":"x","type":"ConnectionAccepted","connectionId":"c","sourceEntityId":"a","targetEntityId":"b","occurredAt":"2026-11-27T10:00:00Z","addedLater":1}`
	if _, err := events.Decode([]byte(body)); err != nil {
		t.Errorf("Decode with an unknown field: %v, want nil", err)
	}
}

func TestSubjects(t *testing.T) {
	e := examples()[1]
	if got, want := e.Subject(), "entityconn.events.global.eu.ConnectionAccepted"; got != want {
		t.Errorf("Subject() = %q, want %q", got, want)
	}
	if got, want := events.PairSubject("global", "eu"), "entityconn.events.global.eu.*"; got != want {
		t.Errorf("PairSubject = %q, want %q", got, want)
	}
	src, tgt, typ, ok := events.ParseSubject(e.Subject())
	if !ok || src != "global" || tgt != "eu" || typ != events.TypeConnectionAccepted {
		t.Errorf("ParseSubject(%q) = %q %q %q %v", e.Subject(), src, tgt, typ, ok)
	}
	for _, bad := range []string{"entityconn.events.a.b", "other.events.a.b.T", "entityconn.events.a.b.c.T"} {
		if _, _, _, ok := events.ParseSubject(bad); ok {
			t.Errorf("ParseSubject(%q) ok = true, want false", bad)
		}
	}
}

func TestValidID(t *testing.T) {
	long := string(bytes.Repeat([]byte("a"), 64))
	for id, want := range map[string]bool{
		"global": true, "eu-west_1": true, long: true, long + "a": false,
		"": false, "a.b": false, "a*": false, "a>": false, "a b": false, "é": false,
	} {
		if got := events.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

// TestDecodeFastPathAgreesWithJSON checks that every event Encode can write decodes to the
// same value however it is decoded: through the canonical fast path or encoding/json.
func TestDecodeFastPathAgreesWithJSON(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		str := rapid.StringN(0, 40, -1)
		e := events.Event{
			EventID: str.Draw(rt, "eventId"), Type: rapid.SampledFrom(append(events.Types, "ConnectionRenamed")).Draw(rt, "type"),
			ConnectionID: str.Draw(rt, "conn"), SourceEntityID: rapid.StringMatching(`[A-Za-z0-9_-]{1,8}`).Draw(rt, "src"),
			TargetEntityID: rapid.StringMatching(`[A-Za-z0-9_-]{1,8}`).Draw(rt, "tgt"), ActorUserID: str.Draw(rt, "user"),
			ActorEntityID: str.Draw(rt, "entity"), Reason: str.Draw(rt, "reason"),
			OccurredAt: time.Unix(rapid.Int64Range(0, 4e9).Draw(rt, "s"), rapid.Int64Range(0, 999999999).Draw(rt, "ns")).UTC(),
		}
		data, err := events.Encode(e)
		if err != nil {
			rt.Fatal(err)
		}
		var viaJSON events.Event
		if err := json.Unmarshal(data, &viaJSON); err != nil {
			rt.Fatal(err)
		}
		got, err := events.Decode(data)
		if err != nil && !errors.Is(err, events.ErrInvalid) {
			rt.Fatalf("Decode: %v", err)
		}
		if err == nil || errors.Is(err, events.ErrUnknownType) {
			if got != viaJSON {
				rt.Fatalf("Decode(%s) = %+v, encoding/json says %+v", data, got, viaJSON)
			}
		}
	})
}
