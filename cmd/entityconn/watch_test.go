package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

// watching is one "entityconn watch" running inside the test through runWatch.
type watching struct {
	out, errs *syncBuffer
	cancel    context.CancelFunc
	done      chan int
}

// startWatch runs "watch args" signed in as the test directory's user (secret
// "<user>-secret").
func startWatch(t *testing.T, user string, args ...string) *watching {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	w := &watching{out: &syncBuffer{}, errs: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() { w.done <- runWatch(ctx, args, userEnv(user), w.out, w.errs) }()
	t.Cleanup(cancel)
	return w
}

// userEnv is the environment of a client subcommand signed in as user of the test directory.
func userEnv(user string) func(string) string {
	return func(k string) string {
		return map[string]string{"ENTITYCONN_CLIENT_ID": user, "ENTITYCONN_CLIENT_SECRET": user + "-secret"}[k]
	}
}

// waitFor polls the output until re matches it, and returns the match.
func (w *watching) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(w.out.String()); m != nil {
			return m
		}
		select {
		case code := <-w.done:
			t.Fatalf("watch exited with %d before printing %s:\nstdout:\n%s\nstderr:\n%s", code, re, w.out, w.errs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch did not print %s within 20s:\nstdout:\n%s\nstderr:\n%s", re, w.out, w.errs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop cancels the watch and returns its exit status.
func (w *watching) stop(t *testing.T) int {
	t.Helper()
	w.cancel()
	select {
	case code := <-w.done:
		return code
	case <-time.After(20 * time.Second):
		t.Fatal("watch did not stop within 20s of its context ending")
		return -1
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	s := startService(t)
	root, eve := s.token("root"), s.token("eve")

	first := must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`), 200)
	id := str(first.Body["id"])
	// The watch starts once the request is in the views bucket (a single connection's read
	// waits for it; a list may be answered sooner, from the list index), so that it is
	// current state.
	must(t, s.call("GET", "/v1/entity-connections/"+id+"?minSequence="+seqOf(t, first), eve, "eu", ""), 200)

	w := startWatch(t, "eve", "--entity", "eu", "--nats-url", s.natsURL)
	w.waitFor(t, regexp.MustCompile(`(?s)^inbound +`+id+`  global → eu  Pending  requestedBy=root  updatedAt=\S+Z  sequence=\d+\n-- live --\n`))

	must(t, s.call("PUT", "/v1/entity-connections/"+id+"/accept", eve, "eu", ""), 200)
	w.waitFor(t, regexp.MustCompile(`(?s)-- live --\ninbound +`+id+`  global → eu  Connected  requestedBy=root `))

	// Another entity's connection does not show; eu's outbound one does.
	must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"us"}`), 200)
	out := must(t, s.call("POST", "/v1/entity-connections", root, "eu", `{"targetEntityId":"us"}`), 200)
	w.waitFor(t, regexp.MustCompile(`(?m)^outbound `+str(out.Body["id"])+`  eu → us  Pending  requestedBy=root `))
	if got := w.out.String(); strings.Contains(got, "global → us") {
		t.Errorf("watch of eu printed a connection of global to us:\n%s", got)
	}

	if code := w.stop(t); code != 0 {
		t.Errorf("watch exited with %d after its context ended, want 0; stderr:\n%s", code, w.errs)
	}
}

func TestWatchJSON(t *testing.T) {
	t.Parallel()
	s := startService(t)
	root := s.token("root")
	first := must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`), 200)
	must(t, s.call("GET", "/v1/entity-connections/"+str(first.Body["id"])+"?minSequence="+seqOf(t, first), root, "global", ""), 200)

	w := startWatch(t, "root", "--entity", "global", "--outbound", "--json", "--nats-url", s.natsURL)
	w.waitFor(t, regexp.MustCompile(`\{"operation":"live"\}\n`))
	must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"us"}`), 200)
	w.waitFor(t, regexp.MustCompile(`(?s)live.*"targetEntityId":"us"`))
	if code := w.stop(t); code != 0 {
		t.Errorf("watch exited with %d, want 0", code)
	}

	type line struct {
		Direction string          `json:"direction"`
		Key       string          `json:"key"`
		Operation string          `json:"operation"`
		View      json.RawMessage `json:"view"`
	}
	var got []string
	for _, raw := range strings.Split(strings.TrimSuffix(w.out.String(), "\n"), "\n") {
		var l line
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("watch --json printed %q, not a JSON object: %v", raw, err)
		}
		var v struct {
			ID, TargetEntityID, Status string
			Sequence                   uint64
		}
		if l.View != nil {
			if err := json.Unmarshal(l.View, &v); err != nil {
				t.Fatalf("view of %q: %v", raw, err)
			}
			if l.Key != l.Direction+".global."+v.ID || v.Sequence == 0 {
				t.Errorf("line %s: key %q does not match direction and view id, or no sequence", raw, l.Key)
			}
		}
		got = append(got, l.Direction+" "+l.Operation+" "+v.TargetEntityID+" "+v.Status)
	}
	want := []string{"outbound put eu Pending", " live  ", "outbound put us Pending"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("watch --json lines = %q, want %q\n%s", got, want, w.out)
	}
}

func TestWatchErrors(t *testing.T) {
	t.Parallel()
	_, bare := natsjstest.Single(t) // a NATS server without entityconn's bucket
	s := startService(t)
	for _, tc := range []struct {
		name string
		user string
		args []string
		want int
		msg  string
	}{
		{"no entity", "eve", []string{}, 2, "not an entity id"},
		{"bad entity", "eve", []string{"--entity", "eu.*"}, 2, `--entity "eu.*" is not an entity id`},
		{"stray argument", "eve", []string{"--entity", "eu", "extra"}, 2, `unexpected argument "extra"`},
		{"no credentials", "", []string{"--entity", "eu", "--nats-url", s.natsURL}, 2, "set ENTITYCONN_CLIENT_ID and ENTITYCONN_CLIENT_SECRET"},
		{"no NATS", "eve", []string{"--entity", "eu", "--nats-url", "nats://127.0.0.1:1"}, 1, "is entityconn serve running? is --nats-url right?"},
		{"no bucket", "eve", []string{"--entity", "eu", "--nats-url", bare}, 1, "is entityconn serve running? is --nats-url right?"},
		{"wrong secret", "mallory", []string{"--entity", "eu", "--nats-url", s.natsURL}, 1, "Authorization Violation"},
		{"an entity the user cannot read", "sam", []string{"--entity", "eu", "--nats-url", s.natsURL}, 1, "may the user read the entity?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs syncBuffer
			env := userEnv(tc.user)
			if tc.user == "" {
				env = func(string) string { return "" }
			}
			code := runWatch(t.Context(), tc.args, env, &out, &errs)
			if code != tc.want || !strings.Contains(errs.String(), tc.msg) {
				t.Errorf("watch %q = %d, stderr %q; want %d and %q", tc.args, code, errs.String(), tc.want, tc.msg)
			}
		})
	}
}
