package restclient_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/restclient"
)

// recorded is one /v1 request as the fake server saw it.
type recorded struct {
	Method   string
	Path     string // escaped
	RawQuery string
	Header   http.Header
	Body     string
}

// fakeAPI emulates the REST API of contract §4 closely enough to test the client's requests
// and its parsing: it issues tokens "tok-1", "tok-2", ..., refuses unknown or rejected tokens
// with a Zuora 401, and hands /v1 calls with a valid token to handle.
type fakeAPI struct {
	t         *testing.T
	srv       *httptest.Server
	expiresIn int
	scope     string
	handle    func(w http.ResponseWriter, r *http.Request)

	mu         sync.Mutex
	issued     int
	rejected   map[string]bool
	rejectAll  bool
	tokenForms []url.Values
	calls      []recorded
}

func newFakeAPI(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, expiresIn: 3600, scope: "user.alice entity.global entity.eu", handle: handle, rejected: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/oauth/token" {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad token request", http.StatusBadRequest)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.tokenForms = append(f.tokenForms, r.PostForm)
		f.issued++
		tok := fmt.Sprintf("tok-%d", f.issued)
		f.mu.Unlock()
		if r.PostForm.Get("client_secret") != "alice-secret" {
			zuoraError(w, http.StatusUnauthorized, 53000011, "invalid client credentials")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": tok, "token_type": "bearer", "expires_in": f.expiresIn, "scope": f.scope,
		})
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), string(body)})
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	valid := strings.HasPrefix(tok, "tok-") && !f.rejected[tok] && !f.rejectAll
	f.mu.Unlock()
	if !valid {
		zuoraError(w, http.StatusUnauthorized, 53000011, "invalid or expired token")
		return
	}
	if tr := r.Header.Get("Zuora-Track-Id"); tr != "" {
		w.Header().Set("Zuora-Track-Id", tr)
	}
	f.handle(w, r)
}

func (f *fakeAPI) client(opts ...restclient.Option) *restclient.Client {
	return restclient.New(f.srv.URL+"/", "alice", "alice-secret", opts...)
}

func (f *fakeAPI) tokenRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tokenForms)
}

func (f *fakeAPI) recorded() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.calls...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func zuoraError(w http.ResponseWriter, status, code int, msgs ...string) {
	var reasons []map[string]any
	for _, m := range msgs {
		reasons = append(reasons, map[string]any{"code": code, "message": m})
	}
	writeJSON(w, status, map[string]any{"success": false, "processId": "proc-1", "reasons": reasons})
}

func okEntities(w http.ResponseWriter, _ *http.Request) {
	item := func(id, name string, parent any) map[string]any {
		return map[string]any{"id": id, "name": name, "displayName": name, "parentId": parent, "status": "Provisioned",
			"tenantId": "acme", "locale": "en_US", "timezone": "UTC"}
	}
	global, eu := item("global", "ACME Global", nil), item("eu", "ACME Europe", "global")
	global["role"], eu["role"] = "admin", "user"
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "entities": []map[string]any{global, eu}})
}

func TestTokenIsFetchedWithClientCredentialsAndCached(t *testing.T) {
	f := newFakeAPI(t, okEntities)
	c := f.client()
	for range 3 {
		ents, err := c.Entities(t.Context())
		if err != nil {
			t.Fatalf("Entities() error = %v", err)
		}
		if len(ents) != 2 || ents[0].ParentID != nil || ents[1].ParentID == nil || *ents[1].ParentID != "global" {
			t.Fatalf("Entities() = %+v", ents)
		}
		ents[1].ParentID = nil
		if want := (restclient.Entity{Entity: restclient.TenantEntity{ID: "eu", Name: "ACME Europe", DisplayName: "ACME Europe",
			Status: "Provisioned", TenantID: "acme", Locale: "en_US", Timezone: "UTC"}, Role: "user"}); ents[1] != want {
			t.Fatalf("Entities()[1] = %+v, want %+v", ents[1], want)
		}
	}
	if got := f.tokenRequests(); got != 1 {
		t.Errorf("token requests = %d, want 1 (cached)", got)
	}
	form := f.tokenForms[0]
	want := url.Values{"grant_type": {"client_credentials"}, "client_id": {"alice"}, "client_secret": {"alice-secret"}}
	if form.Encode() != want.Encode() {
		t.Errorf("token form = %v, want %v", form, want)
	}
	for _, r := range f.recorded() {
		if got := r.Header.Get("Authorization"); got != "Bearer tok-1" {
			t.Errorf("Authorization = %q, want Bearer tok-1", got)
		}
		if r.Path != "/v1/users/alice/accessible-entities" {
			t.Errorf("path = %q, want /v1/users/alice/accessible-entities: the token's user (base URL's trailing slash dropped)", r.Path)
		}
	}
}

