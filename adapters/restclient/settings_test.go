package restclient_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/httpapi"
	"github.com/entityconn/entityconn/adapters/restclient"
)

// What the settings calls and the as-of options send, and how the answers are read.
func TestSettingsAndAsOfSendTheirRequests(t *testing.T) {
	f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/entity-sharing-settings":
			_, _ = io.WriteString(w, `{"autoAcceptFrom":["global","us"],"success":true}`)
		case r.Method == http.MethodPut && r.URL.Path == "/v1/entity-sharing-settings":
			w.Header().Set("Entityconn-Sequence", "31")
			_, _ = io.WriteString(w, `{"success":true}`)
		case r.Method == http.MethodPost:
			w.Header().Set("Entityconn-Sequence", "33")
			_, _ = io.WriteString(w, `{"id":"c-1","status":"Connected","success":true}`)
		case r.URL.Path == "/v1/entity-connections/c-1":
			_, _ = io.WriteString(w, `{"id":"c-1","status":"Pending","history":[],"success":true}`)
		case r.URL.Path == "/v1/shared-objects":
			_, _ = io.WriteString(w, `{"sharedObjects":[],"success":true}`)
		default:
			_, _ = io.WriteString(w, `{"entityConnections":[],"success":true}`)
		}
	})
	c := f.client(restclient.WithEntity("eu"))
	ctx := t.Context()
	if got, err := c.SharingSettings(ctx); err != nil || fmt.Sprint(got) != "[global us]" {
		t.Errorf("SharingSettings = %v, %v; want [global us]", got, err)
	}
	if res, err := c.SetSharingSettings(ctx, []string{"*"}, restclient.IdempotencyKey("k-1")); err != nil || res != (restclient.Result{Sequence: 31}) {
		t.Errorf("SetSharingSettings([*]) = %+v, %v; want sequence 31 only", res, err)
	}
	if _, err := c.SetSharingSettings(ctx, nil); err != nil {
		t.Errorf("SetSharingSettings(nil) = %v", err)
	}
	if res, err := c.Request(ctx, "us"); err != nil || res != (restclient.Result{ID: "c-1", Sequence: 33, Status: "Connected"}) {
		t.Errorf("Request = %+v, %v; want c-1, sequence 33, Connected", res, err)
	}
	at := time.Date(2026, 11, 27, 11, 0, 0, 5e8, time.FixedZone("CET", 3600))
	if d, err := c.GetAsOf(ctx, "c-1", at); err != nil || d.Status != "Pending" || d.History == nil {
		t.Errorf("GetAsOf = %+v, %v", d, err)
	}
	if _, err := c.GetAsOf(ctx, "c-1", time.Time{}); err != nil {
		t.Errorf("GetAsOf(zero) = %v", err)
	}
	if _, err := c.List(ctx, restclient.ListOptions{Type: "inbound", AsOf: at}); err != nil {
		t.Errorf("List = %v", err)
	}
	if _, err := c.SharedObjects(ctx, restclient.SharedOptions{AsOf: at}); err != nil {
		t.Errorf("SharedObjects = %v", err)
	}
	const asOf = "asOf=2026-11-27T10%3A00%3A00.5Z"
	want := []struct{ method, path, query, body string }{
		{"GET", "/v1/entity-sharing-settings", "", ""},
		{"PUT", "/v1/entity-sharing-settings", "", `{"autoAcceptFrom":["*"]}`},
		{"PUT", "/v1/entity-sharing-settings", "", `{"autoAcceptFrom":[]}`},
		{"POST", "/v1/entity-connections", "", `{"targetEntityId":"us"}`},
		{"GET", "/v1/entity-connections/c-1", asOf, ""},
		{"GET", "/v1/entity-connections/c-1", "", ""},
		{"GET", "/v1/entity-connections", asOf + "&type=inbound", ""},
		{"GET", "/v1/shared-objects", asOf, ""},
	}
	calls := f.recorded()
	if len(calls) != len(want) {
		t.Fatalf("%d calls, want %d", len(calls), len(want))
	}
	for i, w := range want {
		r := calls[i]
		if r.Method != w.method || r.Path != w.path || r.RawQuery != w.query || r.Body != w.body || r.Header.Get("Zuora-Entity-Ids") != "eu" {
			t.Errorf("call %d = %s %s?%s %q, want %s %s?%s %q in eu", i, r.Method, r.Path, r.RawQuery, r.Body, w.method, w.path, w.query, w.body)
		}
	}
	if calls[1].Header.Get("Idempotency-Key") != "k-1" {
		t.Errorf("SetSharingSettings without its idempotency key: %v", calls[1].Header)
	}
}

