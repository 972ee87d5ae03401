package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// As-of reads over REST (contract §8): a connection, the lists and the shared objects as they
// were at instants between its events; a time in the future or not RFC 3339 is a 400.
func TestAsOfOverREST(t *testing.T) {
	a := startAPI(t, nil, nil)
	root, eve := a.token("root"), a.token("eve")
	mustOK := func(r reply) reply {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		return r
	}
	instant := func() string {
		time.Sleep(20 * time.Millisecond)
		defer time.Sleep(20 * time.Millisecond)
		return url.QueryEscape(time.Now().UTC().Format(time.RFC3339Nano))
	}
	t0 := instant()
	id := mustOK(a.call(t, "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`)).body["id"].(string)
	t1 := instant()
	mustOK(a.call(t, "PUT", "/v1/entity-connections/"+id+"/accept", eve, "eu", ""))
	t2 := instant()
	mustOK(a.call(t, "PUT", "/v1/shared-objects/Product/P-1/share", root, "global", `{"toEntityIds":["eu"]}`))
	t3 := instant()
	r := mustOK(a.call(t, "PUT", "/v1/entity-connections/"+id+"/disconnect", eve, "eu", ""))
	seq := r.header.Get(HeaderSequence)
	mustOK(a.call(t, "GET", "/v1/entity-connections?minSequence="+seq, root, "global", ""))

	get := func(at string) (string, int) {
		r := a.call(t, "GET", "/v1/entity-connections/"+id+"?asOf="+at, eve, "eu", "")
		if r.status != http.StatusOK {
			return fmt.Sprint(r.status), 0
		}
		return r.body["status"].(string), len(r.body["history"].([]any))
	}
	list := func(at string) string {
		r := mustOK(a.call(t, "GET", "/v1/entity-connections?type=outbound&asOf="+at, root, "global", ""))
		var out []string
		for _, it := range r.body["entityConnections"].([]any) {
			out = append(out, it.(map[string]any)["status"].(string))
		}
		return fmt.Sprint(out)
	}
	shared := func(at string) int {
		r := mustOK(a.call(t, "GET", "/v1/shared-objects?direction=sharedWith&asOf="+at, eve, "eu", ""))
		return len(r.body["sharedObjects"].([]any))
	}
	for _, c := range []struct {
		name, at, status string
		history          int
		list             string
		shares           int
	}{
		{"before the request", t0, "404", 0, "[]", 0},
		{"requested", t1, "Pending", 1, "[Pending]", 0},
		{"accepted", t2, "Connected", 2, "[Connected]", 0},
		{"shared", t3, "Connected", 3, "[Connected]", 1},
		{"now", url.QueryEscape(time.Now().UTC().Format(time.RFC3339Nano)), "Disconnected", 5, "[Disconnected]", 0},
	} {
		status, n := get(c.at)
		if status != c.status || n != c.history {
			t.Errorf("%s: the connection as of then is %s with %d history items, want %s with %d", c.name, status, n, c.status, c.history)
		}
		if got := list(c.at); got != c.list {
			t.Errorf("%s: global's outbound list as of then = %s, want %s", c.name, got, c.list)
		}
		if got := shared(c.at); got != c.shares {
			t.Errorf("%s: shared with eu as of then: %d, want %d", c.name, got, c.shares)
		}
	}
	// A connection of two events, which the list index lets the read take by sequence.
	us := mustOK(a.call(t, "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"us"}`)).body["id"].(string)
	between := instant()
	r = mustOK(a.call(t, "PUT", "/v1/entity-connections/"+us+"/accept", root, "us", ""))
	mustOK(a.call(t, "GET", "/v1/entity-connections?minSequence="+r.header.Get(HeaderSequence), root, "global", ""))
	for _, c := range []struct {
		at, status string
		history    int
	}{{between, "Pending", 1}, {url.QueryEscape(time.Now().UTC().Format(time.RFC3339Nano)), "Connected", 2}} {
		r := mustOK(a.call(t, "GET", "/v1/entity-connections/"+us+"?asOf="+c.at, root, "global", ""))
		if r.body["status"] != c.status || len(r.body["history"].([]any)) != c.history {
			t.Errorf("global→us as of %s: %v with %d history items, want %s with %d", c.at, r.body["status"], len(r.body["history"].([]any)), c.status, c.history)
		}
	}

	// Who may not read the past: another entity's user, and a user of a third entity.
	sam := a.token("sam")
	for _, c := range []struct {
		tok, entity, path string
		status            int
	}{
		{eve, "global", "/v1/entity-connections?asOf=" + t2, http.StatusForbidden},
		{eve, "global", "/v1/shared-objects?asOf=" + t3, http.StatusForbidden},
		{sam, "us", "/v1/entity-connections/" + id + "?asOf=" + t2, http.StatusNotFound},
		{"", "global", "/v1/entity-connections?asOf=" + t2, http.StatusUnauthorized},
	} {
		if r := a.call(t, "GET", c.path, c.tok, c.entity, ""); r.status != c.status {
			t.Errorf("GET %s in %s = %d %s, want %d", c.path, c.entity, r.status, r.raw, c.status)
		}
	}

	future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	for _, path := range []string{"/v1/entity-connections?asOf=", "/v1/entity-connections/" + id + "?asOf=", "/v1/shared-objects?asOf="} {
		for _, at := range []string{future, "yesterday", "2026-10-31"} {
			if r := a.call(t, "GET", path+at, root, "global", ""); r.status != http.StatusBadRequest || r.code() != 53000020 {
				t.Errorf("GET %s%s = %d %s, want 400 with code 53000020", path, at, r.status, r.raw)
			}
		}
	}
}
