package projections_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/projections"
)

// checkAppendJSON fails unless AppendJSON writes exactly what encoding/json writes for v,
// and fails exactly when it fails.
func checkAppendJSON(t interface {
	Helper()
	Fatalf(string, ...any)
}, v projections.View) {
	t.Helper()
	want, wantErr := json.Marshal(v)
	prefix := []byte("prefix")
	got, err := v.AppendJSON(prefix)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("AppendJSON(%#v) error = %v, encoding/json's = %v", v, err, wantErr)
	}
	if err != nil {
		return
	}
	if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("AppendJSON(%#v)\n = %s\nencoding/json:\n   %s", v, got, want)
	}
}

func TestAppendJSONCases(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	base := projections.View{ID: "6f1c8f56-3b7e-4f8e-9a53-2f3f4c1d2e10", SourceEntityID: "global", TargetEntityID: "eu",
		Status: domain.StatusPending, RequestedBy: "alice", RequestedAt: at, UpdatedAt: at.Add(1500 * time.Millisecond), Sequence: 42}
	with := func(f func(*projections.View)) projections.View {
		v := base
		f(&v)
		return v
	}
	cases := map[string]projections.View{
		"zero":        {},
		"typical":     base,
		"max seq":     with(func(v *projections.View) { v.Sequence = ^uint64(0) }),
		"html":        with(func(v *projections.View) { v.RequestedBy = `<script>a&b</script>` }),
		"quotes":      with(func(v *projections.View) { v.RequestedBy = `say "hi" \ bye/` }),
		"controls":    with(func(v *projections.View) { v.RequestedBy = "\x00\x01\b\f\n\r\t\x1f\x7f" }),
		"separators":  with(func(v *projections.View) { v.ID = "a\u2028b\u2029c\u2027" }),
		"invalid":     with(func(v *projections.View) { v.ID = "a\xffb\xc3(c\xe2\x82" }),
		"unicode":     with(func(v *projections.View) { v.RequestedBy = "Ærøskøbing 東京 🚀" }),
		"nanos":       with(func(v *projections.View) { v.UpdatedAt = at.Add(123456789) }),
		"zone":        with(func(v *projections.View) { v.RequestedAt = at.In(time.FixedZone("x", -(3*3600 + 30*60))) }),
		"zone 24h":    with(func(v *projections.View) { v.RequestedAt = at.In(time.FixedZone("x", 24*3600)) }),
		"year 10000":  with(func(v *projections.View) { v.UpdatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }),
		"year -1":     with(func(v *projections.View) { v.RequestedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }),
		"monotonic":   with(func(v *projections.View) { v.RequestedAt = time.Now() }),
		"long string": with(func(v *projections.View) { v.RequestedBy = strings.Repeat("x<", 500) }),
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) { checkAppendJSON(t, v) })
	}
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	// Strings from everything that is escaped, and arbitrary bytes (invalid UTF-8 too).
	special := rapid.SampledFrom([]string{`"`, `\`, "<", ">", "&", "\u2028", "\u2029", "\x00", "\x1f", "\x7f", "\b", "\f", "\n", "\r", "\t", "\xff", "\xe2\x80", "é", "🚀", "a", "/"})
	str := rapid.Custom(func(t *rapid.T) string {
		var sb strings.Builder
		for _, part := range rapid.SliceOfN(rapid.OneOf(special, rapid.String(), rapid.StringMatching(`[ -~]*`), rapid.Map(rapid.SliceOf(rapid.Byte()), func(b []byte) string { return string(b) })), 0, 6).Draw(t, "parts") {
			sb.WriteString(part)
		}
		return sb.String()
	})
	tm := rapid.Custom(func(t *rapid.T) time.Time {
		sec := rapid.OneOf(rapid.Int64Range(-62167219200-86400, 253402300799+86400), rapid.Int64Range(0, 4e9), rapid.Int64()).Draw(t, "sec")
		at := time.Unix(sec, rapid.Int64Range(0, 999_999_999).Draw(t, "nsec"))
		switch rapid.IntRange(0, 2).Draw(t, "zone") {
		case 0:
			return at.UTC()
		case 1:
			return at.In(time.FixedZone("z", rapid.IntRange(-30*3600, 30*3600).Draw(t, "offset")))
		}
		return at
	})
	rapid.Check(t, func(t *rapid.T) {
		checkAppendJSON(t, projections.View{
			ID:             str.Draw(t, "id"),
			SourceEntityID: str.Draw(t, "source"),
			TargetEntityID: str.Draw(t, "target"),
			Status:         domain.Status(str.Draw(t, "status")),
			RequestedBy:    str.Draw(t, "requestedBy"),
			RequestedAt:    tm.Draw(t, "requestedAt"),
			UpdatedAt:      tm.Draw(t, "updatedAt"),
			Sequence:       rapid.Uint64().Draw(t, "sequence"),
		})
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 123, time.UTC)
	v := projections.View{ID: "6f1c8f56-3b7e-4f8e-9a53-2f3f4c1d2e10", SourceEntityID: "global", TargetEntityID: "eu",
		Status: domain.StatusPending, RequestedBy: "alice", RequestedAt: at, UpdatedAt: at, Sequence: 123456}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf, _ = v.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(v)
		}
	})
}
