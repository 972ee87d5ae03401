package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPrintBench(t *testing.T) {
	var b bytes.Buffer
	printBench(&b, []benchResult{
		{Phase: "raw", Concurrency: 64, Ops: 1000, OpsPerSec: 2840.4, P50Ms: 21.17, P99Ms: 36.32},
		{Phase: "in-process", Concurrency: 64, Ops: 1000, OpsPerSec: 1850, P50Ms: 34, P99Ms: 57.6, Ratio: 0.651},
		{Phase: "restart", Ops: 5000, Value: 70.4, Unit: "ms", Note: "to the first list"},
	})
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	want := [][]string{
		{"phase", "concurrency", "ops", "ops/s", "p50 ms", "p99 ms", "ratio", "figure"},
		{"raw", "64", "1000", "2840", "21.17", "36.32"},
		{"in-process", "64", "1000", "1850", "34.00", "57.60", "0.65"},
		{"restart", "5000", "70 ms"},
		{"restart: to the first list"},
	}
	if len(lines) != len(want) {
		t.Fatalf("printBench wrote %d lines, want %d:\n%s", len(lines), len(want), b.String())
	}
	for i, fields := range want {
		for _, f := range fields {
			if !strings.Contains(lines[i], f) {
				t.Errorf("line %d = %q, want it to contain %q", i, lines[i], f)
			}
		}
	}
}

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if p50, p99 := percentiles(ds); p50 != 51 || p99 != 100 {
		t.Errorf("percentiles(1…100 ms) = %v, %v, want 51, 100", p50, p99)
	}
	if p50, p99 := percentiles(nil); p50 != 0 || p99 != 0 {
		t.Errorf("percentiles(nil) = %v, %v, want 0, 0", p50, p99)
	}
}
