package natscmd

import (
	"testing"
	"time"
)

// A nacked command comes back after 1, 2 and 4 s, then every sixth of the budget: never so
// late that a caller retrying for 30 s has given up once the cluster is back.
func TestNakDelay(t *testing.T) {
	d := &Door{cfg: Config{Budget: DefaultBudget}}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := d.nakDelay(uint64(i + 1)); got != w {
			t.Errorf("delivery %d: delay %v; want %v", i+1, got, w)
		}
	}
	if got := (&Door{cfg: Config{Budget: 2 * time.Second}}).nakDelay(9); got != time.Second {
		t.Errorf("budget 2 s: delay %v; want 1 s", got)
	}
}
