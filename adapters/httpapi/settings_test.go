package httpapi

import (
	"fmt"
	"net/http"
	"testing"
)

// Sharing settings over REST (contract §8): who may read and change them, a request from an
// allowed source is Connected at once with two events in its history, one from another
// source stays Pending, and a change leaves a Pending request as it is.
func TestSharingSettingsOverREST(t *testing.T) {
	a := startAPI(t, nil, nil)
	root, eve, viv := a.token("root"), a.token("eve"), a.token("viv")
	mustOK := func(r reply) reply {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		return r
	}
	settings := func(tok, entity string) string {
		t.Helper()
		return fmt.Sprint(mustOK(a.call(t, "GET", "/v1/entity-sharing-settings", tok, entity, "")).body["autoAcceptFrom"])
	}
	if got := settings(viv, "eu"); got != "[]" {
		t.Fatalf("settings never set = %s, want []", got)
	}
	before := a.eventCount(t)
	if r := a.call(t, "PUT", "/v1/entity-sharing-settings", viv, "eu", `{"autoAcceptFrom":["global"]}`); r.status != http.StatusForbidden {
		t.Fatalf("a user who is not an admin changes the settings: %d %s", r.status, r.raw)
	}
	for _, body := range []string{`{}`, `{"autoAcceptFrom":"global"}`, `{"autoAcceptFrom":["*","global"]}`, `{"autoAcceptFrom":["eu"]}`, `{"autoAcceptFrom":["g l"]}`, `{"autoAcceptFrom":["us","us"]}`} {
		if r := a.call(t, "PUT", "/v1/entity-sharing-settings", eve, "eu", body); r.status != http.StatusBadRequest {
			t.Errorf("PUT %s = %d %s, want 400", body, r.status, r.raw)
		}
	}
	if n := a.eventCount(t); n != before {
		t.Fatalf("refused changes stored %d events", n-before)
	}

	mustOK(a.call(t, "PUT", "/v1/entity-sharing-settings", eve, "eu", `{"autoAcceptFrom":["global"]}`))
	if got := settings(viv, "eu"); got != "[global]" {
		t.Fatalf("settings = %s, want [global]", got)
	}
	r := mustOK(a.call(t, "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`, "Idempotency-Key", "auto-1"))
	if r.body["status"] != "Connected" {
		t.Fatalf("a request from an allowed source = %s, want Connected", r.raw)
	}
	id := r.body["id"].(string)
	d := mustOK(a.call(t, "GET", "/v1/entity-connections/"+id+"?minSequence="+r.header.Get(HeaderSequence), eve, "eu", ""))
	var hist []string
	for _, h := range d.body["history"].([]any) {
		m := h.(map[string]any)
		hist = append(hist, fmt.Sprintf("%s by %s in %s", m["type"], m["actorUserId"], m["actorEntityId"]))
	}
	if d.body["status"] != "Connected" || fmt.Sprint(hist) != "[ConnectionRequested by root in global ConnectionAccepted by system:auto-accept in eu]" {
		t.Fatalf("auto-accepted connection: %v %v", d.body["status"], hist)
	}
	again := mustOK(a.call(t, "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`, "Idempotency-Key", "auto-1"))
	if again.body["status"] != "Connected" || again.body["id"] != id {
		t.Errorf("the replayed answer = %s", again.raw)
	}

	// A source not in the list: Pending; the setting changed to name it leaves it Pending.
	r = mustOK(a.call(t, "POST", "/v1/entity-connections", root, "us", `{"targetEntityId":"eu"}`))
	if r.body["status"] != "Pending" {
		t.Fatalf("a request from a source not in the list = %s, want Pending", r.raw)
	}
	pending := r.body["id"].(string)
	r = mustOK(a.call(t, "PUT", "/v1/entity-sharing-settings", eve, "eu", `{"autoAcceptFrom":["*"]}`))
	d = mustOK(a.call(t, "GET", "/v1/entity-connections/"+pending+"?minSequence="+r.header.Get(HeaderSequence), eve, "eu", ""))
	if d.body["status"] != "Pending" {
		t.Fatalf("after the settings change the pending request is %v", d.body["status"])
	}
	// "*": every source; an empty list: none.
	mustOK(a.call(t, "PUT", "/v1/entity-connections/"+id+"/disconnect", root, "global", ""))
	if r := mustOK(a.call(t, "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`)); r.body["status"] != "Connected" {
		t.Fatalf("a request under [*] = %s", r.raw)
	}
	mustOK(a.call(t, "PUT", "/v1/entity-sharing-settings", eve, "eu", `{"autoAcceptFrom":[]}`))
	if got := settings(eve, "eu"); got != "[]" {
		t.Fatalf("settings = %s, want []", got)
	}
	if r := mustOK(a.call(t, "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"us"}`)); r.body["status"] != "Pending" {
		t.Fatalf("a request to an entity that never set its settings = %s", r.raw)
	}
	if r := a.call(t, "GET", "/v1/entity-sharing-settings", "", "eu", ""); r.status != http.StatusUnauthorized {
		t.Errorf("anonymous read = %d, want 401", r.status)
	}
	if r := a.call(t, "GET", "/v1/entity-sharing-settings", eve, "us", ""); r.status != http.StatusForbidden {
		t.Errorf("read of another entity's settings = %d, want 403", r.status)
	}
}
