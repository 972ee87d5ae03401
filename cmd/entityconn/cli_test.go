package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// cli runs a client subcommand of the real program against s.
func (s *service) cli(client string, args ...string) (code int, stdout, stderr string) {
	s.t.Helper()
	env := map[string]string{"ENTITYCONN_URL": s.base, "ENTITYCONN_CLIENT_ID": client, "ENTITYCONN_CLIENT_SECRET": client + "-secret"}
	var out, errb syncBuffer
	code = run(s.t.Context(), args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLIAgainstTheService(t *testing.T) {
	t.Parallel()
	s := startService(t)
	code, out, errOut := s.cli("root", "request", "--entity", "global", "eu")
	if code != 0 {
		t.Fatalf("request: exit %d, %s", code, errOut)
	}
	id := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`).FindString(out)
	if id == "" {
		t.Fatalf("request printed %q, want the connection id", out)
	}
	if code, _, errOut = s.cli("eve", "accept", id); code != 0 { // eve has one entity: no --entity needed
		t.Fatalf("accept: exit %d, %s", code, errOut)
	}
	code, out, _ = s.cli("root", "list", "--entity", "global", "--type", "outbound", "--json", "--min-sequence", "2")
	var items []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &items) != nil || len(items) != 1 || items[0]["status"] != "Connected" {
		t.Errorf("list --json: exit %d, %s; want one Connected item", code, out)
	}
	code, out, _ = s.cli("root", "get", "--entity", "global", id)
	if code != 0 || !strings.Contains(out, "ConnectionAccepted") || !strings.Contains(out, "Connected") {
		t.Errorf("get: exit %d\n%s\nwant the status and a history with the acceptance", code, out)
	}
	// A refused command: non-zero exit and the reason on stderr.
	code, _, errOut = s.cli("root", "request", "--entity", "global", "eu")
	if code == 0 || !strings.Contains(errOut, "409") || !strings.Contains(errOut, "already exists") {
		t.Errorf("duplicate request: exit %d, stderr %q; want non-zero and the reason", code, errOut)
	}
	code, _, errOut = s.cli("viv", "disconnect", "--entity", "eu", id)
	if code == 0 || !strings.Contains(errOut, "403") {
		t.Errorf("disconnect by a non-admin: exit %d, stderr %q", code, errOut)
	}
}

func TestCLISharesAgainstTheService(t *testing.T) {
	t.Parallel()
	s := startService(t)
	code, out, errOut := s.cli("root", "request", "--entity", "global", "eu")
	id := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`).FindString(out)
	if code != 0 || id == "" {
		t.Fatalf("request: exit %d, %s%s", code, out, errOut)
	}
	if code, _, errOut = s.cli("eve", "accept", id); code != 0 {
		t.Fatalf("accept: exit %d, %s", code, errOut)
	}
	if code, _, errOut = s.cli("root", "request", "--entity", "global", "us"); code != 0 {
		t.Fatalf("request us: exit %d, %s", code, errOut)
	}
	before := eventCount(t, s.js(), "")

	// All or none: us is Pending, so nothing is shared.
	code, _, errOut = s.cli("root", "share", "--entity", "global", "Product", "P-100", "--to", "eu,us")
	if code == 0 || !strings.Contains(errOut, "409") || !strings.Contains(errOut, `"us"`) {
		t.Errorf("share with a Pending target: exit %d, stderr %q; want non-zero naming us", code, errOut)
	}
	code, out, errOut = s.cli("root", "share", "--entity", "global", "Product", "P-100", "--to", "eu", "--json")
	var shared struct {
		Sequence uint64 `json:"sequence"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &shared) != nil || shared.Sequence == 0 {
		t.Fatalf("share: exit %d, %s%s; want JSON with a sequence", code, out, errOut)
	}
	seq := strconv.FormatUint(shared.Sequence, 10)
	code, out, _ = s.cli("eve", "shared", "--direction", "sharedWith", "--min-sequence", seq)
	if code != 0 || !strings.Contains(out, "Product  P-100  global  eu") || !strings.Contains(out, "root") {
		t.Errorf("shared with eu: exit %d\n%s\nwant P-100 from global, shared by root", code, out)
	}
	code, out, _ = s.cli("root", "shared", "--entity", "global", "--direction", "sharedBy", "--type", "Product", "--json", "--min-sequence", seq)
	var items []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &items) != nil || len(items) != 1 || items[0]["objectId"] != "P-100" || items[0]["connectionId"] != id {
		t.Errorf("shared by global --json: exit %d, %s; want P-100 over %s", code, out, id)
	}

	// Refused and bad: non-zero with the reason, nothing stored.
	for _, c := range []struct {
		user string
		args []string
		want string
	}{
		{"viv", []string{"share", "--entity", "global", "Product", "P-200", "--to", "eu"}, "403"},
		{"viv", []string{"unshare", "--entity", "global", "Product", "P-100", "--from", "eu"}, "403"},
		{"root", []string{"share", "--entity", "global", "product", "P-200", "--to", "eu"}, "400"},
		{"root", []string{"unshare", "--entity", "global", "Product", "P-200", "--from", "eu"}, "409"},
	} {
		if code, _, errOut := s.cli(c.user, c.args...); code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s %v: exit %d, stderr %q; want non-zero with %s", c.user, c.args, code, errOut, c.want)
		}
	}
	if n := eventCount(t, s.js(), ""); n != before+1 {
		t.Fatalf("after one share and refusals: %d events more, want 1", n-before)
	}

	code, out, errOut = s.cli("root", "unshare", "--entity", "global", "Product", "P-100", "--from", "eu")
	if code != 0 || !strings.HasPrefix(out, "unshared Product P-100 from eu, sequence ") {
		t.Fatalf("unshare: exit %d, %q %s", code, out, errOut)
	}
	seq = strings.TrimSpace(strings.TrimPrefix(out, "unshared Product P-100 from eu, sequence "))
	if code, out, _ = s.cli("eve", "shared", "--min-sequence", seq); code != 0 || out != "no shared objects\n" {
		t.Errorf("shared with eu after the unshare: exit %d, %q", code, out)
	}
}
