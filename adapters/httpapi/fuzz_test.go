package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/zuora"
	"github.com/entityconn/entityconn/projections"
)

// callersFault fails unless err maps to a 4xx status with a Zuora category other than
// internal: bad input is the caller's fault, never a 500.
func callersFault(t *testing.T, what string, err error) {
	t.Helper()
	status, code := zuora.Classify(err)
	if status < 400 || status > 499 || code == zuora.CodeBase+zuora.CategoryInternal {
		t.Fatalf("%s: %v: status %d code %d, want a 4xx", what, err, status, code)
	}
}

// FuzzListQuery feeds any query string to the list's parameter parsing and the validation
// every door's list goes through, then pages with the result. Nothing may panic; every
// refusal is a 4xx.
//
// Run it with: go test -run='^$' -fuzz=FuzzListQuery -fuzztime=30s ./adapters/httpapi/
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{
		"", "type=outbound&status=Pending&page=2&pageSize=300&minSequence=12",
		"type=INBOUND&status=connected", "page=4611686018427387905&pageSize=2", "page=1000000&pageSize=300",
		"page=1000001", "page=-1", "page=0", "pageSize=0", "pageSize=301", "page=99999999999999999999",
		"page=1e3", "page=+5", "page=0x10", "page= 1", "page=1&page=2", "minSequence=-1",
		"minSequence=18446744073709551616", "type=sideways", "status=Sleeping", "status=" + strings.Repeat("é", 60),
		"page=%zz", "a=%00&type=%FF",
	} {
		f.Add(s)
	}
	views := make([]projections.View, 40)
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw) // as Request.URL.Query does, bad pairs left out
		lq, err := parseListQuery(q)
		if err == nil {
			err = lq.Validate()
		}
		if err != nil {
			callersFault(t, "list query "+raw, err)
			return
		}
		if items, _ := projections.Page(views, lq.Page, lq.PageSize); len(items) > lq.PageSize {
			t.Fatalf("Page(%d, %d) = %d items", lq.Page, lq.PageSize, len(items))
		}
	})
}

// FuzzReadJSON feeds any body to readJSON, into each of the command bodies, behind the
// 64 KiB limit that every request has (with kind&16, a limit of 32 bytes, so that bodies
// over the limit need no large inputs). Nothing may panic; every refusal is a 4xx.
//
// Run it with: go test -run='^$' -fuzz=FuzzReadJSON -fuzztime=30s ./adapters/httpapi/
func FuzzReadJSON(f *testing.F) {
	for _, s := range []string{
		`{"targetEntityId":"eu"}`, `{"reason":"not yet"}`, `{}`, ``, `  `, `null`, `[]`, `"eu"`,
		`{"targetEntityId":null}`, `{"targetEntityId":1}`, `{"TARGETENTITYID":"eu"}`, `{"target":"eu"}`,
		`{"targetEntityId":"eu"} {}`, `{"targetEntityId":"eu"}]`, `{"targetEntityId":`, `{"reason":"\ud800"}`,
		"{\"reason\":\"\xff\"}",
	} {
		for kind := range uint8(4) {
			f.Add([]byte(s), kind)
		}
	}
	f.Add([]byte(`{"targetEntityId":"eu","reason":"over 32 bytes"}`), uint8(16))
	f.Add([]byte(`{"reason":"at most 32"}`), uint8(16+1))
	f.Fuzz(func(t *testing.T, body []byte, kind uint8) {
		limit := int64(MaxBodyBytes)
		if kind&16 != 0 {
			limit = 32
		}
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/v1/entity-connections", bytes.NewReader(body))
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		c := &call{w: w, r: r}
		var err error
		switch kind % 4 {
		case 0:
			var v struct {
				TargetEntityID *string `json:"targetEntityId"`
			}
			err = readJSON(c, &v, false)
		case 1:
			err = readJSON(c, &reasonBody{}, true)
		case 2:
			err = readJSON(c, &struct{}{}, true)
		case 3:
			err = readJSON(c, &struct{}{}, false)
		}
		if err != nil {
			callersFault(t, "body "+string(body[:min(len(body), 200)]), err)
		}
	})
}

