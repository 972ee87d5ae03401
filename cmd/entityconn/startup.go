package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/directoryfile"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/zuora"
)

// How serve waits for NATS at start: each step is tried again after a pause that doubles from
// firstRetry to lastRetry (jittered by a quarter either way), with no deadline but the
// process's context (SIGINT, SIGTERM). A line is logged at most every retryLogEvery per step.
const (
	firstRetry    = 100 * time.Millisecond
	lastRetry     = 5 * time.Second
	retryLogEvery = 5 * time.Second
	// retryAfter is the Retry-After of the answers given while starting, in seconds.
	retryAfter = 2
)

// startStatus is what a starting serve is doing or waiting for, for /readyz.
type startStatus struct{ s atomic.Pointer[string] }

func (s *startStatus) set(msg string) { s.s.Store(&msg) }

func (s *startStatus) String() string {
	if p := s.s.Load(); p != nil {
		return *p
	}
	return "starting"
}

// waiter runs the steps of a start that depend on NATS, each until it succeeds (see the
// constants above), and says which one it waits for and why: on status, and in a warning.
type waiter struct {
	ctx    context.Context
	log    *slog.Logger
	status *startStatus
	cfg    *serveConfig
}

// step is one step of the start.
type step struct {
	// name says what the step waits for: "NATS at nats://…", "the streams and buckets".
	name string
	// each bounds one attempt.
	each time.Duration
	// creds names the flags of the credentials the step signs in with, for an authorization
	// error; empty: the service's own (--nats-user, --nats-password, --nats-creds).
	creds string
}

// do runs f until it succeeds, ctx ends (its error is returned) or it fails in a way no wait
// can cure (natsjs.Permanent, or marked with [permanent]): that error is returned with what
// to change.
func (w *waiter) do(s step, f func(context.Context) error) error {
	w.status.set("starting: " + s.name)
	var mu sync.Mutex
	var logged time.Time
	// report says why the step waits: on the status always, in the log at most every
	// retryLogEvery. Retries within an attempt (natsjs.Attempts) report too.
	report := func(err error, attempt int, next time.Duration) {
		w.status.set(fmt.Sprintf("starting: waiting for %s: %v", s.name, err))
		mu.Lock()
		defer mu.Unlock()
		if time.Since(logged) < retryLogEvery {
			return
		}
		logged = time.Now()
		args := []any{"step", s.name, "err", err}
		if attempt > 0 {
			args = append(args, "attempt", attempt, "next", next.Round(time.Millisecond))
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == natsjs.JSErrCodeNoSuitablePeers {
			args = append(args, "hint", fmt.Sprintf("--replicas %d needs a JetStream cluster of at least %d servers: waiting for them", w.cfg.Replicas, w.cfg.Replicas))
		}
		w.log.Warn("start: waiting for NATS", args...)
	}
	ctx := natsjs.OnRetry(w.ctx, func(err error) { report(err, 0, 0) })
	delay := firstRetry
	began := time.Now()
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.each)
		err := f(actx)
		cancel()
		if err == nil {
			if attempt > 1 || !logged.IsZero() {
				w.log.Info("start: done waiting", "step", s.name, "after", time.Since(began).Round(time.Millisecond))
			}
			return nil
		}
		if w.ctx.Err() != nil {
			return w.ctx.Err()
		}
		if fatal := w.fatal(s, err); fatal != nil {
			return fatal
		}
		pause := time.Duration(float64(delay) * (0.75 + mrand.Float64()/2))
		report(err, attempt, pause)
		select {
		case <-w.ctx.Done():
			return w.ctx.Err()
		case <-time.After(pause):
		}
		delay = min(2*delay, lastRetry)
	}
}

// permanentError marks an error of a step that no retry can change (a bad directory file).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

