package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// sharedList returns "type id source→target" of each shared object the list answers.
func sharedList(t *testing.T, r reply) []string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("list of shared objects: %d %s", r.status, r.raw)
	}
	items, _ := r.body["sharedObjects"].([]any)
	out := []string{}
	for _, it := range items {
		m := it.(map[string]any)
		out = append(out, fmt.Sprintf("%s %s %s→%s", m["objectType"], m["objectId"], m["sourceEntityId"], m["targetEntityId"]))
	}
	return out
}

// Sharing over REST, end to end on a real stack: all targets or none, sharing again is a
// success that stores nothing, the lists of both sides, the history, and a disconnection
// that ends every share in the same step.
func TestShareObjectsOverREST(t *testing.T) {
	a := startAPI(t, nil, nil)
	root, eve, viv := a.token("root"), a.token("eve"), a.token("viv")
	mustOK := func(r reply) reply {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		return r
	}
	// global→eu Connected, global→us Pending.
	eu := mustOK(a.call(t, "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`)).body["id"].(string)
	mustOK(a.call(t, "PUT", "/v1/entity-connections/"+eu+"/accept", eve, "eu", ""))
	mustOK(a.call(t, "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"us"}`))

	before := a.eventCount(t)
	r := a.call(t, "PUT", "/v1/shared-objects/Product/P-100/share", root, "global", `{"toEntityIds":["eu","us"]}`)
	if r.status != http.StatusConflict || r.code() != 53000030 || !strings.Contains(r.message(), `"us"`) {
		t.Fatalf("share with a Pending target = %d %s; want 409 naming us", r.status, r.raw)
	}
	if n := a.eventCount(t); n != before {
		t.Fatalf("a refused share stored %d events", n-before)
	}

	r = mustOK(a.call(t, "PUT", "/v1/catalog/products/P-100/share", root, "global", `{"toEntityIds":["eu"]}`))
	seq := r.header.Get(HeaderSequence)
	if n := a.eventCount(t); n != before+1 {
		t.Fatalf("a share with one target stored %d events, want 1", n-before)
	}
	by := sharedList(t, a.call(t, "GET", "/v1/shared-objects?direction=sharedBy&minSequence="+seq, root, "global", ""))
	with := sharedList(t, a.call(t, "GET", "/v1/shared-objects?direction=sharedWith&minSequence="+seq, eve, "eu", ""))
	if fmt.Sprint(by) != "[Product P-100 global→eu]" || fmt.Sprint(with) != fmt.Sprint(by) {
		t.Fatalf("shared by global %v, with eu %v; want P-100 in both", by, with)
	}
	if got := sharedList(t, a.call(t, "GET", "/v1/shared-objects?direction=sharedWith", root, "global", "")); len(got) != 0 {
		t.Errorf("shared with global = %v, want none", got)
	}

	// A retry with the same Idempotency-Key is replayed, even after the object was unshared
	// in between; the key with another body is refused.
	k := "share-" + seq
	first := mustOK(a.call(t, "PUT", "/v1/shared-objects/Product/P-7/share", root, "global", `{"toEntityIds":["eu"]}`, "Idempotency-Key", k))
	unshared := mustOK(a.call(t, "PUT", "/v1/shared-objects/Product/P-7/unshare", root, "global", `{"fromEntityIds":["eu"]}`)).header.Get(HeaderSequence)
	again := mustOK(a.call(t, "PUT", "/v1/shared-objects/Product/P-7/share", root, "global", `{"toEntityIds":["eu"]}`, "Idempotency-Key", k))
	if again.header.Get(HeaderReplayed) != "true" || again.header.Get(HeaderSequence) != first.header.Get(HeaderSequence) {
		t.Fatalf("retry = %v, want the first outcome replayed (sequence %s)", again.header, first.header.Get(HeaderSequence))
	}
	if r := a.call(t, "PUT", "/v1/shared-objects/Product/P-8/share", root, "global", `{"toEntityIds":["eu"]}`, "Idempotency-Key", k); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("the key with another object = %d %s, want 422", r.status, r.raw)
	}
	if got := sharedList(t, a.call(t, "GET", "/v1/shared-objects?direction=sharedBy&minSequence="+unshared, root, "global", "")); fmt.Sprint(got) != "[Product P-100 global→eu]" {
		t.Fatalf("after the replay: shared %v, want P-100 only (P-7 unshared, not shared again)", got)
	}
	before += 2

	// Sharing again stores nothing and succeeds.
	mustOK(a.call(t, "PUT", "/v1/shared-objects/Product/P-100/share", root, "global", `{"toEntityIds":["eu"]}`))
	if n := a.eventCount(t); n != before+1 {
		t.Fatalf("sharing again stored %d more events", n-before-1)
	}

	// Who may not: a user who is not an admin of the source, and the target.
	for _, c := range []struct{ tok, entity string }{{viv, "global"}, {eve, "eu"}} {
		r := a.call(t, "PUT", "/v1/shared-objects/Product/P-200/share", c.tok, c.entity, `{"toEntityIds":["eu"]}`)
		if r.status != http.StatusForbidden && r.status != http.StatusBadRequest {
			t.Errorf("share by %s in %s = %d %s; want refused", c.tok[:8], c.entity, r.status, r.raw)
		}
		r = a.call(t, "PUT", "/v1/shared-objects/Product/P-100/unshare", c.tok, c.entity, `{"fromEntityIds":["eu"]}`)
		if r.status < 400 {
			t.Errorf("unshare by %s = %d, want refused", c.entity, r.status)
		}
	}
	if r := a.call(t, "GET", "/v1/shared-objects", "", "global", ""); r.status != http.StatusUnauthorized {
		t.Errorf("anonymous list = %d, want 401", r.status)
	}
	if n := a.eventCount(t); n != before+1 {
		t.Fatalf("refused commands stored %d events", n-before-1)
	}

	// Bad input, each with its category, nothing stored.
	for _, c := range []struct {
		path, body string
		code       int
	}{
		{"/v1/shared-objects/product/P-1/share", `{"toEntityIds":["eu"]}`, 53000020},
		{"/v1/shared-objects/Product/P.1/share", `{"toEntityIds":["eu"]}`, 53000020},
		{"/v1/shared-objects/Product/P-1/share", `{}`, 53000022},
		{"/v1/shared-objects/Product/P-1/share", `{"toEntityIds":[]}`, 53000022},
		{"/v1/shared-objects/Product/P-1/share", `{"toEntityIds":["eu","eu"]}`, 53000020},
		{"/v1/shared-objects/Product/P-1/share", `{"toEntityIds":["global"]}`, 53000020},
		{"/v1/shared-objects/Product/P-1/share", `{"toEntityIds":["eu"],"to":1}`, 53000021},
		{"/v1/shared-objects/Product/P-1/unshare", `{"toEntityIds":["eu"]}`, 53000021},
		{"/v1/shared-objects/Product/P-1/share", `{"toEntityIds":[` + strings.Repeat(`"e",`, 50) + `"e"]}`, 53000020},
	} {
		r := a.call(t, "PUT", c.path, root, "global", c.body)
		if r.status != http.StatusBadRequest || r.code() != c.code {
			t.Errorf("PUT %s %s = %d %s; want 400 with code %d", c.path, c.body, r.status, r.raw, c.code)
		}
	}
	for _, q := range []string{"direction=both", "objectType=product", "pageSize=301", "page=0"} {
		if r := a.call(t, "GET", "/v1/shared-objects?"+q, root, "global", ""); r.status != http.StatusBadRequest {
			t.Errorf("GET ?%s = %d, want 400", q, r.status)
		}
	}
	if n := a.eventCount(t); n != before+1 {
		t.Fatalf("bad input stored %d events", n-before-1)
	}

	// Unsharing what is not shared is refused; a second object is shared, then the target
	// disconnects: both shares end with it, in one step.
	if r := a.call(t, "PUT", "/v1/shared-objects/AccountingPeriod/2026-11/unshare", root, "global", `{"fromEntityIds":["eu"]}`); r.status != http.StatusConflict {
		t.Fatalf("unshare of what is not shared = %d %s; want 409", r.status, r.raw)
	}
	mustOK(a.call(t, "PUT", "/v1/shared-objects/AccountingPeriod/2026-11/share", root, "global", `{"toEntityIds":["eu"]}`))
	r = mustOK(a.call(t, "PUT", "/v1/entity-connections/"+eu+"/disconnect", eve, "eu", `{"reason":"done"}`))
	if n := a.eventCount(t); n != before+5 {
		t.Fatalf("after a share and a disconnection with two shares: %d events more, want 5", n-before)
	}
	seq = r.header.Get(HeaderSequence)
	got := sharedList(t, a.call(t, "GET", "/v1/shared-objects?minSequence="+seq, root, "global", ""))
	if len(got) != 0 {
		t.Fatalf("shares after the disconnection: %v", got)
	}
	d := mustOK(a.call(t, "GET", "/v1/entity-connections/"+eu, root, "global", ""))
	var hist []string
	for _, h := range d.body["history"].([]any) {
		m := h.(map[string]any)
		item := m["type"].(string)
		if ot, ok := m["objectType"]; ok {
			item += fmt.Sprintf("(%s %s %s)", ot, m["objectId"], m["reason"])
		}
		hist = append(hist, item)
	}
	want := "[ConnectionRequested ConnectionAccepted ObjectShared(Product P-100 ) ObjectShared(Product P-7 ) ObjectUnshared(Product P-7 unshared) ObjectShared(AccountingPeriod 2026-11 ) ConnectionDisconnected ObjectUnshared(Product P-100 connection-ended) ObjectUnshared(AccountingPeriod 2026-11 connection-ended)]"
	if fmt.Sprint(hist) != want {
		t.Fatalf("history\n%v\nwant\n%v", hist, want)
	}
	// A share over the ended connection is refused.
	if r := a.call(t, "PUT", "/v1/shared-objects/Product/P-100/share", root, "global", `{"toEntityIds":["eu"]}`); r.status != http.StatusConflict {
		t.Fatalf("share after the disconnection = %d %s; want 409", r.status, r.raw)
	}
}
