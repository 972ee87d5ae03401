package cli

import (
	"bytes"
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A bad value says what a good one looks like, in the user's words rather than the parser's.
func TestBadValuesSayWhatToWrite(t *testing.T) {
	var (
		d   time.Duration
		b   bool
		lvl slog.Level
	)
	tests := []struct {
		args    []string
		want    string
		notWant string
	}{
		{[]string{"--ttl", "7d"}, "for 7 days write 168h", "parse error"},
		{[]string{"--ttl", "1 day"}, "for 1 day write 24h", "parse error"},
		{[]string{"--ttl", "soon"}, "such as 168h, 90m", "parse error"},
		{[]string{"--fsync=maybe"}, "write true or false", "parse error"},
		{[]string{"--log-level", "verbose"}, "use debug, info, warn or error", "unknown name"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(&stderr)
		DurationVar(fs, &d, "ttl", time.Hour, "")
		BoolVar(fs, &b, "fsync", true, "")
		LevelVar(fs, &lvl, "log-level", slog.LevelInfo, "")
		if err := fs.Parse(tt.args); err == nil {
			t.Errorf("Parse(%q) = nil, want an error", tt.args)
			continue
		}
		if got := stderr.String(); !strings.Contains(got, tt.want) || strings.Contains(got, tt.notWant) {
			t.Errorf("Parse(%q) wrote %q, want %q and not %q", tt.args, got, tt.want, tt.notWant)
		}
	}
}

func TestGoodValues(t *testing.T) {
	var (
		d   time.Duration
		b   bool
		lvl slog.Level
	)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	DurationVar(fs, &d, "ttl", time.Hour, "")
	BoolVar(fs, &b, "fsync", true, "")
	LevelVar(fs, &lvl, "log-level", slog.LevelInfo, "")
	if d != time.Hour || !b || lvl != slog.LevelInfo {
		t.Fatalf("defaults = %v, %v, %v; want 1h, true, info", d, b, lvl)
	}
	if err := fs.Parse([]string{"--ttl", "1h30m", "--fsync=false", "--log-level", "WARN"}); err != nil {
		t.Fatal(err)
	}
	if d != 90*time.Minute || b || lvl != slog.LevelWarn {
		t.Errorf("parsed = %v, %v, %v; want 1h30m, false, warn", d, b, lvl)
	}
	if err := fs.Parse([]string{"--fsync"}); err != nil || !b {
		t.Errorf("--fsync alone: %v, %v; want true", err, b)
	}
	if n, err := ParseInt("3"); n != 3 || err != nil {
		t.Errorf(`ParseInt("3") = %d, %v`, n, err)
	}
	if _, err := ParseInt("three"); err == nil || strings.Contains(err.Error(), "strconv") {
		t.Errorf(`ParseInt("three") = %v, want an error in a user's words`, err)
	}
}