// AllEntities lists the whole hierarchy; Entities needs the token's scope to name its user.
func TestAllEntitiesAndAScopeWithoutUser(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "entities": []map[string]any{
			{"id": "global", "name": "ACME Global", "parentId": nil, "status": "Provisioned"}, {"id": "eu", "name": "ACME Europe", "parentId": "global"},
		}})
	})
	all, err := f.client().AllEntities(t.Context())
	if err != nil || len(all) != 2 || all[1].ID != "eu" || all[0].Status != "Provisioned" {
		t.Fatalf("AllEntities() = %+v, %v", all, err)
	}
	if got := f.recorded()[0].Path; got != "/v1/entities" {
		t.Errorf("AllEntities() path = %q, want /v1/entities", got)
	}
	f.scope = "entity.global"
	if _, err := restclient.New(f.srv.URL, "alice", "alice-secret").Entities(t.Context()); err == nil || !strings.Contains(err.Error(), "names no user") {
		t.Errorf("Entities() with a scope naming no user = %v, want an error saying so", err)
	}
}

func TestTokenIsRefetchedWithin30sOfExpiry(t *testing.T) {
	f := newFakeAPI(t, okEntities)
	f.expiresIn = 30 // already inside the 30 s margin: never cached
	c := f.client()
	for range 2 {
		if _, err := c.AllEntities(t.Context()); err != nil {
			t.Fatalf("AllEntities() error = %v", err)
		}
	}
	if got := f.tokenRequests(); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
}

func TestRefusedTokenIsReplacedOnceAndTheCallRepeated(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Entityconn-Sequence", "7")
		writeJSON(w, http.StatusOK, map[string]any{"id": "c-1", "success": true})
	})
	c := f.client()
	if _, err := c.Entities(t.Context()); err != nil { // caches tok-1
		t.Fatalf("Entities() error = %v", err)
	}
	f.mu.Lock()
	f.rejected["tok-1"] = true // the server forgot it, say after a restart
	f.mu.Unlock()

	res, err := c.Request(t.Context(), "eu", restclient.IdempotencyKey("k-1"))
	if err != nil {
		t.Fatalf("Request() error = %v", err)
	}
	if res != (restclient.Result{ID: "c-1", Sequence: 7}) {
		t.Errorf("Request() = %+v, want {c-1 7}", res)
	}
	calls := f.recorded()
	if len(calls) != 3 {
		t.Fatalf("v1 calls = %d, want 3", len(calls))
	}
	first, retry := calls[1], calls[2]
	if first.Header.Get("Authorization") != "Bearer tok-1" || retry.Header.Get("Authorization") != "Bearer tok-2" {
		t.Errorf("Authorization = %q then %q, want tok-1 then tok-2", first.Header.Get("Authorization"), retry.Header.Get("Authorization"))
	}
	if retry.Body != first.Body || retry.Body != `{"targetEntityId":"eu"}` {
		t.Errorf("retried body = %q, first = %q", retry.Body, first.Body)
	}
	if retry.Header.Get("Idempotency-Key") != "k-1" {
		t.Errorf("retried Idempotency-Key = %q, want k-1", retry.Header.Get("Idempotency-Key"))
	}
	// The new token is cached in turn.
	if _, err := c.Entities(t.Context()); err != nil {
		t.Fatalf("Entities() error = %v", err)
	}
	if got := f.tokenRequests(); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
}