// FuzzAPI drives the real handler, on a real stack (embedded NATS, the apptest directory),
// with any method, path, query, body, acting entity, idempotency key and caller. Nothing may
// panic, no answer may be a 5xx, and every answer but the mux's redirects to a clean path is
// JSON (the Zuora error body on errors). State accumulates across inputs, as it would on a server. Inputs
// with a minSequence are skipped: they may rightly wait 5 s and answer 503.
//
// Run it with: go test -run='^$' -fuzz=FuzzAPI -fuzztime=30s ./adapters/httpapi/
func FuzzAPI(f *testing.F) {
	api := newTestAPI(f)
	paths := []string{
		"/v1/entity-connections", "/v1/entity-connections/%s", "/v1/entity-connections/%s/accept",
		"/v1/entity-connections/%s/deny", "/v1/entity-connections/%s/cancel", "/v1/entity-connections/%s/disconnect",
		"/v1/entities", "/oauth/token", "/v1/%s", "/healthz",
	}
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH"}
	users := []string{"root", "eve", "viv", "sam", "", "ghost", "garbage"}
	const uuid = "9b2c1f3e-0000-4000-8000-000000000000"
	f.Add(uint8(1), uint8(0), "", "", []byte(`{"targetEntityId":"eu"}`), "global", "", uint8(0))
	f.Add(uint8(0), uint8(0), "", "type=outbound&page=4611686018427387905&pageSize=2", []byte(nil), "global", "", uint8(0))
	f.Add(uint8(0), uint8(0), "", "page=1000000&pageSize=300&status=pending", []byte(nil), "eu", "", uint8(1))
	f.Add(uint8(2), uint8(2), uuid, "", []byte(``), "eu", "", uint8(1))
	f.Add(uint8(2), uint8(3), uuid, "", []byte(`{"reason":"no"}`), "eu", "k-1", uint8(1))
	f.Add(uint8(2), uint8(5), "not-a-uuid", "", []byte(`{"reason":"`+strings.Repeat("r", 2001)+`"}`), "us", "", uint8(3))
	f.Add(uint8(1), uint8(0), "", "", []byte(`{"targetEntityId":"us"}`), "global", "key with spaces", uint8(0))
	f.Add(uint8(1), uint8(0), "", "", []byte(`{"targetEntityId":"eu.west"}`), "glo.bal,eu", "\n", uint8(2))
	f.Add(uint8(0), uint8(1), uuid, "", []byte(nil), "", "", uint8(4))
	f.Add(uint8(1), uint8(7), "", "", []byte("grant_type=client_credentials&client_id=root&client_secret=root-secret&scope=entity.eu"), "", "", uint8(4))
	f.Add(uint8(3), uint8(8), "nothing", "x=%zz", []byte(nil), "global", "", uint8(6))
	f.Fuzz(func(t *testing.T, method, path uint8, id, query string, body []byte, entity, key string, user uint8) {
		if q, _ := url.ParseQuery(query); q.Has("minSequence") || id == "changes" {
			t.Skip("may wait for the views or stream changes: not a question of input")
		}
		target := strings.ReplaceAll(paths[int(path)%len(paths)], "%s", url.PathEscape(id))
		if query != "" {
			target += "?" + url.PathEscape(query) // any bytes, as a valid request target
			if q, err := url.ParseQuery(query); err == nil {
				target = target[:strings.IndexByte(target, '?')+1] + q.Encode()
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		r := httptest.NewRequestWithContext(ctx, methods[int(method)%len(methods)], target, bytes.NewReader(body))
		switch u := users[int(user)%len(users)]; u {
		case "":
		case "garbage":
			r.Header.Set("Authorization", "Bearer "+id)
		default:
			r.Header.Set("Authorization", "Bearer "+api.tokens.Issue(u, nil))
		}
		if strings.HasSuffix(target, "/oauth/token") {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if entity != "" {
			r.Header.Set(HeaderEntityIDs, entity)
		}
		if key != "" {
			r.Header.Set(HeaderIdempotencyKey, key)
		}
		w := httptest.NewRecorder()
		api.srv.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s = %d: %s", r.Method, target, w.Code, w.Body)
		}
		var out struct {
			Success *bool `json:"success"`
			Reasons []struct {
				Code int `json:"code"`
			} `json:"reasons"`
		}
		if w.Code >= 300 && w.Code < 400 {
			return // the mux's redirect to the clean path (// or /./ in it)
		}
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s = %d with a body that is not JSON: %v: %s", r.Method, target, w.Code, err, w.Body)
		}
		if w.Code >= 400 && (out.Success == nil || *out.Success || len(out.Reasons) == 0) {
			t.Fatalf("%s %s = %d without the Zuora error body: %s", r.Method, target, w.Code, w.Body)
		}
	})
}
