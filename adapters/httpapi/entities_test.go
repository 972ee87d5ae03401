package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// ids returns the ids of the entities of a list, in order, and each one's role (if any) as
// "id:role".
func ids(t *testing.T, r reply) []string {
	t.Helper()
	items, ok := r.body["entities"].([]any)
	if !ok || r.body["success"] != true {
		t.Fatalf("answer %s, want entities and success", r.raw)
	}
	var out []string
	for _, it := range items {
		m := it.(map[string]any)
		id, _ := m["id"].(string)
		if role, ok := m["role"].(string); ok {
			id += ":" + role
		}
		out = append(out, id)
	}
	return out
}

// Contract §4: GET /v1/entities is Zuora's list of the whole hierarchy, to any user of the
// tenant, whatever its token's scope.
func TestEntitiesListTheWholeHierarchy(t *testing.T) {
	a := startAPI(t, nil, nil)
	for _, token := range []string{a.token("viv"), a.token("eve"), a.tokens.Issue("root", []string{"apac"})} {
		r := a.call(t, "GET", "/v1/entities", token, "", "")
		if r.status != http.StatusOK {
			t.Fatalf("GET /v1/entities = %d %s", r.status, r.raw)
		}
		if got, want := ids(t, r), []string{"global", "eu", "us", "apac"}; !slices.Equal(got, want) {
			t.Errorf("GET /v1/entities = %v, want %v (every entity, no role)", got, want)
		}
	}
	r := a.call(t, "GET", "/v1/entities", a.token("eve"), "", "")
	items := r.body["entities"].([]any)
	want := []map[string]any{
		{"id": "global", "name": "ACME Global", "displayName": "ACME Global", "parentId": nil, "status": "Provisioned", "tenantId": "acme", "locale": "en_US", "timezone": "UTC"},
		{"id": "eu", "name": "ACME Europe", "displayName": "ACME Europe", "parentId": "global", "status": "Provisioned", "tenantId": "acme", "locale": "en_US", "timezone": "UTC"},
	}
	for i, w := range want {
		got := items[i].(map[string]any)
		if len(got) != len(w) {
			t.Errorf("entity %d = %v, want exactly %v", i, got, w)
		}
		for k, v := range w {
			if got[k] != v {
				t.Errorf("entity %d: %s = %v, want %v", i, k, got[k], v)
			}
		}
	}
	// Zuora's filter: every entity is provisioned.
	if r := a.call(t, "GET", "/v1/entities?provisioned=true", a.token("viv"), "", ""); len(ids(t, r)) != 4 {
		t.Errorf("GET /v1/entities?provisioned=true = %s, want the 4 entities", r.raw)
	}
	if r := a.call(t, "GET", "/v1/entities?provisioned=false", a.token("viv"), "", ""); len(ids(t, r)) != 0 {
		t.Errorf("GET /v1/entities?provisioned=false = %s, want none", r.raw)
	}
	if r := a.call(t, "GET", "/v1/entities?provisioned=maybe", a.token("viv"), "", ""); r.status != http.StatusBadRequest || r.code() != 53000020 {
		t.Errorf("GET /v1/entities?provisioned=maybe = %d %s, want 400 code 53000020", r.status, r.raw)
	}
	if r := a.call(t, "GET", "/v1/entities", "", "", ""); r.status != http.StatusUnauthorized || r.code() != 53000011 {
		t.Errorf("GET /v1/entities without a token = %d %s, want 401", r.status, r.raw)
	}
}

// Contract §4: the entities a user can access, with its role: its own for any user, anyone's
// for an admin of an entity; else 403 (whether or not the user exists), and 404 for an admin
// asking for a user that does not exist.
func TestAccessibleEntities(t *testing.T) {
	a := startAPI(t, nil, nil)
	path := func(user string) string { return "/v1/users/" + url.PathEscape(user) + "/accessible-entities" }
	for _, c := range []struct {
		name, token, user string
		status, code      int
		want              []string
	}{
		{"a user reads its own", a.token("viv"), "viv", 200, 0, []string{"global:user", "eu:user"}},
		{"an admin reads its own", a.token("root"), "root", 200, 0, []string{"global:admin", "eu:admin", "us:admin", "apac:user"}},
		{"a token restricted by scope narrows one's own", a.tokens.Issue("root", []string{"eu", "apac"}), "root", 200, 0, []string{"eu:admin", "apac:user"}},
		{"an admin of one entity reads anyone's", a.token("eve"), "viv", 200, 0, []string{"global:user", "eu:user"}},
		{"an admin reads a service user's", a.token("sam"), "svc", 200, 0, []string{"global:user", "eu:user", "us:user", "apac:user"}},
		{"an admin asks for nobody", a.token("eve"), "nobody", 404, 53000040, nil},
		{"a user who is no admin reads another's", a.token("viv"), "root", 403, 53000010, nil},
		{"a user who is no admin asks for nobody", a.token("viv"), "nobody", 403, 53000010, nil},
		{"an admin grant outside the token's scope does not count", a.tokens.Issue("root", []string{"apac"}), "viv", 403, 53000010, nil},
		{"no token", "", "viv", 401, 53000011, nil},
	} {
		r := a.call(t, "GET", path(c.user), c.token, "", "")
		if r.status != c.status || (c.code != 0 && r.code() != c.code) {
			t.Errorf("%s: GET %s = %d %s, want %d code %d", c.name, path(c.user), r.status, r.raw, c.status, c.code)
			continue
		}
		if c.status == http.StatusOK {
			if got := ids(t, r); !slices.Equal(got, c.want) {
				t.Errorf("%s: GET %s = %v, want %v", c.name, path(c.user), got, c.want)
			}
			first := r.body["entities"].([]any)[0].(map[string]any)
			for _, field := range []string{"id", "name", "displayName", "parentId", "status", "tenantId", "locale", "timezone", "role"} {
				if _, ok := first[field]; !ok {
					t.Errorf("%s: item %v lacks %s", c.name, first, field)
				}
			}
		}
	}
}