func TestSecond401IsReturned(t *testing.T) {
	f := newFakeAPI(t, okEntities)
	f.rejectAll = true
	_, err := f.client().Entities(t.Context())
	if !errors.Is(err, restclient.ErrUnauthenticated) {
		t.Fatalf("Entities() error = %v, want ErrUnauthenticated", err)
	}
	if got := len(f.recorded()); got != 2 {
		t.Errorf("v1 calls = %d, want 2 (one retry)", got)
	}
	if got := f.tokenRequests(); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
}

func TestWrongCredentials(t *testing.T) {
	f := newFakeAPI(t, okEntities)
	c := restclient.New(f.srv.URL, "alice", "wrong")
	_, err := c.Entities(t.Context())
	var apiErr *restclient.APIError
	if !errors.As(err, &apiErr) || !errors.Is(err, restclient.ErrUnauthenticated) {
		t.Fatalf("Entities() error = %v, want an APIError matching ErrUnauthenticated", err)
	}
	if apiErr.Status != 401 || apiErr.Code != 53000011 || apiErr.Message != "invalid client credentials" {
		t.Errorf("APIError = %+v", apiErr)
	}
	if got := len(f.recorded()); got != 0 {
		t.Errorf("v1 calls = %d, want 0", got)
	}
}

func TestConcurrentCallsShareOneToken(t *testing.T) {
	f := newFakeAPI(t, okEntities)
	c := f.client()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := c.Entities(t.Context())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Entities() error = %v", err)
		}
	}
	if got := f.tokenRequests(); got != 1 {
		t.Errorf("token requests = %d, want 1", got)
	}
}

func TestRequestSendsHeadersAndReadsSequence(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Entityconn-Sequence", "12")
		writeJSON(w, http.StatusOK, map[string]any{"id": "6f1c0000-0000-4000-8000-000000000001", "success": true})
	})
	c := f.client(restclient.WithEntity("global"), restclient.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}))
	res, err := c.Request(t.Context(), "eu", restclient.IdempotencyKey("idem-1"), restclient.TrackID("track-1"))
	if err != nil {
		t.Fatalf("Request() error = %v", err)
	}
	if want := (restclient.Result{ID: "6f1c0000-0000-4000-8000-000000000001", Sequence: 12}); res != want {
		t.Errorf("Request() = %+v, want %+v", res, want)
	}
	r := f.recorded()[0]
	for h, want := range map[string]string{
		"Authorization":    "Bearer tok-1",
		"Zuora-Entity-Ids": "global",
		"Idempotency-Key":  "idem-1",
		"Zuora-Track-Id":   "track-1",
		"Content-Type":     "application/json",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if r.Method != http.MethodPost || r.Path != "/v1/entity-connections" || r.Body != `{"targetEntityId":"eu"}` {
		t.Errorf("request = %s %s %s", r.Method, r.Path, r.Body)
	}
}

func TestNoOptionalHeadersWhenNotGiven(t *testing.T) {
	f := newFakeAPI(t, okEntities)
	if _, err := f.client().Entities(t.Context()); err != nil {
		t.Fatalf("Entities() error = %v", err)
	}
	for _, h := range []string{"Zuora-Entity-Ids", "Idempotency-Key", "Zuora-Track-Id"} {
		if got, ok := f.recorded()[0].Header[h]; ok {
			t.Errorf("header %s = %q, want none", h, got)
		}
	}
}

