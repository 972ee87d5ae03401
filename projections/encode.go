package projections

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends v encoded as JSON to b and returns the extended buffer. The bytes are
// exactly those encoding/json's Marshal writes for v (same field order, strings escaped
// the same way, HTML characters and U+2028/U+2029 included, invalid UTF-8 replaced, times
// in RFC 3339 with nanoseconds), and it fails where Marshal fails: on a time that RFC 3339
// cannot represent. It exists because the projector encodes every view it writes, and
// reflection costs several times as much.
//
// View deliberately has no MarshalJSON method: View is embedded in other types, which
// would then be encoded by it alone.
func (v View) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, v.ID)
	b = append(b, `,"sourceEntityId":`...)
	b = appendJSONString(b, v.SourceEntityID)
	b = append(b, `,"targetEntityId":`...)
	b = appendJSONString(b, v.TargetEntityID)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, string(v.Status))
	b = append(b, `,"requestedBy":`...)
	b = appendJSONString(b, v.RequestedBy)
	b = append(b, `,"requestedAt":"`...)
	b, err := v.RequestedAt.AppendText(b)
	if err != nil {
		return nil, errors.New("json: error calling MarshalJSON for type time.Time: " + err.Error())
	}
	b = append(b, `","updatedAt":"`...)
	if b, err = v.UpdatedAt.AppendText(b); err != nil {
		return nil, errors.New("json: error calling MarshalJSON for type time.Time: " + err.Error())
	}
	b = append(b, `","sequence":`...)
	b = strconv.AppendUint(b, v.Sequence, 10)
	return append(b, '}'), nil
}

const jsonHex = "0123456789abcdef"

// appendJSONString appends s as a JSON string escaped as encoding/json escapes it (with
// HTML escaping, as Marshal does).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // other control characters, and <, >, &
				b = append(b, '\\', 'u', '0', '0', jsonHex[c>>4], jsonHex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', jsonHex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
