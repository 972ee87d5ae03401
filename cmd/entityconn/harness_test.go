package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/natsauth"
	"github.com/entityconn/entityconn/adapters/natsclient"
	"github.com/entityconn/entityconn/events"
)

// testDirectory is the directory the component tests run with (apptest.Directory: root,
// eve, viv, sam; secrets "<client id>-secret" as cheap hashes). TestKillAndRestart imports a
// file with secrets in clear.
var testDirectory = apptest.Directory()

// service is one "entityconn serve" running inside the test through run.
type service struct {
	t       testing.TB
	base    string // http://127.0.0.1:port
	natsURL string
	data    string
	stdout  *syncBuffer
	stderr  *syncBuffer
	stop    func() int
	// exited is closed when serve has returned, with exitCode.
	exited   chan struct{}
	exitCode int
}

var (
	httpLine = regexp.MustCompile(`HTTP listening on (http://\S+)`)
	natsLine = regexp.MustCompile(`listening on (nats://\S+)`)
)

// writeDirectory writes the test directory to a temp file and returns its path.
func writeDirectory(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "directory.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startService runs "serve" with a fresh data dir (unless args give one), random ports and
// the test directory, waits until it listens and stops it when the test ends.
func startService(t testing.TB, args ...string) *service {
	t.Helper()
	return startServiceEnv(t, func(string) string { return "" }, args...)
}

// startServiceEnv is startService with the environment getenv.
func startServiceEnv(t testing.TB, getenv func(string) string, args ...string) *service {
	t.Helper()
	s := launchServiceEnv(t, getenv, args...)
	s.waitReady(30 * time.Second)
	return s
}

// waitReady waits until the service answers /readyz with 200: it listens before it is ready.
func (s *service) waitReady(within time.Duration) {
	s.t.Helper()
	if err := waitReady(s.base, within, s.exited); err != nil {
		s.t.Fatalf("serve: %v\nstdout:\n%s\nstderr:\n%s", err, s.stdout, s.stderr)
	}
}

// waitReady polls base's /readyz until it answers 200, or the process is gone (exited
// closed).
func waitReady(base string, within time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(within)
	last := "no answer"
	for {
		select {
		case <-exited:
			return fmt.Errorf("exited before it was ready (/readyz: %s)", last)
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %v: /readyz: %s", within, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// launchServiceEnv is startServiceEnv without waiting for readiness: it returns once serve
// listens.
func launchServiceEnv(t testing.TB, getenv func(string) string, args ...string) *service {
	t.Helper()
	s := &service{t: t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	full := []string{"serve", "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--log-level", "warn"}
	if !hasFlag(args, "--data") {
		s.data = t.TempDir()
		full = append(full, "--data", s.data)
	}
	if !hasFlag(args, "--directory") {
		full = append(full, "--directory", writeDirectory(t, testDirectory))
	}
	full = append(full, args...)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(s.exited)
		s.exitCode = run(ctx, full, getenv, s.stdout, s.stderr)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := httpLine.FindStringSubmatch(s.stdout.String()); m != nil {
			s.base = m[1]
			break
		}
		select {
		case <-s.exited:
			cancel()
			t.Fatalf("serve exited with %d before listening:\nstdout:\n%s\nstderr:\n%s", s.exitCode, s.stdout, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not listen within 30s:\n%s\n%s", s.stdout, s.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m := natsLine.FindStringSubmatch(s.stdout.String()); m != nil {
		s.natsURL = m[1]
	}
	var once sync.Once
	code := 0
	s.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case <-s.exited:
				code = s.exitCode
			case <-time.After(30 * time.Second):
				t.Errorf("serve did not stop within 30s")
			}
		})
		return code
	}
	t.Cleanup(func() {
		if c := s.stop(); c != 0 {
			t.Errorf("serve exited with %d; stderr:\n%s", c, s.stderr)
		}
	})
	return s
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// token gets an access token for a client of the test directory (secret = id + "-secret").
func (s *service) token(client string, scope ...string) string {
	s.t.Helper()
	return s.tokenWith(client, client+"-secret", scope...)
}

// tokenWith gets a token for client with its secret.
func (s *service) tokenWith(client, secret string, scope ...string) string {
	s.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret}}
	if len(scope) > 0 {
		form.Set("scope", strings.Join(scope, " "))
	}
	resp, err := http.PostForm(s.base+"/oauth/token", form)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&body) != nil || body.AccessToken == "" {
		s.t.Fatalf("token for %s: HTTP %d", client, resp.StatusCode)
	}
	return body.AccessToken
}

// response is a decoded HTTP response.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// reasonCode returns the code of the first reason of a Zuora error body, or 0.
func (r response) reasonCode() int {
	reasons, _ := r.Body["reasons"].([]any)
	if len(reasons) == 0 {
		return 0
	}
	code, _ := reasons[0].(map[string]any)["code"].(float64)
	return int(code)
}

// call sends one request; headers are name, value pairs.
func (s *service) call(method, path, token, entity, body string, headers ...string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if entity != "" {
		req.Header.Set("Zuora-Entity-Ids", entity)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// tryCall posts a request and reports a transport error instead of failing the test.
func tryCall(base, token, entity, body string) (response, error) {
	req, err := http.NewRequest("POST", base+"/v1/entity-connections", strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Zuora-Entity-Ids", entity)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r, nil
}

// must checks the status of a response.
func must(t testing.TB, r response, status int) response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("HTTP %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r
}

// connect connects to the service's embedded NATS as user (a directory user of the test
// directory, secret "<user>-secret"), or as the service itself when user is "".
func (s *service) connect(user string, opts ...nats.Option) *nats.Conn {
	s.t.Helper()
	if s.natsURL == "" {
		s.t.Fatal("service has no embedded NATS")
	}
	if user == "" {
		id, _, err := natsauth.LoadIdentity(s.data)
		if err != nil {
			s.t.Fatal(err)
		}
		opts = append(opts, nats.UserInfo(id.User, id.Password))
	} else {
		opts = append(opts, natsclient.SignIn(user, user+"-secret", user)...)
	}
	nc, err := nats.Connect(s.natsURL, opts...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(nc.Close)
	return nc
}

// js connects to the service's NATS as the service itself.
func (s *service) js() jetstream.JetStream {
	s.t.Helper()
	js, err := jetstream.New(s.connect(""))
	if err != nil {
		s.t.Fatal(err)
	}
	return js
}

// eventCount returns how many events the stream holds (on subjects matching filter, or all).
func eventCount(t testing.TB, js jetstream.JetStream, filter string) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), events.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if filter == "" {
		info, err := st.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func seqOf(t testing.TB, r response) string {
	t.Helper()
	seq := r.Header.Get("Entityconn-Sequence")
	if seq == "" {
		t.Fatalf("no Entityconn-Sequence header on %d %s", r.Status, r.Raw)
	}
	return seq
}

func str(v any) string { return fmt.Sprint(v) }

func jsOf(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// signingKey reads the token signing key from the service's NATS, to make expired tokens.
func signingKey(t testing.TB, s *service) []byte {
	t.Helper()
	kv, err := s.js().KeyValue(context.Background(), "ENTITYCONN_DIRECTORY")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), "token-signing-key")
	if err != nil {
		t.Fatal(err)
	}
	return e.Value()
}

// syncBuffer is apptest.SyncBuffer: written by a command or server while the test reads it.
type syncBuffer = apptest.SyncBuffer