// realAPI serves the REST API of a real stack (apptest.Directory: root, eve, viv, sam).
func realAPI(t *testing.T) string {
	t.Helper()
	st := apptest.Start(t)
	api := httpapi.New(httpapi.Config{Service: st.Service, Tokens: httpapi.NewTokens([]byte("test-signing-key-of-32-bytes...."), nil), Directory: st.Directory})
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		api.CloseStreams()
		srv.Close()
	})
	return srv.URL
}

// The settings, the request's status and the as-of reads against the real API: who may,
// what is refused, and the state at instants between the events.
func TestSettingsAndAsOfOnTheRealAPI(t *testing.T) {
	base := realAPI(t)
	as := func(user, entity string) *restclient.Client {
		return restclient.New(base, user, user+"-secret", restclient.WithEntity(entity))
	}
	root, eve, viv := as("root", "global"), as("eve", "eu"), as("viv", "eu")
	ctx := t.Context()

	if got, err := viv.SharingSettings(ctx); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("SharingSettings never set = %#v, %v; want an empty, non-nil slice", got, err)
	}
	for name, err := range map[string]error{
		"a user, not an admin":  func() error { _, err := viv.SetSharingSettings(ctx, []string{"global"}); return err }(),
		"a user without access": func() error { _, err := as("sam", "eu").SharingSettings(ctx); return err }(),
	} {
		var e *restclient.APIError
		if !errors.Is(err, restclient.ErrPermission) || !errors.As(err, &e) || e.Status != http.StatusForbidden {
			t.Errorf("%s = %v, want ErrPermission (403)", name, err)
		}
	}
	if _, err := eve.SetSharingSettings(ctx, []string{"eu"}); !errors.Is(err, restclient.ErrInvalid) {
		t.Errorf("SetSharingSettings naming the acting entity = %v, want ErrInvalid", err)
	}

	t0 := time.Now()
	time.Sleep(20 * time.Millisecond)
	set, err := eve.SetSharingSettings(ctx, []string{"global"})
	if err != nil || set.Sequence == 0 {
		t.Fatalf("SetSharingSettings([global]) = %+v, %v", set, err)
	}
	if got, err := viv.SharingSettings(ctx); err != nil || fmt.Sprint(got) != "[global]" {
		t.Fatalf("SharingSettings = %v, %v; want [global]", got, err)
	}
	res, err := root.Request(ctx, "eu")
	if err != nil || res.Status != "Connected" {
		t.Fatalf("Request from an allowed source = %+v, %v; want Connected", res, err)
	}
	if other, err := as("root", "us").Request(ctx, "eu"); err != nil || other.Status != "Pending" {
		t.Errorf("Request from another source = %+v, %v; want Pending", other, err)
	}
	time.Sleep(20 * time.Millisecond)
	t1 := time.Now()
	time.Sleep(20 * time.Millisecond)
	end, err := root.Disconnect(ctx, res.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Get(ctx, res.ID, end.Sequence); err != nil {
		t.Fatal(err)
	}

	if _, err := eve.GetAsOf(ctx, res.ID, t0); !errors.Is(err, restclient.ErrNotFound) {
		t.Errorf("GetAsOf before the request = %v, want ErrNotFound", err)
	}
	d, err := eve.GetAsOf(ctx, res.ID, t1)
	if err != nil || d.Status != "Connected" || len(d.History) != 2 || d.History[1].ActorUserID != "system:auto-accept" {
		t.Errorf("GetAsOf between the acceptance and the end = %+v, %v; want Connected, accepted by system:auto-accept", d, err)
	}
	if now, err := eve.GetAsOf(ctx, res.ID, time.Time{}); err != nil || now.Status != "Disconnected" {
		t.Errorf("GetAsOf(zero) = %+v, %v; want Disconnected", now, err)
	}
	if page, err := root.List(ctx, restclient.ListOptions{Type: "outbound", AsOf: t1}); err != nil || len(page.Items) != 1 || page.Items[0].Status != "Connected" {
		t.Errorf("List as of t1 = %+v, %v; want one Connected", page, err)
	}
	if page, err := root.List(ctx, restclient.ListOptions{Type: "outbound", AsOf: t0}); err != nil || len(page.Items) != 0 {
		t.Errorf("List as of t0 = %+v, %v; want none", page, err)
	}
	future := time.Now().Add(time.Hour)
	for name, call := range map[string]func() error{
		"List":          func() error { _, err := root.List(ctx, restclient.ListOptions{AsOf: future}); return err },
		"GetAsOf":       func() error { _, err := root.GetAsOf(ctx, res.ID, future); return err },
		"SharedObjects": func() error { _, err := root.SharedObjects(ctx, restclient.SharedOptions{AsOf: future}); return err },
	} {
		if err := call(); !errors.Is(err, restclient.ErrInvalid) {
			t.Errorf("%s in the future = %v, want ErrInvalid", name, err)
		}
	}
}
