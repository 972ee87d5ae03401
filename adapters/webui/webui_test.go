package webui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPage checks the page's title and heading and that every accessible name of contract §6
// and of the page's parts of §7 and §8 (sharing settings, as-of view) is in the page or its
// script.
func TestPage(t *testing.T) {
	h := Handler()
	resp := get(t, h, "GET", "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("GET / Content-Type = %q, want text/html; charset=utf-8", ct)
	}
	html := body(t, resp)
	for _, want := range []string{
		"<title>Manage Entity Connections</title>",
		"<h1>Manage Entity Connections</h1>",
		`<label for="client-id">Client ID</label>`,
		`<label for="client-secret">Client secret</label>`,
		`<label for="entity">Entity</label>`,
		`<select id="entity"`,
		`>Sign in</button>`,
		`>Sign out</button>`,
		`role="tablist"`,
		`role="tab" id="tab-outbound" aria-controls="panel-outbound" aria-selected="true" tabindex="0">Share To (Outbound)</button>`,
		`role="tab" id="tab-inbound" aria-controls="panel-inbound" aria-selected="false" tabindex="-1">Share From (Inbound)</button>`,
		`role="tabpanel" id="panel-outbound"`,
		`role="tabpanel" id="panel-inbound"`,
		`role="alert"`,
		`>Close</button>`,
		`<dialog id="share-dialog" role="dialog"`,
		`<label for="object-type">Object type</label>`,
		`<label for="object-id">Object ID</label>`,
		`>Share</button>`,
		`<th scope="col">Shared objects</th>`,
		`>Sharing Settings</button>`,
		`<dialog id="settings-dialog" role="dialog"`,
		`<label for="settings-all">Accept requests from every entity</label>`,
		`<label for="settings-some">Accept requests from these entities</label>`,
		`<label for="settings-none">Accept no requests automatically</label>`,
		`<label for="settings-other">Other entity ID</label>`,
		`>Save</button>`,
		`<label for="as-of">View as of…</label>`,
		`<input type="datetime-local" id="as-of"`,
		`>View</button>`,
		`>Now</button>`,
		`<script src="/app.js" defer></script>`,
		`<link rel="stylesheet" href="/style.css">`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("GET / does not contain %q", want)
		}
	}
	// Nothing from elsewhere, nothing inline that the policy would block.
	if m := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).FindString(html); m != "" {
		t.Errorf("GET / refers to another origin: %s", m)
	}
	if regexp.MustCompile(`(?i)<script>|<style|\sstyle="|\son[a-z]+="`).MatchString(html) {
		t.Error("GET / has inline script, style or event handlers, which the Content-Security-Policy blocks")
	}

	js := body(t, get(t, h, "GET", "/app.js"))
	for _, want := range []string{
		"'Request Connection'", "'Cancel'", "'Accept'", "'Deny'", "'Disconnect'", "'History'",
		"'Not connected'", "'You are not an admin of '", "'Share Object'", "'Unshare'",
		"'/v1/entities'", "'/accessible-entities'", "'/v1/entity-connections/changes'", "'/v1/shared-objects/'", "'/v1/shared-objects?direction='", "'/oauth/token'", "'Zuora-Entity-Ids'",
		"'/v1/entity-sharing-settings'", "'system:auto-accept'", "'Accepted automatically (sharing settings)'",
		"'asOf='", "'Viewing as of '",
		"sessionStorage",
	} {
		if !strings.Contains(js, want) {
			t.Errorf("app.js does not contain %s", want)
		}
	}
	if strings.Contains(js, "new EventSource") || strings.Contains(js, "localStorage.") {
		t.Error("app.js uses EventSource or localStorage: the token must go in a header and stay in the tab")
	}
}

// TestHeaders checks the security and caching headers, the content types, revalidation and
// the answers to unknown paths and methods.
func TestHeaders(t *testing.T) {
	h := Handler()
	for path, ctype := range map[string]string{
		"/":           "text/html; charset=utf-8",
		"/index.html": "text/html; charset=utf-8",
		"/app.js":     "text/javascript; charset=utf-8",
		"/style.css":  "text/css; charset=utf-8",
	} {
		resp := get(t, h, "GET", path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
		}
		for name, want := range map[string]string{
			"Content-Type":            ctype,
			"Content-Security-Policy": ContentSecurityPolicy,
			"X-Content-Type-Options":  "nosniff",
			"Cache-Control":           "no-cache",
			"Referrer-Policy":         "no-referrer",
		} {
			if got := resp.Header.Get(name); got != want {
				t.Errorf("GET %s: %s = %q, want %q", path, name, got, want)
			}
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", path)
			continue
		}
		if again := get(t, h, "GET", path, "If-None-Match", etag); again.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: its ETag = %d, want 304", path, again.StatusCode)
		}
	}
	if !strings.Contains(ContentSecurityPolicy, "default-src 'none'") || strings.Contains(ContentSecurityPolicy, "unsafe") {
		t.Errorf("Content-Security-Policy %q must default to none and allow nothing unsafe", ContentSecurityPolicy)
	}

	resp := get(t, h, "GET", "/nothing-here")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing-here = %d, want 404", resp.StatusCode)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("GET /nothing-here: X-Content-Type-Options = %q, want nosniff", got)
	}
	if resp := get(t, h, "POST", "/"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d, want 405", resp.StatusCode)
	}
	if resp := get(t, h, "HEAD", "/"); resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD / = %d, want 200", resp.StatusCode)
	}
}
