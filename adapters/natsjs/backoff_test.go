package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"
)

// A back-off's pauses double up to its limit, start again from the first after a reset,
// and end early with the context.
func TestBackoff(t *testing.T) {
	b := backoffBetween(time.Millisecond, 4*time.Millisecond)
	var pauses []time.Duration
	for range 4 {
		pauses = append(pauses, b.pause)
		if err := b.wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(pauses); got != "[1ms 2ms 4ms 4ms]" {
		t.Errorf("pauses = %s, want [1ms 2ms 4ms 4ms]", got)
	}
	b.reset()
	if b.pause != time.Millisecond {
		t.Errorf("pause after reset = %v, want 1ms", b.pause)
	}

	long := backoffBetween(time.Hour, time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := long.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait past the context = %v, want DeadlineExceeded", err)
	}
}

// retry runs f again until it succeeds, and stops when the context ends.
func TestRetry(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	calls := 0
	err := retry(t.Context(), log, "test", func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("retry = %v after %d calls, want nil after 3", err, calls)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := retry(ctx, log, "test", func() error { return errors.New("never") }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("retry of what always fails = %v, want DeadlineExceeded", err)
	}
}