// fatal returns, for an error a retry cannot cure, the error to exit with, saying what to
// change; nil for one worth waiting out.
func (w *waiter) fatal(s step, err error) error {
	var pe permanentError
	if errors.As(err, &pe) {
		return pe.err
	}
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return fmt.Errorf("%s: %w", s.name, err) // a file named by a flag: credentials, TLS
	}
	if !natsjs.Permanent(err) {
		return nil
	}
	fix := "check the configuration of NATS and of entityconn"
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired):
		fix = "NATS refused the credentials: " + w.credsAdvice(s)
	case errors.Is(err, nats.ErrSecureConnRequired):
		fix = "the NATS servers require TLS: use a tls:// URL in --nats-url, with --nats-tls-ca (and --nats-tls-cert, --nats-tls-key if they ask for a client certificate)"
	case errors.Is(err, nats.ErrSecureConnWanted):
		fix = "the NATS servers do not offer TLS: drop --nats-tls-ca, --nats-tls-cert and --nats-tls-key, or use servers with TLS"
	case errors.As(err, &apiErr) && apiErr.ErrorCode == natsjs.JSErrCodeReplicasNotSupported:
		fix = fmt.Sprintf("--replicas %d: the NATS server is a single server, not a JetStream cluster, and keeps one copy of each stream: use --replicas 1, or give --nats-url a cluster of at least %d servers", w.cfg.Replicas, w.cfg.Replicas)
	case errors.As(err, &apiErr) && apiErr.ErrorCode == natsjs.JSErrCodeReplicasNotUpdatable:
		fix = fmt.Sprintf("--replicas %d: the stream exists with another number of replicas, which this NATS cannot change: start with its current replicas, or change them with the nats CLI (nats stream edit --replicas)", w.cfg.Replicas)
	case errors.As(err, &apiErr):
		fix = "a stream of that name exists on this NATS with a configuration entityconn cannot update to its own (another storage or retention, or subjects another stream takes): look at it with the nats CLI (nats stream info), and change or remove it, or give entityconn a NATS account of its own"
	}
	return fmt.Errorf("%s: %w: %s", s.name, err, fix)
}

// credsAdvice says which flags to check when NATS refuses the credentials of step s.
func (w *waiter) credsAdvice(s step) string {
	if s.creds != "" {
		return "check " + s.creds
	}
	x := w.cfg.ExtNATS
	switch {
	case w.cfg.NATSURL == "":
		return "the embedded server refused the identity kept in --data (" + w.cfg.Data + "/nats-identity.json)"
	case x.Creds != "":
		return "check --nats-creds (NATS_CREDS)"
	case x.User != "":
		return "check --nats-user and --nats-password (NATS_USER, NATS_PASSWORD)"
	default:
		return "the servers require credentials: give the service's identity with --nats-user and --nats-password (NATS_USER, NATS_PASSWORD), or --nats-creds (NATS_CREDS)"
	}
}

// isFileProblem reports whether err, from loading the directory, is about the file or the
// stored directory itself rather than about reaching NATS.
func isFileProblem(err error) bool {
	var pathErr *fs.PathError
	return errors.Is(err, directoryfile.ErrInvalidFile) || errors.Is(err, directoryfile.ErrInvalidStored) || errors.As(err, &pathErr)
}

// gate is serve's HTTP handler: until the stack is ready it answers /healthz 200, /readyz 503
// with what the start waits for, and everything else 503 with a Zuora error body (category
// 61, temporarily unavailable) and Retry-After; then it hands every request to the stack's.
type gate struct {
	status  *startStatus
	handler atomic.Pointer[http.Handler]
	once    sync.Once
}

// open makes h answer every request from now on.
func (g *gate) open(h http.Handler) { g.once.Do(func() { g.handler.Store(&h) }) }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := g.handler.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	processID := zuora.NewRequestID()
	w.Header().Set("Zuora-Request-Id", processID)
	switch r.URL.Path {
	case "/healthz":
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	case "/readyz":
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting", "reason": g.status.String()})
	default:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		writeJSON(w, http.StatusServiceUnavailable, zuora.ErrorBody{ProcessID: processID, Reasons: []zuora.Reason{{
			Code:    zuora.CodeBase + zuora.CategoryUnavailable,
			Message: "temporarily unavailable: entityconn is starting; try again shortly",
		}}})
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	data, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}
