package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// tokenCall posts the form to /oauth/token from remote (ip:port).
func (a *testAPI) tokenCall(t *testing.T, remote string, form url.Values) reply {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), "POST", "/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	a.api.ServeHTTP(rec, req)
	r := reply{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &r.body)
	return r
}

func credentials(client, secret string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret}}
}

// wantTooMany checks a 429 with the Zuora body, category 70 and Retry-After.
func wantTooMany(t *testing.T, what string, r reply) {
	t.Helper()
	if r.status != http.StatusTooManyRequests || r.code() != 53000070 {
		t.Fatalf("%s = %d code %d, want 429 code 53000070: %s", what, r.status, r.code(), r.raw)
	}
	if r.body["success"] != false || r.body["processId"] == nil || !strings.Contains(r.message(), "too many") {
		t.Errorf("%s: body %s, want the Zuora error body saying too many", what, r.raw)
	}
	if r.body["error"] != oauthTemporarilyUnavailable {
		t.Errorf("%s: OAuth error %v, want %s", what, r.body["error"], oauthTemporarilyUnavailable)
	}
	if ra := r.header.Get("Retry-After"); ra != "1" {
		t.Errorf("%s: Retry-After %q, want 1", what, ra)
	}
}

// Given one address that sends a burst of token requests, when it goes over its limit, then
// it gets 429; another address is unaffected.
func TestTokenRequestsAreLimitedPerAddress(t *testing.T) {
	clk := newClock()
	a := startAPI(t, clk.now, nil)
	bad := url.Values{"grant_type": {"password"}} // refused cheaply, but counted
	for i := range TokenRequestBurstPerAddress {
		if r := a.tokenCall(t, "192.0.2.1:4000", bad); r.status != http.StatusBadRequest {
			t.Fatalf("request %d within the burst = %d, want 400: %s", i+1, r.status, r.raw)
		}
	}
	wantTooMany(t, "a request over the burst", a.tokenCall(t, "192.0.2.1:4001", credentials("root", "root-secret")))
	if r := a.tokenCall(t, "192.0.2.2:4000", credentials("root", "root-secret")); r.status != http.StatusOK {
		t.Errorf("another address = %d, want 200: %s", r.status, r.raw)
	}
	// An IPv6 client does not escape by changing addresses within its /64.
	for i := range TokenRequestBurstPerAddress {
		a.tokenCall(t, fmt.Sprintf("[2001:db8:1:2::%x]:4000", i+1), bad)
	}
	wantTooMany(t, "another address of the same /64", a.tokenCall(t, "[2001:db8:1:2::ffff]:4000", bad))

	// The limit refills at its rate.
	clk.add(time.Second)
	if r := a.tokenCall(t, "192.0.2.1:4002", credentials("root", "root-secret")); r.status != http.StatusOK {
		t.Errorf("after a second = %d, want 200: %s", r.status, r.raw)
	}
}

// Given wrong secrets for one client id from many addresses, when the failures go over the
// client's limit, then that client id gets 429 (even with the right secret) from anywhere;
// another client is unaffected, and the limit refills.
func TestFailedSignInsAreLimitedPerClient(t *testing.T) {
	clk := newClock()
	a := startAPI(t, clk.now, nil)
	for i := range FailedSignInBurstPerClient {
		if r := a.tokenCall(t, fmt.Sprintf("198.51.100.%d:1", i+1), credentials("root", "guess")); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d, want 401: %s", i+1, r.status, r.raw)
		}
	}
	wantTooMany(t, "the right secret after too many failures", a.tokenCall(t, "198.51.100.200:1", credentials("root", "root-secret")))
	if r := a.tokenCall(t, "198.51.100.200:1", credentials("eve", "eve-secret")); r.status != http.StatusOK {
		t.Errorf("another client = %d, want 200: %s", r.status, r.raw)
	}
	// Successes do not count (each from its own address, so that only the client's limit
	// could refuse them).
	for i := range 2 * FailedSignInBurstPerClient {
		if r := a.tokenCall(t, fmt.Sprintf("203.0.113.%d:1", i+1), credentials("eve", "eve-secret")); r.status != http.StatusOK {
			t.Fatalf("good sign-in %d = %d, want 200: %s", i+1, r.status, r.raw)
		}
	}
	clk.add(time.Second)
	if r := a.tokenCall(t, "198.51.100.200:1", credentials("root", "root-secret")); r.status != http.StatusOK {
		t.Errorf("the right secret once the limit refilled = %d, want 200: %s", r.status, r.raw)
	}
}

// Limiters of keys that have gone idle are forgotten, and however many keys are used at
// once, at most maxLimiterKeys are remembered.
func TestLimitersAreBounded(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiters(1, 2)
	for i := range 100 {
		l.get(fmt.Sprint("idle-", i), t0).AllowN(t0, 2)
	}
	l.get("now", t0.Add(limiterSweepEvery)).AllowN(t0.Add(limiterSweepEvery), 1)
	if n := l.size(); n != 1 {
		t.Errorf("after the idle ones refilled: %d keys remembered, want 1", n)
	}
	for i := range 2 * maxLimiterKeys {
		l.get(fmt.Sprint("busy-", i), t0).AllowN(t0, 2)
		if n := l.size(); n > maxLimiterKeys {
			t.Fatalf("%d keys remembered, want at most %d", n, maxLimiterKeys)
		}
	}
}
