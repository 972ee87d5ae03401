package natsjs_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

// Waiting for NATS gives up only on what says the configuration is wrong.
func TestPermanent(t *testing.T) {
	api := func(code int, errCode jetstream.ErrorCode) error {
		return fmt.Errorf("natsjs: event stream X: %w", &jetstream.APIError{Code: code, ErrorCode: errCode})
	}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"authorization violation", fmt.Errorf("connect: %w", nats.ErrAuthorization), true},
		{"authentication expired", nats.ErrAuthExpired, true},
		{"TLS required", nats.ErrSecureConnRequired, true},
		{"replicas > 1 on a single server", api(500, 10074), true},
		{"replicas not updatable", api(400, 10061), true},
		{"retention cannot change", api(500, 10052), true},
		{"name in use with another configuration", jetstream.ErrStreamNameAlreadyInUse, true},
		{"subjects overlap", api(400, 10065), true},
		{"no servers", nats.ErrNoServers, false},
		{"no responders", nats.ErrNoResponders, false},
		{"timeout", context.DeadlineExceeded, false},
		{"JetStream not enabled", jetstream.ErrJetStreamNotEnabled, false},
		{"JetStream not enabled for the account", jetstream.ErrJetStreamNotEnabledForAccount, false},
		{"no suitable peers (a cluster forming)", api(400, natsjs.JSErrCodeNoSuitablePeers), false},
		{"insufficient resources", api(503, 10023), false},
		{"cluster not available", api(503, 10008), false},
		{"something else", errors.New("connection reset by peer"), false},
	} {
		if got := natsjs.Permanent(c.err); got != c.want {
			t.Errorf("Permanent(%s: %v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// Setup on a single server with replicas > 1 fails with a permanent error at once.
func TestSetupReplicasOnASingleServer(t *testing.T) {
	_, url := natsjstest.Single(t)
	js, err := jetstream.New(natsjstest.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = natsjs.Setup(ctx, js, 3)
	if !natsjs.Permanent(err) {
		t.Fatalf("Setup with 3 replicas on a single server: %v, want a permanent error", err)
	}
}

// An attempt that times out is retried; when the caller's context ends, the error returned
// says why the attempts failed rather than that the last one timed out, and each retried
// error was reported.
func TestAttemptsKeepTheCause(t *testing.T) {
	var reported atomic.Int32
	ctx, cancel := context.WithTimeout(natsjs.OnRetry(context.Background(), func(error) { reported.Add(1) }), 700*time.Millisecond)
	defer cancel()
	var n atomic.Int32
	err := natsjs.AttemptsWithin(ctx, 200*time.Millisecond, func(ctx context.Context) error {
		if n.Add(1) == 1 {
			return fmt.Errorf("stream: %w", nats.ErrNoResponders)
		}
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("AttemptsWithin = %v, want the no responders of the first attempt", err)
	}
	if reported.Load() == 0 {
		t.Error("no retry reported")
	}
}
