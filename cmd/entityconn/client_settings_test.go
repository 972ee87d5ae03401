package main

import (
	"strings"
	"testing"
)

func TestClientSettingsReadAndChange(t *testing.T) {
	f := clientStartFake(t)
	env := f.clientEnv("ENTITYCONN_ENTITY", "eu")
	steps := []struct {
		args           []string
		want           string
		method, body   string // what is sent
		idempotencyKey string
	}{
		{nil, "auto-accept from no entity\n", "GET", "", ""},
		{[]string{"--auto-accept-from", "global,us"}, "set auto-accept from global, us, sequence 15\n", "PUT", `{"autoAcceptFrom":["global","us"]}`, ""},
		{nil, "auto-accept from global, us\n", "GET", "", ""},
		{[]string{"--auto-accept-from", "global", "--auto-accept-from=us", "--idempotency-key", "k-9"}, "set auto-accept from global, us, sequence 15\n",
			"PUT", `{"autoAcceptFrom":["global","us"]}`, "k-9"},
		{[]string{"--auto-accept-from", "*"}, "set auto-accept from every entity (*), sequence 15\n", "PUT", `{"autoAcceptFrom":["*"]}`, ""},
		{nil, "auto-accept from every entity (*)\n", "GET", "", ""},
		{[]string{"--json"}, "{\n  \"autoAcceptFrom\": [\n    \"*\"\n  ]\n}\n", "GET", "", ""},
		{[]string{"--auto-accept-none"}, "set auto-accept from no entity, sequence 15\n", "PUT", `{"autoAcceptFrom":[]}`, ""},
		{[]string{"--auto-accept-none", "--json"}, "{\n  \"autoAcceptFrom\": [],\n  \"sequence\": 15\n}\n", "PUT", `{"autoAcceptFrom":[]}`, ""},
		{[]string{"--json"}, "{\n  \"autoAcceptFrom\": []\n}\n", "GET", "", ""},
	}
	for i, st := range steps {
		code, stdout, stderr := clientRun(t, env, "settings", st.args...)
		if code != 0 || stdout != st.want || stderr != "" {
			t.Fatalf("settings %v = %d, %q, %q; want 0, %q", st.args, code, stdout, stderr, st.want)
		}
		r := f.requests()[i]
		if r.method != st.method || r.path != "/v1/entity-sharing-settings" || r.body != st.body || r.header.Get("Zuora-Entity-Ids") != "eu" ||
			r.header.Get("Idempotency-Key") != st.idempotencyKey {
			t.Errorf("settings %v sent %s %s %q (entity %q, key %q), want %s %q in eu with key %q", st.args, r.method, r.path, r.body,
				r.header.Get("Zuora-Entity-Ids"), r.header.Get("Idempotency-Key"), st.method, st.body, st.idempotencyKey)
		}
	}
}

func TestClientSettingsRefused(t *testing.T) {
	f := clientStartFake(t)
	code, stdout, stderr := clientRun(t, f.clientEnv("ENTITYCONN_ENTITY", "apac"), "settings", "--auto-accept-from", "global")
	want := "entityconn: user \"alice\" is not an admin of \"apac\" (HTTP 403, code 53000010)\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("settings = %d, %q, %q; want 1, \"\", %q", code, stdout, stderr, want)
	}
}

func TestClientRequestPrintsItsStatus(t *testing.T) {
	f := clientStartFake(t)
	code, stdout, stderr := clientRun(t, f.clientEnv(), "request", "--entity", "global", "apac")
	if want := "requested connection " + clientTestID1 + " (global → apac), status Connected, sequence 12\n"; code != 0 || stdout != want {
		t.Errorf("request = %d, %q, %q; want 0, %q", code, stdout, stderr, want)
	}
}