// The token response names the token's user first in its scope (user.<id>), as Zuora's do,
// so that a client knows whose accessible entities to ask for; asking for that scope again
// changes nothing.
func TestTokenScopeNamesTheUser(t *testing.T) {
	a := startAPI(t, nil, nil)
	token := func(form url.Values) reply {
		t.Helper()
		return a.call(t, "POST", "/oauth/token", "", "", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"viv"}, "client_secret": {"viv-secret"}}
	r := token(form)
	if r.status != http.StatusOK || r.body["scope"] != "user.viv entity.global entity.eu" {
		t.Fatalf("token for viv = %d %s, want scope user.viv entity.global entity.eu", r.status, r.raw)
	}
	form.Set("scope", "user.viv entity.eu")
	if r := token(form); r.status != http.StatusOK || r.body["scope"] != "user.viv entity.eu" {
		t.Errorf("token for viv, scope user.viv entity.eu = %d %s, want scope user.viv entity.eu", r.status, r.raw)
	}
	form.Set("scope", "user.root entity.eu")
	if r := token(form); r.status != http.StatusBadRequest || !strings.Contains(r.raw, "user.root") {
		t.Errorf("token for viv, scope user.root = %d %s, want 400 naming the scope", r.status, r.raw)
	}
}

// The token endpoint's errors carry OAuth 2.0's error and error_description beside the
// Zuora error body; a token response has a jti; every answer has a Zuora-Request-Id that is
// a UUID and the processId of its error body.
func TestTokenErrorsAndIDs(t *testing.T) {
	a := startAPI(t, nil, nil)
	for _, c := range []struct {
		name   string
		form   url.Values
		status int
		code   int
		oauth  string
	}{
		{"wrong secret", credentials("root", "guess"), 401, 53000011, oauthInvalidClient},
		{"unknown client", credentials("nobody", "guess"), 401, 53000011, oauthInvalidClient},
		{"no grant type", url.Values{"client_id": {"root"}, "client_secret": {"root-secret"}}, 400, 53000022, oauthInvalidRequest},
		{"another grant type", url.Values{"grant_type": {"password"}}, 400, 53000020, oauthUnsupportedGrantType},
		{"no secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {"root"}}, 400, 53000022, oauthInvalidRequest},
		{"a scope the client has not", url.Values{"grant_type": {"client_credentials"}, "client_id": {"eve"}, "client_secret": {"eve-secret"}, "scope": {"entity.global"}}, 400, 53000020, oauthInvalidScope},
	} {
		r := a.tokenCall(t, "203.0.113.9:1", c.form)
		if r.status != c.status || r.code() != c.code || r.body["error"] != c.oauth || r.body["error_description"] != r.message() || r.body["success"] != false {
			t.Errorf("%s: POST /oauth/token = %d %s, want %d with code %d and error %s", c.name, r.status, r.raw, c.status, c.code, c.oauth)
		}
		if c.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") != `Basic realm="entityconn"` {
			t.Errorf("%s: WWW-Authenticate %q, want Basic", c.name, r.header.Get("WWW-Authenticate"))
		}
		if id := r.header.Get(HeaderRequestID); !isUUID(id) || r.body["processId"] != id {
			t.Errorf("%s: %s %q and processId %v, want one UUID", c.name, HeaderRequestID, id, r.body["processId"])
		}
	}

	jtis := map[string]bool{}
	for range 2 {
		r := a.tokenCall(t, "203.0.113.10:1", credentials("root", "root-secret"))
		jti, _ := r.body["jti"].(string)
		if r.status != http.StatusOK || len(jti) != 32 || strings.Trim(jti, "0123456789abcdef") != "" || jtis[jti] {
			t.Errorf("token response %s, want a jti of 32 hex digits, new each time", r.raw)
		}
		jtis[jti] = true
		if id := r.header.Get(HeaderRequestID); !isUUID(id) {
			t.Errorf("token response %s %q, want a UUID", HeaderRequestID, id)
		}
	}
	// The /v1 API's errors stay the Zuora error body alone.
	r := a.call(t, "GET", "/v1/entities", "", "", "")
	if _, has := r.body["error"]; has || !isUUID(r.header.Get(HeaderRequestID)) || r.body["processId"] != r.header.Get(HeaderRequestID) {
		t.Errorf("GET /v1/entities without a token = %s (%s %q), want the Zuora error body and a UUID request id", r.raw, HeaderRequestID, r.header.Get(HeaderRequestID))
	}
}

// isUUID reports whether s is a UUID in its 36-character form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdef", c):
			return false
		}
	}
	return true
}
