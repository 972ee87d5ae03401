package cli

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOK   bool
		wantErr  string
	}{
		{name: "flags only", args: []string{"--n", "3"}, wantCode: 0, wantOK: true},
		{name: "help", args: []string{"-h"}, wantCode: 0, wantOK: false},
		{name: "unknown flag", args: []string{"--nope"}, wantCode: 2, wantOK: false, wantErr: "nope"},
		{name: "an argument", args: []string{"extra"}, wantCode: 2, wantOK: false, wantErr: `entityconn sub: unexpected arguments ["extra"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			fs := flag.NewFlagSet("sub", flag.ContinueOnError)
			fs.SetOutput(&stderr)
			fs.Int("n", 0, "a number")
			code, ok := ParseFlags(fs, tt.args, &stderr)
			if code != tt.wantCode || ok != tt.wantOK {
				t.Errorf("ParseFlags(%q) = %d, %v, want %d, %v", tt.args, code, ok, tt.wantCode, tt.wantOK)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("ParseFlags(%q) wrote %q, want it to contain %q", tt.args, stderr.String(), tt.wantErr)
			}
		})
	}
}

func TestIsTerminalOfABuffer(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) {
		t.Error("IsTerminal(a buffer) = true, want false")
	}
}