func TestCommands(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Entityconn-Sequence", "13")
		writeJSON(w, http.StatusOK, map[string]any{"success": true})
	})
	c := f.client(restclient.WithEntity("eu"))
	const id = "6f1c0000-0000-4000-8000-000000000001"
	tests := []struct {
		name     string
		call     func() (restclient.Result, error)
		wantPath string
		wantBody string
	}{
		{"accept", func() (restclient.Result, error) { return c.Accept(t.Context(), id) }, "/accept", ""},
		{"cancel", func() (restclient.Result, error) { return c.Cancel(t.Context(), id) }, "/cancel", ""},
		{"deny without reason", func() (restclient.Result, error) { return c.Deny(t.Context(), id, "") }, "/deny", ""},
		{"deny with reason", func() (restclient.Result, error) { return c.Deny(t.Context(), id, "not now") }, "/deny", `{"reason":"not now"}`},
		{"disconnect without reason", func() (restclient.Result, error) { return c.Disconnect(t.Context(), id, "") }, "/disconnect", ""},
		{"disconnect with reason", func() (restclient.Result, error) {
			return c.Disconnect(t.Context(), id, "audit", restclient.TrackID("t-9"))
		}, "/disconnect", `{"reason":"audit"}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.call()
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if res != (restclient.Result{ID: id, Sequence: 13}) {
				t.Errorf("result = %+v, want {%s 13}", res, id)
			}
			r := f.recorded()[i]
			if r.Method != http.MethodPut || r.Path != "/v1/entity-connections/"+id+tt.wantPath || r.Body != tt.wantBody {
				t.Errorf("request = %s %s %q, want PUT %s %q", r.Method, r.Path, r.Body, tt.wantPath, tt.wantBody)
			}
			if _, ok := r.Header["Content-Type"]; ok != (tt.wantBody != "") {
				t.Errorf("Content-Type sent = %v, want %v", ok, tt.wantBody != "")
			}
		})
	}
}

func TestEmptyIDsAreRefusedWithoutACall(t *testing.T) {
	f := newFakeAPI(t, okEntities)
	c := f.client()
	for name, call := range map[string]func() error{
		"request": func() error { _, err := c.Request(t.Context(), ""); return err },
		"accept":  func() error { _, err := c.Accept(t.Context(), ""); return err },
		"get":     func() error { _, err := c.Get(t.Context(), "", 0); return err },
	} {
		if err := call(); !errors.Is(err, restclient.ErrMissing) {
			t.Errorf("%s(\"\") error = %v, want ErrMissing", name, err)
		}
	}
	if f.tokenRequests() != 0 || len(f.recorded()) != 0 {
		t.Errorf("requests were sent")
	}
}

func TestErrorResponses(t *testing.T) {
	sentinels := []error{
		restclient.ErrPermission, restclient.ErrUnauthenticated, restclient.ErrInvalid, restclient.ErrMissing,
		restclient.ErrRuleViolation, restclient.ErrNotFound, restclient.ErrConflict, restclient.ErrOverLimit, restclient.ErrUnavailable,
	}
	long := strings.Repeat("x", 150) + strings.Repeat("é", 100)
	tests := []struct {
		name  string
		reply func(w http.ResponseWriter)
		want  restclient.APIError
		is    []error // the sentinels it matches; it must match no other
		text  string
	}{
		{
			name:  "rule violation",
			reply: func(w http.ResponseWriter) { zuoraError(w, 409, 53000030, "connection is not pending") },
			want:  restclient.APIError{Status: 409, Code: 53000030, Message: "connection is not pending", ProcessID: "proc-1", TrackID: "t-1"},
			is:    []error{restclient.ErrRuleViolation},
			text:  "connection is not pending (HTTP 409, code 53000030)",
		},
		{
			name:  "conflict",
			reply: func(w http.ResponseWriter) { zuoraError(w, 409, 53000050, "idempotency key in flight") },
			want:  restclient.APIError{Status: 409, Code: 53000050, Message: "idempotency key in flight", ProcessID: "proc-1", TrackID: "t-1"},
			is:    []error{restclient.ErrConflict},
		},
		{
			name:  "not found",
			reply: func(w http.ResponseWriter) { zuoraError(w, 404, 53000040, "no such connection") },
			want:  restclient.APIError{Status: 404, Code: 53000040, Message: "no such connection", ProcessID: "proc-1", TrackID: "t-1"},
			is:    []error{restclient.ErrNotFound},
		},
		{
			name:  "permission",
			reply: func(w http.ResponseWriter) { zuoraError(w, 403, 53000010, "not an admin") },
			want:  restclient.APIError{Status: 403, Code: 53000010, Message: "not an admin", ProcessID: "proc-1", TrackID: "t-1"},
			is:    []error{restclient.ErrPermission},
		},
		{
			name:  "several reasons",
			reply: func(w http.ResponseWriter) { zuoraError(w, 400, 53000020, "bad target", "bad page") },
			want:  restclient.APIError{Status: 400, Code: 53000020, Message: "bad target; bad page", ProcessID: "proc-1", TrackID: "t-1"},
			is:    []error{restclient.ErrInvalid},
			text:  "bad target; bad page (HTTP 400, code 53000020)",
		},
		{
			name:  "over a limit",
			reply: func(w http.ResponseWriter) { zuoraError(w, 429, 53000070, "too many token requests") },
			want:  restclient.APIError{Status: 429, Code: 53000070, Message: "too many token requests", ProcessID: "proc-1", TrackID: "t-1"},
			is:    []error{restclient.ErrOverLimit},
		},
		{
			name:  "missing value",
			reply: func(w http.ResponseWriter) { zuoraError(w, 400, 53000022, "Zuora-Entity-Ids is required") },
			want:  restclient.APIError{Status: 400, Code: 53000022, Message: "Zuora-Entity-Ids is required", ProcessID: "proc-1", TrackID: "t-1"},
			is:    []error{restclient.ErrMissing},
		},
		{
			name:  "unavailable with a code",
			reply: func(w http.ResponseWriter) { zuoraError(w, 503, 53000061, "views not caught up") },
			want:  restclient.APIError{Status: 503, Code: 53000061, Message: "views not caught up", ProcessID: "proc-1", TrackID: "t-1"},
			is:    []error{restclient.ErrUnavailable},
		},
		{
			name: "not a Zuora body",
			reply: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(502)
				_, _ = io.WriteString(w, "  "+long)
			},
			// 200 bytes of body: 2 spaces, 150 x, 24 é (48 bytes), trimmed.
			want: restclient.APIError{Status: 502, Message: strings.Repeat("x", 150) + strings.Repeat("é", 24), TrackID: "t-1"},
			is:   nil,
		},
		{
			name:  "503 from a proxy",
			reply: func(w http.ResponseWriter) { http.Error(w, "upstream down", http.StatusServiceUnavailable) },
			want:  restclient.APIError{Status: 503, Message: "upstream down", TrackID: "t-1"},
			is:    []error{restclient.ErrUnavailable},
			text:  "upstream down (HTTP 503)",
		},
		{
			name:  "bare 404",
			reply: func(w http.ResponseWriter) { w.WriteHeader(404) },
			want:  restclient.APIError{Status: 404, TrackID: "t-1"},
			is:    []error{restclient.ErrNotFound},
			text:  "Not Found (HTTP 404)",
		},
		{
			name: "200 with success false",
			reply: func(w http.ResponseWriter) {
				zuoraError(w, 200, 53000030, "refused")
			},
			want: restclient.APIError{Status: 200, Code: 53000030, Message: "refused", ProcessID: "proc-1", TrackID: "t-1"},
			is:   []error{restclient.ErrRuleViolation},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) { tt.reply(w) })
			_, err := f.client().Accept(t.Context(), "c-1", restclient.TrackID("t-1"))
			var apiErr *restclient.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("Accept() error = %v (%T), want *APIError", err, err)
			}
			if *apiErr != tt.want {
				t.Errorf("APIError = %+v, want %+v", *apiErr, tt.want)
			}
			if got, want := apiErr.Category(), tt.want.Code%100; got != want {
				t.Errorf("Category() = %d, want %d", got, want)
			}
			for _, s := range sentinels {
				want := false
				for _, w := range tt.is {
					want = want || w == s
				}
				if got := errors.Is(err, s); got != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v", s, got, want)
				}
			}
			if tt.text != "" && err.Error() != tt.text {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.text)
			}
		})
	}
}

func TestListSendsFiltersAndParsesItems(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"entityConnections":[{"id":"c-2","sourceEntityId":"global","targetEntityId":"eu",
			"status":"Pending","requestedBy":"alice","requestedAt":"2026-11-27T10:00:00.123Z","updatedAt":"2026-11-27T10:05:00Z"}],
			"nextPage":"/v1/entity-connections?page=3&pageSize=1","success":true}`)
	})
	page, err := f.client(restclient.WithEntity("global")).List(t.Context(), restclient.ListOptions{
		Type: "outbound", Status: "Pending", Page: 2, PageSize: 1, MinSequence: 40,
	})
	if err != nil {
		t.Fatalf("List() error = %v", err)
	}
	want := restclient.Connection{
		ID: "c-2", SourceEntityID: "global", TargetEntityID: "eu", Status: "Pending", RequestedBy: "alice",
		RequestedAt: time.Date(2026, 11, 27, 10, 0, 0, 123e6, time.UTC), UpdatedAt: time.Date(2026, 11, 27, 10, 5, 0, 0, time.UTC),
	}
	if len(page.Items) != 1 || !page.Items[0].RequestedAt.Equal(want.RequestedAt) || !page.Items[0].UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("List() items = %+v, want [%+v]", page.Items, want)
	}
	if page.NextPage != "/v1/entity-connections?page=3&pageSize=1" {
		t.Errorf("NextPage = %q", page.NextPage)
	}
	q, _ := url.ParseQuery(f.recorded()[0].RawQuery)
	wantQ := url.Values{"type": {"outbound"}, "status": {"Pending"}, "page": {"2"}, "pageSize": {"1"}, "minSequence": {"40"}}
	if q.Encode() != wantQ.Encode() {
		t.Errorf("query = %v, want %v", q, wantQ)
	}
}

