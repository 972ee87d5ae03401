package bench

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRunRefusesWhatItCannotMeasure(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    int
		wantErr string
	}{
		{name: "help", args: []string{"-h"}, want: 0},
		{name: "an argument", args: []string{"now"}, want: 2, wantErr: "unexpected arguments"},
		{name: "no writers", args: []string{"--concurrency", "0"}, want: 2, wantErr: "need --concurrency ≥ 1"},
		{name: "fewer ops than writers", args: []string{"--ops", "10", "--concurrency", "20", "--connections", "0"}, want: 2, wantErr: "--ops ≥ --concurrency"},
		{name: "too few entities", args: []string{"--entities", "10", "--connections", "1000"}, want: 2, wantErr: "--entities too few"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := func(context.Context, StartConfig) (*Stack, error) {
				t.Error("Run started a stack")
				return nil, errors.New("no stack in this test")
			}
			got := Run(t.Context(), tt.args, func(string) string { return "" }, &stdout, &stderr, start)
			if got != tt.want {
				t.Errorf("Run(%q) = %d, want %d (stderr %q)", tt.args, got, tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("Run(%q) wrote %q on stderr, want it to contain %q", tt.args, stderr.String(), tt.wantErr)
			}
		})
	}
}

func TestRunReportsAStackThatDoesNotStart(t *testing.T) {
	var stdout, stderr bytes.Buffer
	var got StartConfig
	start := func(_ context.Context, cfg StartConfig) (*Stack, error) {
		got = cfg
		return nil, errors.New("no NATS")
	}
	env := map[string]string{"NATS_URL": "nats://127.0.0.1:1"}
	code := Run(t.Context(), []string{"--quick"}, func(k string) string { return env[k] }, &stdout, &stderr, start)
	if code != 1 || stderr.String() != "entityconn bench: no NATS\n" || stdout.Len() != 0 {
		t.Errorf("Run = %d, stdout %q, stderr %q; want 1 and the error on stderr only", code, stdout.String(), stderr.String())
	}
	if got.NATSURL != env["NATS_URL"] || !got.Fsync || got.Data == "" || got.LoadDir == nil {
		t.Errorf("Run started %+v, want NATS_URL, fsync, a data directory and a directory to import", got)
	}
}
