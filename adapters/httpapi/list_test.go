package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

// Given more connections than fit a page, when a client lists them with a forged Host,
// X-Forwarded-Proto and X-Forwarded-Host and with parameters the API does not know, then
// nextPage is a relative link with only the list's own parameters.
func TestNextPageIsRelativeWithKnownParameters(t *testing.T) {
	a := startAPI(t, nil, nil)
	root := a.token("root")
	var seq string
	for _, target := range []string{"eu", "us", "apac"} {
		r := a.call(t, "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"`+target+`"}`)
		if r.status != http.StatusOK {
			t.Fatalf("request: %d %s", r.status, r.raw)
		}
		seq = r.header.Get(HeaderSequence)
	}

	r := a.call(t, "GET", "/v1/entity-connections?type=OUTBOUND&status=pending&pageSize=2&minSequence="+seq+"&evil=%3Cscript%3E&callback=x", root, "global", "",
		"Host", "attacker.example", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "attacker.example")
	if r.status != http.StatusOK {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	next, _ := r.body["nextPage"].(string)
	want := "/v1/entity-connections?page=2&pageSize=2&status=Pending&type=outbound"
	if next != want {
		t.Errorf("nextPage = %q, want %q", next, want)
	}
	if strings.Contains(next, "attacker") || strings.Contains(next, "evil") || strings.Contains(next, "callback") || strings.Contains(next, "minSequence") {
		t.Errorf("nextPage %q carries what the client wrote", next)
	}

	// Following it gives the last page.
	last := a.call(t, "GET", next, root, "global", "")
	if n := len(last.body["entityConnections"].([]any)); last.status != http.StatusOK || n != 1 {
		t.Errorf("the next page: %d, %d items, want 200 with 1: %s", last.status, n, last.raw)
	}
	if _, ok := last.body["nextPage"]; ok {
		t.Errorf("the last page has nextPage: %s", last.raw)
	}
}

// With a configured base URL, nextPage is absolute on it, whatever the request's Host.
func TestNextPageOnTheConfiguredBaseURL(t *testing.T) {
	a := startAPI(t, nil, func(c *Config) { c.BaseURL = "https://api.example.com/" })
	root := a.token("root")
	for _, target := range []string{"eu", "us"} {
		if r := a.call(t, "POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"`+target+`"}`); r.status != http.StatusOK {
			t.Fatalf("request: %d %s", r.status, r.raw)
		}
	}
	r := a.call(t, "GET", "/v1/entity-connections?pageSize=1&minSequence=2", root, "global", "", "Host", "attacker.example")
	next, _ := r.body["nextPage"].(string)
	if want := "https://api.example.com/v1/entity-connections?page=2&pageSize=1"; next != want {
		t.Errorf("nextPage = %q, want %q", next, want)
	}
}

func TestCheckBaseURL(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"https://api.example.com", "https://api.example.com", true},
		{"https://api.example.com/", "https://api.example.com", true},
		{"http://10.0.0.1:8080/entityconn/", "http://10.0.0.1:8080/entityconn", true},
		{"api.example.com", "", false},
		{"/v1", "", false},
		{"ftp://api.example.com", "", false},
		{"https://user:pw@api.example.com", "", false},
		{"https://api.example.com/?x=1", "", false},
		{"https://api.example.com/#top", "", false},
	}
	for _, c := range cases {
		got, err := CheckBaseURL(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("CheckBaseURL(%q) = %q, %v; want %q, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}
