package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/natsjs"
)

// stackAPI is the REST API on a real stack (apptest: embedded NATS, the test directory).
type stackAPI struct {
	srv    *Server
	tokens *Tokens
}

func newTestAPI(t testing.TB) *stackAPI {
	t.Helper()
	st := apptest.Start(t)
	dirs := natsjs.NewDirectoryStore(st.Res, nil)
	if _, err := dirs.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	tokens := NewTokens([]byte("httpapi-test-signing-key-32-bytes!"), nil)
	return &stackAPI{
		srv:    New(Config{Service: st.Service, Tokens: tokens, Directory: dirs}),
		tokens: tokens,
	}
}

// apiResponse is a decoded response of the API.
type apiResponse struct {
	Status int
	Body   map[string]any
	Raw    string
}

// code returns the code of the first reason of a Zuora error body, or 0.
func (r apiResponse) code() int {
	reasons, _ := r.Body["reasons"].([]any)
	if len(reasons) == 0 {
		return 0
	}
	first, _ := reasons[0].(map[string]any)
	code, _ := first["code"].(float64)
	return int(code)
}

// message returns the message of the first reason of a Zuora error body, or "".
func (r apiResponse) message() string {
	reasons, _ := r.Body["reasons"].([]any)
	if len(reasons) == 0 {
		return ""
	}
	first, _ := reasons[0].(map[string]any)
	msg, _ := first["message"].(string)
	return msg
}

// send sends one request over HTTP to base as user (no token when user is empty), acting in
// entity (no header when empty).
func send(t testing.TB, base string, tokens *Tokens, method, path, user, entity, body string) apiResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+tokens.Issue(user, nil))
	}
	if entity != "" {
		req.Header.Set(HeaderEntityIDs, entity)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := apiResponse{Status: resp.StatusCode, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// The attacker's probe: a page number whose offset (page-1)*pageSize overflows an int. It is
// refused as an invalid value naming the parameter, and the server goes on answering.
func TestListRefusesAPageNumberThatWouldOverflow(t *testing.T) {
	api := newTestAPI(t)
	hs := httptest.NewServer(api.srv)
	t.Cleanup(hs.Close)

	created := send(t, hs.URL, api.tokens, "POST", "/v1/entity-connections", "root", "global", `{"targetEntityId":"eu"}`)
	if created.Status != http.StatusOK {
		t.Fatalf("request = %d %s, want 200", created.Status, created.Raw)
	}
	cases := []struct {
		name, query string
		status      int
		code        int
		mention     string
	}{
		{"offset overflows", "page=4611686018427387905&pageSize=2", 400, 53000020, "page 4611686018427387905"},
		{"largest int", "page=9223372036854775807", 400, 53000020, "page 9223372036854775807"},
		{"one past the largest page", "page=1000001&pageSize=300", 400, 53000020, "page 1000001"},
		{"negative page", "page=-4611686018427387905", 400, 53000020, "page -4611686018427387905"},
		{"beyond an int", "page=99999999999999999999", 400, 53000020, "not a whole number"},
		{"size beyond an int", "pageSize=99999999999999999999", 400, 53000020, "not a whole number"},
		{"huge size", "page=2&pageSize=4611686018427387905", 400, 53000020, "pageSize 4611686018427387905"},
		{"largest page, past the end", "page=1000000&pageSize=300", 200, 0, ""},
		{"past the end", "page=2&pageSize=1", 200, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := send(t, hs.URL, api.tokens, "GET", "/v1/entity-connections?"+c.query, "root", "global", "")
			if r.Status != c.status || r.code() != c.code {
				t.Fatalf("GET ?%s = %d code %d, want %d code %d: %s", c.query, r.Status, r.code(), c.status, c.code, r.Raw)
			}
			if c.status != 200 {
				if !strings.Contains(r.message(), c.mention) || r.Body["success"] != false || r.Body["processId"] == nil {
					t.Errorf("GET ?%s error body = %s, want the Zuora error shape with a message containing %q", c.query, r.Raw, c.mention)
				}
				return
			}
			if items, _ := r.Body["entityConnections"].([]any); len(items) != 0 || r.Body["nextPage"] != nil {
				t.Errorf("GET ?%s = %s, want an empty last page", c.query, r.Raw)
			}
		})
	}

	// The server still answers, with the connection requested before.
	r := send(t, hs.URL, api.tokens, "GET", "/v1/entity-connections?page=1&pageSize=2&minSequence=1", "root", "global", "")
	items, _ := r.Body["entityConnections"].([]any)
	if r.Status != http.StatusOK || len(items) != 1 {
		t.Fatalf("list after the probes = %d %s, want 200 with the one connection", r.Status, r.Raw)
	}
}
