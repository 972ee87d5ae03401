package events

import (
	"bytes"
	"time"
	"unicode/utf8"
)

// canonicalFields are the keys of an encoded event, in the order [Encode] writes them; the
// last two only for the events of a shared object.
var canonicalFields = [...]string{"eventId", "type", "connectionId", "sourceEntityId", "targetEntityId", "actorUserId", "actorEntityId", "occurredAt", "reason", "objectType", "objectId"}

// connectionFields is how many of [canonicalFields] an event of a connection's state has.
const connectionFields = 9

// decodeCanonical decodes data if it is exactly what [Encode] writes: the nine fields in
// order (eleven for a shared object's event), strings without escapes and in valid UTF-8. It reports false for anything else, which the general
// decoder then reads; it exists because the projector decodes every event, and reflection
// costs ten times as much.
func decodeCanonical(data []byte) (Event, bool) {
	var vals [len(canonicalFields)][]byte
	rest := data
	if len(rest) == 0 || rest[0] != '{' {
		return Event{}, false
	}
	rest = rest[1:]
	for i, name := range canonicalFields {
		if i == connectionFields && len(rest) > 0 && rest[0] == '}' {
			break // an event of a connection's state
		}
		if i > 0 {
			if len(rest) == 0 || rest[0] != ',' {
				return Event{}, false
			}
			rest = rest[1:]
		}
		// "name":"value"
		if len(rest) < len(name)+4 || rest[0] != '"' || string(rest[1:1+len(name)]) != name || rest[1+len(name)] != '"' || rest[2+len(name)] != ':' || rest[3+len(name)] != '"' {
			return Event{}, false
		}
		rest = rest[4+len(name):]
		end := bytes.IndexByte(rest, '"')
		if end < 0 {
			return Event{}, false
		}
		v := rest[:end]
		if bytes.IndexByte(v, '\\') >= 0 {
			return Event{}, false // escapes: leave them to the general decoder
		}
		ascii := true
		for _, c := range v {
			if c < 0x20 {
				return Event{}, false
			}
			ascii = ascii && c < utf8.RuneSelf
		}
		if !ascii && !utf8.Valid(v) {
			return Event{}, false // encoding/json replaces invalid UTF-8 with U+FFFD
		}
		vals[i] = v
		rest = rest[end+1:]
	}
	if len(bytes.TrimSpace(rest)) != 1 || bytes.TrimSpace(rest)[0] != '}' {
		return Event{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, string(vals[7]))
	if err != nil {
		return Event{}, false
	}
	return Event{
		EventID:        string(vals[0]),
		Type:           Type(vals[1]),
		ConnectionID:   string(vals[2]),
		SourceEntityID: string(vals[3]),
		TargetEntityID: string(vals[4]),
		ActorUserID:    string(vals[5]),
		ActorEntityID:  string(vals[6]),
		OccurredAt:     at,
		Reason:         string(vals[8]),
		ObjectType:     string(vals[9]),
		ObjectID:       string(vals[10]),
	}, true
}
