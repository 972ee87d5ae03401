package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const (
	clientTestID1 = "6f1c0000-0000-4000-8000-000000000001"
	clientTestID2 = "6f1c0000-0000-4000-8000-000000000002"
	clientTestID3 = "6f1c0000-0000-4000-8000-000000000003"
)

// clientSeen is one /v1 request as the fake API received it.
type clientSeen struct {
	method, path, query string
	header              http.Header
	body                string
}

// clientFakeAPI answers the REST API of contract §4 with canned responses, to check what the
// client subcommands send and how they print the answers.
type clientFakeAPI struct {
	srv      *httptest.Server
	mu       sync.Mutex
	seen     []clientSeen
	settings string // the autoAcceptFrom the sharing settings answer, as JSON
}

func clientStartFake(t *testing.T) *clientFakeAPI {
	t.Helper()
	f := &clientFakeAPI{settings: "[]"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func clientReplyJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func clientReplyError(w http.ResponseWriter, status, code int, msg string) {
	clientReplyJSON(w, status, fmt.Sprintf(`{"success":false,"processId":"p-1","reasons":[{"code":%d,"message":%q}]}`, code, msg))
}

func (f *clientFakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/oauth/token" {
		_ = r.ParseForm()
		if r.PostForm.Get("client_id") != "alice" || r.PostForm.Get("client_secret") != "alice-secret" {
			clientReplyError(w, 401, 53000011, "invalid client credentials")
			return
		}
		clientReplyJSON(w, 200, `{"access_token":"t1","token_type":"bearer","expires_in":3600,"scope":"entity.global entity.eu"}`)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.seen = append(f.seen, clientSeen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(body)})
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer t1" {
		clientReplyError(w, 401, 53000011, "invalid token")
		return
	}
	const item = `{"id":%q,"sourceEntityId":"global","targetEntityId":%q,"status":%q,"requestedBy":"alice",` +
		`"requestedAt":"2026-11-27T10:0%d:00.25Z","updatedAt":"2026-11-27T11:00:00Z"}`
	rest, isConn := strings.CutPrefix(r.URL.Path, "/v1/entity-connections")
	switch {
	case r.Method == "POST" && r.URL.Path == "/v1/entity-connections":
		if strings.Contains(string(body), `"global"`) {
			clientReplyError(w, 400, 53000020, "source and target must be different entities")
			return
		}
		status := "Pending"
		if strings.Contains(string(body), `"apac"`) { // apac's settings accept the acting entity's requests at once
			status = "Connected"
		}
		w.Header().Set("Entityconn-Sequence", "12")
		clientReplyJSON(w, 200, fmt.Sprintf(`{"id":%q,"status":%q,"success":true}`, clientTestID1, status))
	case r.Method == "GET" && strings.HasPrefix(r.URL.Query().Get("asOf"), "2099"):
		clientReplyError(w, 400, 53000020, "asOf "+r.URL.Query().Get("asOf")+" is in the future")
	case r.URL.Path == "/v1/entity-sharing-settings" && r.Header.Get("Zuora-Entity-Ids") == "apac" && r.Method == "PUT":
		clientReplyError(w, 403, 53000010, `user "alice" is not an admin of "apac"`)
	case r.Method == "PUT" && r.URL.Path == "/v1/entity-sharing-settings":
		var set struct {
			AutoAcceptFrom json.RawMessage `json:"autoAcceptFrom"`
		}
		_ = json.Unmarshal(body, &set)
		f.mu.Lock()
		f.settings = string(set.AutoAcceptFrom)
		f.mu.Unlock()
		w.Header().Set("Entityconn-Sequence", "15")
		clientReplyJSON(w, 200, `{"success":true}`)
	case r.Method == "GET" && r.URL.Path == "/v1/entity-sharing-settings":
		f.mu.Lock()
		settings := f.settings
		f.mu.Unlock()
		clientReplyJSON(w, 200, `{"autoAcceptFrom":`+settings+`,"success":true}`)
	case r.Method == "PUT" && isConn:
		if strings.HasPrefix(rest, "/"+clientTestID3+"/") {
			clientReplyError(w, 409, 53000030, "connection is not pending")
			return
		}
		w.Header().Set("Entityconn-Sequence", "13")
		clientReplyJSON(w, 200, `{"success":true}`)
	case r.Method == "GET" && r.URL.Path == "/v1/entity-connections":
		if r.URL.Query().Get("page") == "2" {
			clientReplyJSON(w, 200, `{"entityConnections":[`+fmt.Sprintf(item, clientTestID3, "apac", "Denied", 1)+`],"success":true}`)
			return
		}
		clientReplyJSON(w, 200, `{"entityConnections":[`+fmt.Sprintf(item, clientTestID1, "eu", "Pending", 3)+`,`+
			fmt.Sprintf(item, clientTestID2, "americas", "Connected", 2)+`],`+
			`"nextPage":"`+f.srv.URL+`/v1/entity-connections?page=2&pageSize=2","success":true}`)
	case r.Method == "GET" && rest == "/"+clientTestID1:
		clientReplyJSON(w, 200, strings.TrimSuffix(fmt.Sprintf(item, clientTestID1, "eu", "Denied", 3), "}")+
			`,"history":[{"type":"ConnectionRequested","at":"2026-11-27T10:03:00Z","actorUserId":"alice","actorEntityId":"global"},`+
			`{"type":"ConnectionDenied","at":"2026-11-27T11:00:00Z","actorUserId":"bob","actorEntityId":"eu","reason":"not\tnow \u001b[31m"}],"success":true}`)
	case r.Method == "GET" && isConn:
		clientReplyError(w, 404, 53000040, "no such connection")
	case r.Method == "PUT" && strings.HasPrefix(r.URL.Path, "/v1/shared-objects/"):
		if strings.Contains(r.URL.Path, "/P-409/") {
			clientReplyError(w, 409, 53000030, `rule violation: "us" has no Connected connection from "global"`)
			return
		}
		w.Header().Set("Entityconn-Sequence", "14")
		clientReplyJSON(w, 200, `{"success":true}`)
	case r.Method == "GET" && r.URL.Path == "/v1/shared-objects":
		const shared = `{"objectType":"Product","objectId":%q,"sourceEntityId":"global","targetEntityId":%q,` +
			`"connectionId":"` + clientTestID1 + `","sharedAt":"2026-11-27T10:1%d:00.5Z","sharedBy":"alice"}`
		if r.URL.Query().Get("page") == "2" {
			clientReplyJSON(w, 200, `{"sharedObjects":[`+fmt.Sprintf(shared, "P-1", "eu", 1)+`],"success":true}`)
			return
		}
		clientReplyJSON(w, 200, `{"sharedObjects":[`+fmt.Sprintf(shared, "P-100", "eu", 3)+`,`+fmt.Sprintf(shared, "P-42", "americas", 2)+`],`+
			`"nextPage":"/v1/shared-objects?page=2&pageSize=2","success":true}`)
	default:
		http.NotFound(w, r)
	}
}

