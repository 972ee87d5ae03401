package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/apptest"
)

// testAPI is the REST API on a real stack (embedded NATS, service, executor), served by an
// httptest server.
type testAPI struct {
	st     *apptest.Stack
	api    *Server
	srv    *httptest.Server
	tokens *Tokens
}

// startAPI starts a stack and the API on it. now, when not nil, is the clock of the tokens
// and of the API; edit, when not nil, changes the configuration first.
func startAPI(t *testing.T, now func() time.Time, edit func(*Config)) *testAPI {
	t.Helper()
	st := apptest.Start(t)
	tokens := NewTokens([]byte("test-signing-key-of-32-bytes...."), now)
	cfg := Config{Service: st.Service, Tokens: tokens, Directory: st.Directory, Now: now}
	if edit != nil {
		edit(&cfg)
	}
	api := New(cfg)
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		api.CloseStreams()
		srv.Close()
	})
	return &testAPI{st: st, api: api, srv: srv, tokens: tokens}
}

// token returns a token of user, valid for all its entities.
func (a *testAPI) token(user string) string { return a.tokens.Issue(user, nil) }

// reply is a decoded response.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// code is the code of the first reason of a Zuora error body, or 0.
func (r reply) code() int {
	reasons, _ := r.body["reasons"].([]any)
	if len(reasons) == 0 {
		return 0
	}
	c, _ := reasons[0].(map[string]any)["code"].(float64)
	return int(c)
}

// message is the message of the first reason of a Zuora error body, or "".
func (r reply) message() string {
	reasons, _ := r.body["reasons"].([]any)
	if len(reasons) == 0 {
		return ""
	}
	m, _ := reasons[0].(map[string]any)["message"].(string)
	return m
}

// call sends a request to the API; headers are name, value pairs.
func (a *testAPI) call(t *testing.T, method, path, token, entity, body string, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if entity != "" {
		req.Header.Set(HeaderEntityIDs, entity)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if http.CanonicalHeaderKey(headers[i]) == "Host" {
			req.Host = headers[i+1] // the client sends req.Host, not a Host header
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// eventCount is the number of events stored.
func (a *testAPI) eventCount(t *testing.T) uint64 {
	t.Helper()
	info, err := a.st.Res.Events.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// clock is a settable clock for tests.
type clock struct{ t atomic.Pointer[time.Time] }

// newClock returns a clock at the current whole second (token expiries are whole seconds).
func newClock() *clock {
	c := &clock{}
	c.set(time.Now().Truncate(time.Second))
	return c
}

func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }
