package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/httpapi"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

func TestWalkthrough(t *testing.T) {
	t.Parallel()
	s := startService(t)
	root, eve := s.token("root"), s.token("eve")

	req := must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`, "Zuora-Track-Id", "walk-1"), 200)
	if req.Header.Get("Zuora-Track-Id") != "walk-1" || req.Body["success"] != true {
		t.Errorf("request response = %v, track id %q; want success and the track id echoed", req.Body, req.Header.Get("Zuora-Track-Id"))
	}
	id := str(req.Body["id"])

	// Read your writes: the inbound list of eu shows the request.
	in := must(t, s.call("GET", "/v1/entity-connections?type=inbound&minSequence="+seqOf(t, req), eve, "eu", ""), 200)
	items := in.Body["entityConnections"].([]any)
	if len(items) != 1 || str(items[0].(map[string]any)["status"]) != "Pending" || str(items[0].(map[string]any)["requestedBy"]) != "root" {
		t.Fatalf("eu inbound = %s, want one Pending request by root", in.Raw)
	}

	acc := must(t, s.call("PUT", "/v1/entity-connections/"+id+"/accept", eve, "eu", ""), 200)
	seq := seqOf(t, acc)
	for _, q := range []struct{ token, entity, typ string }{{root, "global", "outbound"}, {eve, "eu", "inbound"}} {
		l := must(t, s.call("GET", "/v1/entity-connections?type="+q.typ+"&minSequence="+seq, q.token, q.entity, ""), 200)
		items := l.Body["entityConnections"].([]any)
		if len(items) != 1 || str(items[0].(map[string]any)["status"]) != "Connected" {
			t.Errorf("%s %s = %s, want one Connected", q.entity, q.typ, l.Raw)
		}
	}
	// The other direction is empty: connections are directional.
	if l := must(t, s.call("GET", "/v1/entity-connections?type=outbound&minSequence="+seq, eve, "eu", ""), 200); len(l.Body["entityConnections"].([]any)) != 0 {
		t.Errorf("eu outbound = %s, want empty", l.Raw)
	}

	must(t, s.call("PUT", "/v1/entity-connections/"+id+"/disconnect", eve, "eu", `{"reason":"contract ended"}`), 200)
	got := must(t, s.call("GET", "/v1/entity-connections/"+id, root, "global", ""), 200)
	hist := got.Body["history"].([]any)
	var types []string
	for _, h := range hist {
		types = append(types, str(h.(map[string]any)["type"])+"/"+str(h.(map[string]any)["actorUserId"]))
	}
	if got.Body["status"] != "Disconnected" || strings.Join(types, ",") != "ConnectionRequested/root,ConnectionAccepted/eve,ConnectionDisconnected/eve" {
		t.Errorf("GET %s = status %v, history %v", id, got.Body["status"], types)
	}
	if r := hist[2].(map[string]any)["reason"]; r != "contract ended" {
		t.Errorf("disconnect reason = %v, want %q", r, "contract ended")
	}

	// A request after a terminal state makes a new connection (rule 2).
	again := must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`), 200)
	if again.Body["id"] == id {
		t.Error("a request after Disconnected reused the old connection id")
	}
	// Entities of a user.
	ents := must(t, s.call("GET", "/v1/entities", root, "", ""), 200)
	if n := len(ents.Body["entities"].([]any)); n != 4 {
		t.Errorf("GET /v1/entities for root = %d entities, want 4: %s", n, ents.Raw)
	}
}

func TestDuplicateRequestIsAConflict(t *testing.T) {
	t.Parallel()
	s := startService(t)
	root := s.token("root")
	must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`), 200)
	r := must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`), 409)
	if r.reasonCode() != 53000030 || r.Body["success"] != false || r.Body["processId"] == "" {
		t.Errorf("duplicate request body = %s, want Zuora rule-violation error 53000030", r.Raw)
	}
	// The reverse direction is a different connection.
	must(t, s.call("POST", "/v1/entity-connections", root, "eu", `{"targetEntityId":"global"}`), 200)
}

func TestConcurrentConflictingRequests(t *testing.T) {
	t.Parallel()
	s := startService(t)
	root := s.token("root")
	const n = 200
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes[i] = s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`).Status
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[200] != 1 || count[409] != n-1 {
		t.Errorf("%d concurrent requests for one pair: %v, want exactly one 200 and %d 409", n, count, n-1)
	}
	if got := eventCount(t, s.js(), "entityconn.events.global.eu.>"); got != 1 {
		t.Errorf("events stored for global→eu = %d, want 1", got)
	}
	l := must(t, s.call("GET", "/v1/entity-connections?status=Pending&minSequence=1", root, "global", ""), 200)
	if len(l.Body["entityConnections"].([]any)) != 1 {
		t.Errorf("Pending connections = %s, want exactly one", l.Raw)
	}
}

func TestTwoInstancesOnOneNATS(t *testing.T) {
	t.Parallel()
	_, url := natsjstest.Single(t)
	a := startService(t, "--nats-url", url)
	b := startService(t, "--nats-url", url)
	ta, tb := a.token("root"), b.token("root") // one signing key: tokens work on both
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := map[string]int{}
	for i := range 40 {
		wg.Go(func() {
			s, tok := a, ta
			if i%2 == 1 {
				s, tok = b, tb
			}
			target := []string{"eu", "us"}[i%4/2]
			r := s.call("POST", "/v1/entity-connections", tok, "global", fmt.Sprintf(`{"targetEntityId":%q}`, target))
			mu.Lock()
			defer mu.Unlock()
			if r.Status == 200 {
				ok[target]++
			} else if r.Status != 409 {
				t.Errorf("request: %d %s", r.Status, r.Raw)
			}
		})
	}
	wg.Wait()
	if ok["eu"] != 1 || ok["us"] != 1 {
		t.Errorf("accepted requests across two instances = %v, want one per pair", ok)
	}
	// Each instance sees the views the (single) projector wrote, and the same answers.
	for _, s := range []*service{a, b} {
		eventually(t, "both connections listed", func() bool {
			l := s.call("GET", "/v1/entity-connections?type=outbound", ta, "global", "")
			return l.Status == 200 && len(l.Body["entityConnections"].([]any)) == 2
		})
	}
	// A command on one instance for a connection requested through the other.
	l := must(t, a.call("GET", "/v1/entity-connections?type=inbound", ta, "eu", ""), 200)
	id := str(l.Body["entityConnections"].([]any)[0].(map[string]any)["id"])
	acc := must(t, b.call("PUT", "/v1/entity-connections/"+id+"/accept", b.token("eve"), "eu", ""), 200)
	got := must(t, a.call("GET", "/v1/entity-connections?type=outbound&status=Connected&minSequence="+seqOf(t, acc), ta, "global", ""), 200)
	if len(got.Body["entityConnections"].([]any)) != 1 {
		t.Errorf("instance a after accept on b = %s, want one Connected", got.Raw)
	}
}

func TestRestartKeepsViews(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	s := startService(t, "--data", data)
	root, eve := s.token("root"), s.token("eve")
	id := str(must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`), 200).Body["id"])
	must(t, s.call("PUT", "/v1/entity-connections/"+id+"/accept", eve, "eu", ""), 200)
	seq := seqOf(t, must(t, s.call("POST", "/v1/entity-connections", root, "us", `{"targetEntityId":"global"}`), 200))
	before := must(t, s.call("GET", "/v1/entity-connections?minSequence="+seq, root, "global", ""), 200).Raw
	if code := s.stop(); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	// Stopping saved the list index for the next start.
	if _, err := os.Stat(filepath.Join(data, "list-index.snapshot")); err != nil {
		t.Fatalf("no list index snapshot after a clean stop: %v", err)
	}

	s2 := startService(t, "--data", data)
	root = s2.token("root") // the signing key survived too, but get a fresh one anyway
	after := must(t, s2.call("GET", "/v1/entity-connections?minSequence="+seq, root, "global", ""), 200).Raw
	if before != after {
		t.Errorf("views after restart differ:\nbefore %s\nafter  %s", before, after)
	}
	seq = seqOf(t, must(t, s2.call("PUT", "/v1/entity-connections/"+id+"/disconnect", root, "global", ""), 200))
	l := must(t, s2.call("GET", "/v1/entity-connections?type=outbound&minSequence="+seq, root, "global", ""), 200).Body["entityConnections"].([]any)
	if len(l) != 1 || l[0].(map[string]any)["status"] != "Disconnected" {
		t.Errorf("after the disconnect, global's outbound list is %v", l)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	s := startService(t)
	root := s.token("root")
	first := must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`, "Idempotency-Key", "k-1"), 200)
	again := must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`, "Idempotency-Key", "k-1"), 200)
	if again.Raw != first.Raw || again.Header.Get("Idempotent-Replayed") != "true" || seqOf(t, again) != seqOf(t, first) {
		t.Errorf("replay = %s (%v), want the first response %s replayed", again.Raw, again.Header, first.Raw)
	}
	other := s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"us"}`, "Idempotency-Key", "k-1")
	must(t, other, 422)
	path := s.call("POST", "/v1/entity-connections", root, "eu", `{"targetEntityId":"us"}`, "Idempotency-Key", "k-1")
	must(t, path, 422)
	// Errors are first outcomes too: a refused command replays its refusal.
	must(t, s.call("PUT", "/v1/entity-connections/"+str(first.Body["id"])+"/cancel", root, "eu", "", "Idempotency-Key", "k-2"), 403)
	must(t, s.call("PUT", "/v1/entity-connections/"+str(first.Body["id"])+"/cancel", root, "eu", "", "Idempotency-Key", "k-2"), 403)

	// A key held by another request with another body is refused as reused, at once (it
	// does not wait for the other request).
	js := s.js()
	r, err := natsjs.Setup(context.Background(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := natsjs.NewOutcomes(r).Begin(t.Context(), app.CommandID{Door: app.DoorREST}.Scope("root"), "k-busy", "held by another request"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"us"}`, "Idempotency-Key", "k-busy"), 422)
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("a key held for another request was answered after %v, want at once", waited)
	}

	// Concurrent retries of one key: one event; every retry waits for the first attempt and
	// is answered with its outcome.
	before := eventCount(t, js, "")
	var wg sync.WaitGroup
	ids := make(chan string, 20)
	for range 20 {
		wg.Go(func() {
			r := s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"us"}`, "Idempotency-Key", "k-3")
			switch r.Status {
			case 200:
				ids <- str(r.Body["id"])
			default:
				t.Errorf("concurrent retry: %d %s", r.Status, r.Raw)
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 || eventCount(t, js, "") != before+1 {
		t.Errorf("20 concurrent retries: ids %v, events +%d; want one id and one event", seen, eventCount(t, js, "")-before)
	}
}

func TestMinSequenceTimesOut(t *testing.T) {
	t.Parallel()
	s := startService(t)
	start := time.Now()
	r := must(t, s.call("GET", "/v1/entity-connections?minSequence=999999", s.token("root"), "global", ""), 503)
	if time.Since(start) < 4*time.Second || r.Body["success"] != false {
		t.Errorf("minSequence in the future answered %s after %s, want 503 after about 5s", r.Raw, time.Since(start))
	}
	if r.reasonCode() != 53000061 || r.Header.Get("Retry-After") == "" {
		t.Errorf("503 = %s, Retry-After %q; want category 61 (temporarily unavailable) and a Retry-After", r.Raw, r.Header.Get("Retry-After"))
	}
}

func TestExpiryHappensOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	_, url := natsjstest.Single(t)
	a := startService(t, "--nats-url", url, "--pending-ttl", "1s")
	b := startService(t, "--nats-url", url, "--pending-ttl", "1s")
	root := a.token("root")
	id := str(must(t, a.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`), 200).Body["id"])
	eventually(t, "the request expires", func() bool {
		return b.call("GET", "/v1/entity-connections/"+id, root, "global", "").Body["status"] == "Expired"
	})
	time.Sleep(500 * time.Millisecond) // give the other replica its chance to expire it again
	nc := natsjstest.Connect(t, url)
	js := jsOf(t, nc)
	if n := eventCount(t, js, "entityconn.events.global.eu.ConnectionExpired"); n != 1 {
		t.Errorf("ConnectionExpired events = %d, want exactly 1", n)
	}
	// An expired request can be made again (rule 2) and accepting the old one is refused.
	must(t, a.call("PUT", "/v1/entity-connections/"+id+"/accept", a.token("eve"), "eu", ""), 409)
	must(t, a.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`), 200)
}

func TestMetricsCountCommands(t *testing.T) {
	t.Parallel()
	s := startService(t)
	root := s.token("root")
	must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`), 200)
	must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`), 409)
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = fmt.Fprint(&b, readAll(t, resp))
	m := b.String()
	for _, want := range []string{
		`entityconn_commands_total{command="RequestConnection",outcome="ok"} 1`,
		`entityconn_commands_total{command="RequestConnection",outcome="rule_violation"} 1`,
		`entityconn_projector_lag_seconds_count`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		must(t, s.call("GET", path, "", "", ""), 200)
	}
}

func TestDirectoryChangesApplyWithoutRestart(t *testing.T) {
	t.Parallel()
	s := startService(t)
	sam := s.token("sam")
	// sam is admin of us but has no access to eu.
	must(t, s.call("POST", "/v1/entity-connections", sam, "us", `{"targetEntityId":"eu"}`), 403)
	r, err := natsjs.Setup(context.Background(), s.js(), 1)
	if err != nil {
		t.Fatal(err)
	}
	granted := strings.Replace(testDirectory, "access: [{entity: us, role: admin}]", "access: [{entity: us, role: admin}, {entity: eu, role: user}]", 1)
	if _, changed, err := natsjs.NewDirectoryStore(r, nil).Import(t.Context(), []byte(granted)); err != nil || !changed {
		t.Fatalf("import: %v %v", changed, err)
	}
	eventually(t, "the new grant applies", func() bool {
		return s.call("POST", "/v1/entity-connections", sam, "us", `{"targetEntityId":"eu"}`).Status == 200
	})
	// And a revoked grant: sam loses us.
	revoked := strings.Replace(testDirectory, "access: [{entity: us, role: admin}]", "access: [{entity: eu, role: user}]", 1)
	if _, _, err := natsjs.NewDirectoryStore(r, nil).Import(t.Context(), []byte(revoked)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the revoked grant applies", func() bool {
		return s.call("POST", "/v1/entity-connections", sam, "us", `{"targetEntityId":"global"}`).Status == 403
	})
}

func TestTokens(t *testing.T) {
	t.Parallel()
	s := startService(t)
	must(t, s.call("GET", "/v1/entities", "", "", ""), 401)
	bad := s.call("POST", "/oauth/token", "", "", "")
	if bad.Status != 400 {
		t.Errorf("token without form = %d, want 400", bad.Status)
	}
	resp, err := http.PostForm(s.base+"/oauth/token", map[string][]string{"grant_type": {"client_credentials"}, "client_id": {"root"}, "client_secret": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("token with a wrong secret = %d, want 401", resp.StatusCode)
	}
	// A token scoped to eu cannot act in global.
	euOnly := s.token("root", "entity.eu")
	must(t, s.call("GET", "/v1/entity-connections", euOnly, "eu", ""), 200)
	must(t, s.call("GET", "/v1/entity-connections", euOnly, "global", ""), 403)
	// Expired and forged tokens.
	key := signingKey(t, s)
	expired := httpapi.NewTokens(key, func() time.Time { return time.Now().Add(-2 * time.Hour) }).Issue("root", nil)
	must(t, s.call("GET", "/v1/entities", expired, "", ""), 401)
	forged := httpapi.NewTokens([]byte("not the key"), nil).Issue("root", nil)
	must(t, s.call("GET", "/v1/entities", forged, "", ""), 401)
	// A user with one entity needs no Zuora-Entity-Ids; one with several does.
	must(t, s.call("GET", "/v1/entity-connections", s.token("eve"), "", ""), 200)
	if r := must(t, s.call("GET", "/v1/entity-connections", s.token("root"), "", ""), 400); r.reasonCode() != 53000022 {
		t.Errorf("missing Zuora-Entity-Ids = %s, want code 53000022", r.Raw)
	}
}

func TestListPagesAndFilters(t *testing.T) {
	t.Parallel()
	s := startService(t)
	root := s.token("root")
	for _, target := range []string{"eu", "us", "apac"} {
		must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"`+target+`"}`), 200)
	}
	seq := seqOf(t, must(t, s.call("POST", "/v1/entity-connections", root, "eu", `{"targetEntityId":"global"}`), 200))
	// Page through global's connections (three outbound, one inbound), two at a time.
	var ids []string
	next := "/v1/entity-connections?pageSize=2&minSequence=" + seq
	pages := 0
	for next != "" {
		r := must(t, s.call("GET", strings.TrimPrefix(next, s.base), root, "global", ""), 200)
		for _, it := range r.Body["entityConnections"].([]any) {
			ids = append(ids, str(it.(map[string]any)["targetEntityId"]))
		}
		next, _ = r.Body["nextPage"].(string)
		if next != "" && !strings.HasPrefix(next, "/v1/entity-connections?") {
			t.Fatalf("nextPage = %q, want a relative link (no --base-url)", next)
		}
		pages++
	}
	// Newest request first.
	if pages != 2 || strings.Join(ids, ",") != "global,apac,us,eu" {
		t.Errorf("pages = %d, targets in order = %v; want 2 pages: global, apac, us, eu", pages, ids)
	}
	out := must(t, s.call("GET", "/v1/entity-connections?type=outbound&status=pending", root, "global", ""), 200)
	if n := len(out.Body["entityConnections"].([]any)); n != 3 {
		t.Errorf("outbound Pending of global = %d, want 3 (status matched case-insensitively)", n)
	}
	in := must(t, s.call("GET", "/v1/entity-connections?type=inbound", root, "global", ""), 200)
	if n := len(in.Body["entityConnections"].([]any)); n != 1 {
		t.Errorf("inbound of global = %d, want 1", n)
	}
	if _, ok := in.Body["nextPage"]; ok {
		t.Errorf("a last page has nextPage: %s", in.Raw)
	}
	none := must(t, s.call("GET", "/v1/entity-connections?status=Connected", root, "global", ""), 200)
	if n := len(none.Body["entityConnections"].([]any)); n != 0 {
		t.Errorf("Connected of global = %d, want 0", n)
	}
}

