package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestClientShareAndUnshare(t *testing.T) {
	tests := []struct {
		sub      string
		args     []string
		want     string
		wantPath string
		wantBody string
	}{
		{"share", []string{"Product", "P-100", "--to", "eu,us"}, "shared Product P-100 with eu, us, sequence 14\n",
			"/v1/shared-objects/Product/P-100/share", `{"toEntityIds":["eu","us"]}`},
		{"share", []string{"--to", "eu", "--to=us", "Product", "P-100"}, "shared Product P-100 with eu, us, sequence 14\n",
			"/v1/shared-objects/Product/P-100/share", `{"toEntityIds":["eu","us"]}`},
		{"share", []string{"AccountingPeriod", "--to", " eu ", "2026-11"}, "shared AccountingPeriod 2026-11 with eu, sequence 14\n",
			"/v1/shared-objects/AccountingPeriod/2026-11/share", `{"toEntityIds":["eu"]}`},
		{"unshare", []string{"Product", "P-100", "--from", "eu"}, "unshared Product P-100 from eu, sequence 14\n",
			"/v1/shared-objects/Product/P-100/unshare", `{"fromEntityIds":["eu"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.sub+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			f := clientStartFake(t)
			code, stdout, stderr := clientRun(t, f.clientEnv("ENTITYCONN_ENTITY", "global"), tt.sub, tt.args...)
			if code != 0 || stdout != tt.want || stderr != "" {
				t.Fatalf("%s = %d, %q, %q; want 0, %q, \"\"", tt.sub, code, stdout, stderr, tt.want)
			}
			r := f.requests()[0]
			if r.method != "PUT" || r.path != tt.wantPath || r.body != tt.wantBody || r.header.Get("Zuora-Entity-Ids") != "global" {
				t.Errorf("request = %s %s %q (entity %q), want PUT %s %q in global", r.method, r.path, r.body, r.header.Get("Zuora-Entity-Ids"), tt.wantPath, tt.wantBody)
			}
		})
	}
}

func TestClientShareHeadersAndJSON(t *testing.T) {
	f := clientStartFake(t)
	code, stdout, stderr := clientRun(t, f.clientEnv(), "share", "Product", "P-100", "--to", "eu,us", "--json",
		"--idempotency-key", "key-7", "--track-id", "track-7")
	if code != 0 {
		t.Fatalf("exit = %d, stderr = %q", code, stderr)
	}
	want := "{\n  \"objectType\": \"Product\",\n  \"objectId\": \"P-100\",\n  \"toEntityIds\": [\n    \"eu\",\n    \"us\"\n  ],\n  \"sequence\": 14\n}\n"
	if stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	h := f.requests()[0].header
	if h.Get("Idempotency-Key") != "key-7" || h.Get("Zuora-Track-Id") != "track-7" {
		t.Errorf("headers = %v, want the idempotency key and the track id", h)
	}
}

func TestClientSharedTable(t *testing.T) {
	f := clientStartFake(t)
	code, stdout, stderr := clientRun(t, f.clientEnv(), "shared", "--direction", "sharedBy", "--type", "Product", "--page-size", "2", "--min-sequence", "14")
	if code != 0 {
		t.Fatalf("exit = %d, stderr = %q", code, stderr)
	}
	want := "" +
		"TYPE     ID     SOURCE  TARGET    SHARED BY  SHARED AT\n" +
		"Product  P-100  global  eu        alice      2026-11-27T10:13:00Z\n" +
		"Product  P-42   global  americas  alice      2026-11-27T10:12:00Z\n" +
		"next page: 2\n"
	if stdout != want {
		t.Errorf("stdout =\n%s\nwant\n%s", stdout, want)
	}
	if got := f.requests()[0].query; got != "direction=sharedBy&minSequence=14&objectType=Product&pageSize=2" {
		t.Errorf("query = %q", got)
	}
}

func TestClientSharedAllJSON(t *testing.T) {
	f := clientStartFake(t)
	code, stdout, stderr := clientRun(t, f.clientEnv(), "shared", "--all", "--json")
	if code != 0 {
		t.Fatalf("exit = %d, stderr = %q", code, stderr)
	}
	var items []map[string]any
	if err := json.Unmarshal([]byte(stdout), &items); err != nil {
		t.Fatalf("stdout is not a JSON array: %v\n%s", err, stdout)
	}
	if len(items) != 3 || items[0]["objectId"] != "P-100" || items[2]["objectId"] != "P-1" || items[1]["targetEntityId"] != "americas" ||
		items[0]["sharedAt"] != "2026-11-27T10:13:00.5Z" || items[0]["connectionId"] != clientTestID1 {
		t.Errorf("items = %v", items)
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("requests = %d, want 2 pages", n)
	}
}

func TestClientShareRefused(t *testing.T) {
	f := clientStartFake(t)
	code, stdout, stderr := clientRun(t, f.clientEnv(), "share", "Product", "P-409", "--to", "eu,us")
	want := "entityconn: rule violation: \"us\" has no Connected connection from \"global\" (HTTP 409, code 53000030)\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("share = %d, %q, %q; want 1, \"\", %q", code, stdout, stderr, want)
	}
}

func TestClientShareUsageErrors(t *testing.T) {
	tests := []struct {
		sub  string
		args []string
		want string // in stderr, besides the usage line
	}{
		{"share", nil, "missing the object type and id"},
		{"share", []string{"Product", "--to", "eu"}, "missing the object id"},
		{"share", []string{"Product", "P-1"}, "missing --to: the entities to share with"},
		{"unshare", []string{"Product", "P-1", "--to", "eu"}, "flag provided but not defined: -to"},
		{"unshare", []string{"Product", "P-1"}, "missing --from: the entities to stop sharing with"},
		{"share", []string{"Product", "P-1", "--to", "eu,,us"}, "an entity id is empty"},
		{"share", []string{"Product", "P-1", "P-2", "--to", "eu"}, `unexpected argument "P-2"`},
		{"share", []string{"Product", "", "--to", "eu"}, "an argument is empty"},
		{"share", []string{"Product", "P-1", "--to", "eu", "--reason", "r"}, "flag provided but not defined: -reason"},
		{"shared", []string{"--direction", "both"}, `--direction is "both", want sharedBy or sharedWith`},
		{"shared", []string{"Product"}, `unexpected argument "Product"`},
		{"shared", []string{"--idempotency-key", "k"}, "flag provided but not defined: -idempotency-key"},
	}
	for _, tt := range tests {
		t.Run(tt.sub+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			f := clientStartFake(t)
			code, stdout, stderr := clientRun(t, f.clientEnv(), tt.sub, tt.args...)
			if code != 2 || stdout != "" {
				t.Errorf("exit = %d, stdout = %q; want 2 and nothing", code, stdout)
			}
			if !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "usage: entityconn "+tt.sub+" ") {
				t.Errorf("stderr = %q, want %q and the usage line", stderr, tt.want)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}