func TestClientAsOf(t *testing.T) {
	f := clientStartFake(t)
	env := f.clientEnv("ENTITYCONN_ENTITY", "global")
	for _, c := range []struct {
		sub   string
		args  []string
		path  string
		query string
	}{
		{"list", []string{"--as-of", "2026-11-27T10:00:00Z", "--type", "outbound"}, "/v1/entity-connections", "asOf=2026-11-27T10%3A00%3A00Z&type=outbound"},
		{"get", []string{clientTestID1, "--as-of=2026-11-27T11:00:00.5+01:00"}, "/v1/entity-connections/" + clientTestID1, "asOf=2026-11-27T10%3A00%3A00.5Z"},
		{"shared", []string{"--as-of", "2026-11-27T10:00:00Z", "--direction", "sharedBy"}, "/v1/shared-objects", "asOf=2026-11-27T10%3A00%3A00Z&direction=sharedBy"},
	} {
		n := len(f.requests())
		code, stdout, stderr := clientRun(t, env, c.sub, c.args...)
		if code != 0 || stdout == "" || stderr != "" {
			t.Errorf("%s %v = %d, %q, %q", c.sub, c.args, code, stdout, stderr)
			continue
		}
		if r := f.requests()[n]; r.method != "GET" || r.path != c.path || r.query != c.query {
			t.Errorf("%s %v sent %s %s?%s, want GET %s?%s", c.sub, c.args, r.method, r.path, r.query, c.path, c.query)
		}
	}
	// A time the server refuses (in the future): 1 with its reason.
	code, stdout, stderr := clientRun(t, env, "list", "--as-of", "2099-01-01T00:00:00Z")
	if want := "entityconn: asOf 2099-01-01T00:00:00Z is in the future (HTTP 400, code 53000020)\n"; code != 1 || stdout != "" || stderr != want {
		t.Errorf("list --as-of 2099 = %d, %q, %q; want 1, %q", code, stdout, stderr, want)
	}
}

func TestClientSettingsAndAsOfUsageErrors(t *testing.T) {
	tests := []struct {
		sub  string
		args []string
		want string // in stderr, besides the usage line
	}{
		{"settings", []string{"--auto-accept-from", "global", "--auto-accept-none"}, "--auto-accept-from and --auto-accept-none exclude each other"},
		{"settings", []string{"--auto-accept-from", "global,,us"}, "an entity id is empty"},
		{"settings", []string{"--auto-accept-from"}, "flag needs an argument"},
		{"settings", []string{"global"}, `unexpected argument "global"`},
		{"settings", []string{"--idempotency-key", "k"}, "--idempotency-key and --track-id go with a change"},
		{"settings", []string{"--as-of", "2026-11-27T10:00:00Z"}, "flag provided but not defined: -as-of"},
		{"list", []string{"--as-of", "yesterday"}, `--as-of "yesterday" is not an RFC 3339 time`},
		{"get", []string{"--as-of", "2026-11-27", clientTestID1}, `--as-of "2026-11-27" is not an RFC 3339 time`},
		{"shared", []string{"--as-of="}, ""},
		{"request", []string{"--as-of", "2026-11-27T10:00:00Z", "eu"}, "flag provided but not defined: -as-of"},
		{"list", []string{"--auto-accept-none"}, "flag provided but not defined: -auto-accept-none"},
	}
	for _, tt := range tests {
		t.Run(tt.sub+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			f := clientStartFake(t)
			code, stdout, stderr := clientRun(t, f.clientEnv(), tt.sub, tt.args...)
			if tt.want == "" { // an empty --as-of is no --as-of
				if code != 0 || f.requests()[0].query != "" {
					t.Errorf("exit = %d, query %q; want 0 and no asOf", code, f.requests()[0].query)
				}
				return
			}
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

func TestClientSettingsHelp(t *testing.T) {
	code, stdout, stderr := clientRun(t, func(string) string { return "" }, "settings", "-h")
	for _, want := range []string{"usage: entityconn settings [--auto-accept-from", "-auto-accept-none", "-idempotency-key"} {
		if code != 0 || stdout != "" || !strings.Contains(stderr, want) {
			t.Errorf("settings -h = %d, %q, %q; want %q", code, stdout, stderr, want)
		}
	}
	code, stdout, stderr = clientRun(t, func(string) string { return "" }, "list", "-h")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "-as-of time") {
		t.Errorf("list -h = %d, %q, %q; want the --as-of flag", code, stdout, stderr)
	}
}