func TestServeRefusesABadDirectory(t *testing.T) {
	t.Parallel()
	bad := writeDirectory(t, "tenant: acme\nentities:\n  - {id: global, name: G}\n  - {id: eu.west, name: E, parent: global}\nusers:\n  - {id: u, clientId: u, clientSecret: short, access: [{entity: mars, role: admin}]}\n")
	var out, errb syncBuffer
	code := run(t.Context(), []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--directory", bad},
		func(string) string { return "" }, &out, &errb)
	if code == 0 {
		t.Fatalf("serve with a bad directory exited 0")
	}
	for _, want := range []string{"line 4: entities[1].id", "line 6: users[0].clientSecret", "line 6: users[0].access[0].entity"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}

// --base-url (ENTITYCONN_BASE_URL) must be an absolute http(s) URL: anything else stops
// serve at once with exit status 2, before it starts anything.
func TestServeRefusesABadBaseURL(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--base-url", "api.example.com"}, {"--base-url", "https://api.example.com/?x=1"}} {
		var out, errb syncBuffer
		full := append([]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}, args...)
		if code := run(t.Context(), full, func(string) string { return "" }, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--base-url") {
			t.Errorf("serve %v = exit %d, stderr %q; want 2 naming --base-url", args, code, errb.String())
		}
	}
	var out, errb syncBuffer
	env := func(k string) string {
		if k == "ENTITYCONN_BASE_URL" {
			return "ftp://api.example.com"
		}
		return ""
	}
	if code := run(t.Context(), []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}, env, &out, &errb); code != 2 {
		t.Errorf("serve with ENTITYCONN_BASE_URL=ftp://… = exit %d, want 2: %s", code, errb.String())
	}
}