func (f *clientFakeAPI) requests() []clientSeen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]clientSeen(nil), f.seen...)
}

// clientEnv is the environment of a configured user.
func (f *clientFakeAPI) clientEnv(extra ...string) func(string) string {
	env := map[string]string{
		"ENTITYCONN_URL":           f.srv.URL,
		"ENTITYCONN_CLIENT_ID":     "alice",
		"ENTITYCONN_CLIENT_SECRET": "alice-secret",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return func(k string) string { return env[k] }
}

// clientRun runs a client subcommand and returns its exit status and outputs.
func clientRun(t *testing.T, getenv func(string) string, sub string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runClient(t.Context(), sub, args, getenv, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestClientRequestFlagsBeforeOrAfterTheTarget(t *testing.T) {
	for _, args := range [][]string{
		{"--entity", "global", "eu"},
		{"eu", "--entity", "global"},
		{"--entity=global", "eu", "--idempotency-key", "k1"},
		{"-entity", "global", "--", "eu"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			f := clientStartFake(t)
			code, stdout, stderr := clientRun(t, f.clientEnv(), "request", args...)
			if code != 0 {
				t.Fatalf("exit = %d, stderr = %q", code, stderr)
			}
			if want := "requested connection " + clientTestID1 + " (global → eu), status Pending, sequence 12\n"; stdout != want {
				t.Errorf("stdout = %q, want %q", stdout, want)
			}
			r := f.requests()[0]
			if r.method != "POST" || r.path != "/v1/entity-connections" || r.body != `{"targetEntityId":"eu"}` {
				t.Errorf("request = %s %s %s", r.method, r.path, r.body)
			}
			if got := r.header.Get("Zuora-Entity-Ids"); got != "global" {
				t.Errorf("Zuora-Entity-Ids = %q, want global", got)
			}
		})
	}
}

func TestClientCommandsPrintOneLine(t *testing.T) {
	tests := []struct {
		sub      string
		args     []string
		want     string
		wantPath string
		wantBody string
	}{
		{"accept", []string{"--entity", "eu", clientTestID1}, "accepted connection " + clientTestID1 + ", sequence 13\n", "/accept", ""},
		{"deny", []string{clientTestID1, "--reason", "not now"}, "denied connection " + clientTestID1 + ", sequence 13\n", "/deny", `{"reason":"not now"}`},
		{"deny", []string{"--reason=later", clientTestID1}, "denied connection " + clientTestID1 + ", sequence 13\n", "/deny", `{"reason":"later"}`},
		{"cancel", []string{clientTestID1}, "cancelled connection " + clientTestID1 + ", sequence 13\n", "/cancel", ""},
		{"disconnect", []string{clientTestID1}, "disconnected connection " + clientTestID1 + ", sequence 13\n", "/disconnect", ""},
	}
	for _, tt := range tests {
		t.Run(tt.sub+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			f := clientStartFake(t)
			code, stdout, stderr := clientRun(t, f.clientEnv(), tt.sub, tt.args...)
			if code != 0 || stdout != tt.want || stderr != "" {
				t.Fatalf("%s = %d, %q, %q; want 0, %q, \"\"", tt.sub, code, stdout, stderr, tt.want)
			}
			r := f.requests()[0]
			if r.method != "PUT" || r.path != "/v1/entity-connections/"+clientTestID1+tt.wantPath || r.body != tt.wantBody {
				t.Errorf("request = %s %s %q, want PUT %s %q", r.method, r.path, r.body, tt.wantPath, tt.wantBody)
			}
		})
	}
}

func TestClientCommandHeaders(t *testing.T) {
	f := clientStartFake(t)
	code, _, stderr := clientRun(t, f.clientEnv("ENTITYCONN_ENTITY", "eu"), "accept",
		"--idempotency-key", "key-1", clientTestID1, "--track-id", "track-1")
	if code != 0 {
		t.Fatalf("exit = %d, stderr = %q", code, stderr)
	}
	h := f.requests()[0].header
	for k, want := range map[string]string{
		"Authorization": "Bearer t1", "Zuora-Entity-Ids": "eu", "Idempotency-Key": "key-1", "Zuora-Track-Id": "track-1",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestClientCommandJSON(t *testing.T) {
	f := clientStartFake(t)
	code, stdout, stderr := clientRun(t, f.clientEnv(), "request", "eu", "--json", "--entity", "global")
	if code != 0 {
		t.Fatalf("exit = %d, stderr = %q", code, stderr)
	}
	want := "{\n  \"id\": \"" + clientTestID1 + "\",\n  \"sequence\": 12,\n  \"status\": \"Pending\"\n}\n"
	if stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

func TestClientListTable(t *testing.T) {
	f := clientStartFake(t)
	code, stdout, stderr := clientRun(t, f.clientEnv(), "list", "--type", "outbound", "--page-size", "2", "--status", "Pending")
	if code != 0 {
		t.Fatalf("exit = %d, stderr = %q", code, stderr)
	}
	want := "" +
		"ID                                    SOURCE  TARGET    STATUS     REQUESTED BY  REQUESTED AT\n" +
		"6f1c0000-0000-4000-8000-000000000001  global  eu        Pending    alice         2026-11-27T10:03:00Z\n" +
		"6f1c0000-0000-4000-8000-000000000002  global  americas  Connected  alice         2026-11-27T10:02:00Z\n" +
		"next page: 2\n"
	if stdout != want {
		t.Errorf("stdout =\n%s\nwant\n%s", stdout, want)
	}
	if got := f.requests()[0].query; got != "pageSize=2&status=Pending&type=outbound" {
		t.Errorf("query = %q", got)
	}
}

func TestClientListAllJSON(t *testing.T) {
	f := clientStartFake(t)
	code, stdout, stderr := clientRun(t, f.clientEnv(), "list", "--all", "--json")
	if code != 0 {
		t.Fatalf("exit = %d, stderr = %q", code, stderr)
	}
	var items []map[string]any
	if err := json.Unmarshal([]byte(stdout), &items); err != nil {
		t.Fatalf("stdout is not a JSON array: %v\n%s", err, stdout)
	}
	if len(items) != 3 || items[2]["id"] != clientTestID3 || items[0]["requestedAt"] != "2026-11-27T10:03:00.25Z" ||
		items[1]["sourceEntityId"] != "global" || items[1]["status"] != "Connected" {
		t.Errorf("items = %v", items)
	}
	if !strings.HasPrefix(stdout, "[\n  {\n    \"id\"") {
		t.Errorf("stdout is not indented: %q", stdout)
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("requests = %d, want 2 pages", n)
	}
}

func TestClientGet(t *testing.T) {
	f := clientStartFake(t)
	code, stdout, stderr := clientRun(t, f.clientEnv(), "get", clientTestID1, "--min-sequence", "13")
	if code != 0 {
		t.Fatalf("exit = %d, stderr = %q", code, stderr)
	}
	// The reason's tab and escape character are blanked: they would break the table or the terminal.
	want := "" +
		"ID            6f1c0000-0000-4000-8000-000000000001\n" +
		"SOURCE        global\n" +
		"TARGET        eu\n" +
		"STATUS        Denied\n" +
		"REQUESTED BY  alice\n" +
		"REQUESTED AT  2026-11-27T10:03:00Z\n" +
		"UPDATED AT    2026-11-27T11:00:00Z\n" +
		"\n" +
		"HISTORY\n" +
		"AT                    TYPE                 ACTOR  ENTITY  REASON\n" +
		"2026-11-27T10:03:00Z  ConnectionRequested  alice  global  -\n" +
		"2026-11-27T11:00:00Z  ConnectionDenied     bob    eu      not now  [31m\n"
	if stdout != want {
		t.Errorf("stdout =\n%s\nwant\n%s", stdout, want)
	}
	if got := f.requests()[0].query; got != "minSequence=13" {
		t.Errorf("query = %q, want minSequence=13", got)
	}

	code, stdout, stderr = clientRun(t, f.clientEnv(), "get", "--json", clientTestID1)
	if code != 0 {
		t.Fatalf("exit = %d, stderr = %q", code, stderr)
	}
	var d struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		History []struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"history"`
	}
	if err := json.Unmarshal([]byte(stdout), &d); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if d.ID != clientTestID1 || d.Status != "Denied" || len(d.History) != 2 || d.History[1].Reason != "not\tnow \x1b[31m" {
		t.Errorf("detail = %+v", d)
	}
}

func TestClientAPIErrors(t *testing.T) {
	tests := []struct {
		sub        string
		args       []string
		wantStderr string
	}{
		{"accept", []string{clientTestID3}, "entityconn: connection is not pending (HTTP 409, code 53000030)\n"},
		{"request", []string{"global"}, "entityconn: source and target must be different entities (HTTP 400, code 53000020)\n"},
		{"get", []string{clientTestID2}, "entityconn: no such connection (HTTP 404, code 53000040)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.sub, func(t *testing.T) {
			f := clientStartFake(t)
			code, stdout, stderr := clientRun(t, f.clientEnv(), tt.sub, tt.args...)
			if code != 1 || stdout != "" || stderr != tt.wantStderr {
				t.Errorf("%s = %d, %q, %q; want 1, \"\", %q", tt.sub, code, stdout, stderr, tt.wantStderr)
			}
		})
	}
}

func TestClientWrongCredentials(t *testing.T) {
	f := clientStartFake(t)
	code, _, stderr := clientRun(t, f.clientEnv("ENTITYCONN_CLIENT_SECRET", "nope"), "list")
	if want := "entityconn: invalid client credentials (HTTP 401, code 53000011)\n"; code != 1 || stderr != want {
		t.Errorf("list = %d, %q; want 1, %q", code, stderr, want)
	}
}

func TestClientUsageErrors(t *testing.T) {
	tests := []struct {
		sub  string
		args []string
		want string // in stderr, besides the usage line
	}{
		{"request", nil, "missing the target entity id"},
		{"accept", nil, "missing the connection id"},
		{"cancel", []string{"a", "b"}, `unexpected argument "b"`},
		{"get", []string{"a", "--entity"}, "flag needs an argument"},
		{"deny", []string{"--nope", "a"}, "flag provided but not defined: -nope"},
		{"list", []string{"--type", "sideways"}, `--type is "sideways", want outbound or inbound`},
		{"list", []string{"extra"}, `unexpected argument "extra"`},
		{"list", []string{"--page", "x"}, `invalid value "x" for flag -page`},
		{"cancel", []string{"--reason", "r", "a"}, "flag provided but not defined: -reason"},
	}
	for _, tt := range tests {
		t.Run(tt.sub+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			f := clientStartFake(t)
			code, stdout, stderr := clientRun(t, f.clientEnv(), tt.sub, tt.args...)
			if code != 2 {
				t.Errorf("exit = %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "usage: entityconn "+tt.sub+" ") {
				t.Errorf("stderr = %q, want %q and the usage line", stderr, tt.want)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

func TestClientHelp(t *testing.T) {
	code, stdout, stderr := clientRun(t, func(string) string { return "" }, "deny", "-h")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "usage: entityconn deny [--reason R]") || !strings.Contains(stderr, "-idempotency-key") {
		t.Errorf("deny -h = %d, %q, %q", code, stdout, stderr)
	}
	if strings.Contains(stderr, "alice-secret") {
		t.Errorf("help shows a secret: %q", stderr)
	}
}

func TestClientMissingCredentials(t *testing.T) {
	f := clientStartFake(t)
	env := map[string]string{"ENTITYCONN_URL": f.srv.URL, "ENTITYCONN_CLIENT_ID": "alice"}
	code, stdout, stderr := clientRun(t, func(k string) string { return env[k] }, "list")
	if code != 2 || stdout != "" {
		t.Errorf("list = %d, %q; want 2 and no output", code, stdout)
	}
	for _, want := range []string{"entityconn: missing credentials", "ENTITYCONN_CLIENT_ID", "ENTITYCONN_CLIENT_SECRET"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr = %q, want it to contain %q", stderr, want)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestClientFlagsOverrideTheEnvironment(t *testing.T) {
	f := clientStartFake(t)
	env := map[string]string{
		"ENTITYCONN_URL":           "http://127.0.0.1:1", // nothing listens there
		"ENTITYCONN_CLIENT_ID":     "mallory",
		"ENTITYCONN_CLIENT_SECRET": "wrong",
		"ENTITYCONN_ENTITY":        "apac",
	}
	code, _, stderr := clientRun(t, func(k string) string { return env[k] }, "cancel", clientTestID1,
		"--url", f.srv.URL, "--client-id", "alice", "--client-secret", "alice-secret", "--entity", "global")
	if code != 0 {
		t.Fatalf("exit = %d, stderr = %q", code, stderr)
	}
	if got := f.requests()[0].header.Get("Zuora-Entity-Ids"); got != "global" {
		t.Errorf("Zuora-Entity-Ids = %q, want global", got)
	}
}

func TestClientBadURL(t *testing.T) {
	env := map[string]string{"ENTITYCONN_URL": "localhost:8080", "ENTITYCONN_CLIENT_ID": "a", "ENTITYCONN_CLIENT_SECRET": "b"}
	code, _, stderr := clientRun(t, func(k string) string { return env[k] }, "list")
	if code != 2 || !strings.Contains(stderr, `"localhost:8080"`) {
		t.Errorf("list = %d, %q; want 2 naming the URL", code, stderr)
	}
}

func TestClientUnreachableServer(t *testing.T) {
	f := clientStartFake(t)
	env := f.clientEnv()
	f.srv.Close()
	code, stdout, stderr := clientRun(t, env, "list")
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "entityconn: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("list = %d, %q, %q; want 1 and one line on stderr", code, stdout, stderr)
	}
}

func TestClientUsageNamesEveryCommand(t *testing.T) {
	for _, sub := range []string{"request", "accept", "deny", "cancel", "disconnect", "list", "get", "share", "unshare", "shared", "settings"} {
		if !strings.Contains(clientUsage, "  "+sub+" ") {
			t.Errorf("clientUsage does not describe %s", sub)
		}
	}
}