func TestListWithoutOptionsSendsNoQueryAndEmptyItems(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"entityConnections":[],"success":true}`)
	})
	page, err := f.client().List(t.Context(), restclient.ListOptions{})
	if err != nil {
		t.Fatalf("List() error = %v", err)
	}
	if page.Items == nil || len(page.Items) != 0 || page.NextPage != "" {
		t.Errorf("List() = %+v, want empty non-nil items and no next page", page)
	}
	if q := f.recorded()[0].RawQuery; q != "" {
		t.Errorf("query = %q, want none", q)
	}
}

// pagedHandler serves n connections, size per page, with absolute nextPage URLs built by next.
func pagedHandler(n, size int, next func(page int) string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		page := 1
		if p := r.URL.Query().Get("page"); p != "" {
			_, _ = fmt.Sscan(p, &page)
		}
		items := []map[string]any{}
		for i := (page - 1) * size; i < min(page*size, n); i++ {
			items = append(items, map[string]any{"id": fmt.Sprintf("c-%d", i), "sourceEntityId": "global",
				"targetEntityId": "eu", "status": "Cancelled", "requestedBy": "alice",
				"requestedAt": "2026-11-27T10:00:00Z", "updatedAt": "2026-11-27T10:00:00Z"})
		}
		body := map[string]any{"entityConnections": items, "success": true}
		if page*size < n {
			body["nextPage"] = next(page + 1)
		}
		writeJSON(w, http.StatusOK, body)
	}
}

func TestListAllFollowsNextPage(t *testing.T) {
	var f *fakeAPI
	f = newFakeAPI(t, pagedHandler(5, 2, func(p int) string {
		return fmt.Sprintf("%s/v1/entity-connections?type=outbound&page=%d&pageSize=2", f.srv.URL, p)
	}))
	all, err := f.client(restclient.WithEntity("global")).ListAll(t.Context(), restclient.ListOptions{Type: "outbound", PageSize: 2})
	if err != nil {
		t.Fatalf("ListAll() error = %v", err)
	}
	var ids []string
	for _, c := range all {
		ids = append(ids, c.ID)
	}
	if got := strings.Join(ids, ","); got != "c-0,c-1,c-2,c-3,c-4" {
		t.Errorf("ListAll() ids = %s, want c-0..c-4", got)
	}
	calls := f.recorded()
	if len(calls) != 3 {
		t.Fatalf("calls = %d, want 3", len(calls))
	}
	for i, r := range calls {
		if r.Header.Get("Authorization") != "Bearer tok-1" || r.Header.Get("Zuora-Entity-Ids") != "global" {
			t.Errorf("page %d headers = %v", i+1, r.Header)
		}
	}
	if calls[2].RawQuery != "type=outbound&page=3&pageSize=2" {
		t.Errorf("third query = %q", calls[2].RawQuery)
	}
}

func TestListAllKeepsTheTokenOnTheConfiguredHost(t *testing.T) {
	f := newFakeAPI(t, pagedHandler(3, 2, func(p int) string {
		return fmt.Sprintf("http://internal.invalid:9999/v1/entity-connections?page=%d&pageSize=2", p)
	}))
	all, err := f.client().ListAll(t.Context(), restclient.ListOptions{PageSize: 2})
	if err != nil {
		t.Fatalf("ListAll() error = %v", err)
	}
	if len(all) != 3 {
		t.Errorf("ListAll() = %d items, want 3", len(all))
	}
}

func TestListAllStopsOnARepeatedPage(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"entityConnections": []any{}, "nextPage": "/v1/entity-connections?page=2", "success": true})
	})
	if _, err := f.client().ListAll(t.Context(), restclient.ListOptions{}); err == nil {
		t.Fatal("ListAll() error = nil, want an error for a nextPage loop")
	}
	if got := len(f.recorded()); got != 2 {
		t.Errorf("calls = %d, want 2 (the first page, then page 2 once)", got)
	}
}

func TestGetParsesDetail(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"id":"c/1","sourceEntityId":"global","targetEntityId":"eu","status":"Denied",
			"requestedBy":"alice","requestedAt":"2026-11-27T10:00:00Z","updatedAt":"2026-11-27T11:00:00Z",
			"history":[{"type":"ConnectionRequested","at":"2026-11-27T10:00:00Z","actorUserId":"alice","actorEntityId":"global"},
			{"type":"ConnectionDenied","at":"2026-11-27T11:00:00.5Z","actorUserId":"bob","actorEntityId":"eu","reason":"no"}],"success":true}`)
	})
	d, err := f.client().Get(t.Context(), "c/1", 99)
	if err != nil {
		t.Fatalf("Get() error = %v", err)
	}
	if d.ID != "c/1" || d.Status != "Denied" || len(d.History) != 2 {
		t.Fatalf("Get() = %+v", d)
	}
	h := d.History[1]
	if h.Type != "ConnectionDenied" || h.ActorUserID != "bob" || h.ActorEntityID != "eu" || h.Reason != "no" ||
		!h.At.Equal(time.Date(2026, 11, 27, 11, 0, 0, 5e8, time.UTC)) {
		t.Errorf("History[1] = %+v", h)
	}
	r := f.recorded()[0]
	if r.Path != "/v1/entity-connections/c%2F1" || r.RawQuery != "minSequence=99" {
		t.Errorf("request = %s?%s", r.Path, r.RawQuery)
	}
	if r.Method != http.MethodGet {
		t.Errorf("method = %s", r.Method)
	}
}

func TestTransportErrorIsNotAnAPIError(t *testing.T) {
	f := newFakeAPI(t, okEntities)
	f.srv.Close()
	_, err := f.client().Entities(t.Context())
	var apiErr *restclient.APIError
	if err == nil || errors.As(err, &apiErr) {
		t.Fatalf("Entities() error = %v, want a transport error", err)
	}
}
