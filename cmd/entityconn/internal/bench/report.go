package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// benchResult is one line of the bench table.
type benchResult struct {
	Phase       string  `json:"phase"`
	Concurrency int     `json:"concurrency,omitempty"`
	Ops         int     `json:"ops"`
	OpsPerSec   float64 `json:"opsPerSec,omitempty"`
	P50Ms       float64 `json:"p50Ms"`
	P99Ms       float64 `json:"p99Ms"`
	// Ratio is OpsPerSec over the raw conditional append rate of the same run (or, where
	// the note says so, another rate of the same run).
	Ratio float64 `json:"ratio,omitempty"`
	// Value and Unit are a phase's single figure, such as a time or a size.
	Value float64 `json:"value,omitempty"`
	Unit  string  `json:"unit,omitempty"`
	Note  string  `json:"note,omitempty"`
}

// printBench writes results as a right-aligned table, then each phase's note on a line
// of its own.
func printBench(w io.Writer, results []benchResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tconcurrency\tops\tops/s\tp50 ms\tp99 ms\tratio\tfigure\t")
	for _, r := range results {
		c, rate, ratio, p50, p99, value := "", "", "", "", "", ""
		if r.Concurrency > 0 {
			c = fmt.Sprint(r.Concurrency)
		}
		if r.OpsPerSec > 0 {
			rate = fmt.Sprintf("%.0f", r.OpsPerSec)
		}
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		if r.P50Ms > 0 || r.P99Ms > 0 {
			p50, p99 = fmt.Sprintf("%.2f", r.P50Ms), fmt.Sprintf("%.2f", r.P99Ms)
		}
		if r.Unit != "" {
			value = fmt.Sprintf("%.0f %s", r.Value, r.Unit)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", r.Phase, c, r.Ops, rate, p50, p99, ratio, value)
	}
	_ = tw.Flush()
	for _, r := range results {
		if r.Note != "" {
			fmt.Fprintf(w, "%s: %s\n", r.Phase, r.Note)
		}
	}
}
