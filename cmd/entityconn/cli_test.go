package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
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

func TestCLISettingsAndAsOfAgainstTheService(t *testing.T) {
	t.Parallel()
	s := startService(t)
	if code, out, errOut := s.cli("eve", "settings"); code != 0 || out != "auto-accept from no entity\n" {
		t.Fatalf("settings never set: exit %d, %q %s", code, out, errOut)
	}
	if code, _, errOut := s.cli("viv", "settings", "--entity", "eu", "--auto-accept-from", "global"); code != 1 || !strings.Contains(errOut, "403") {
		t.Errorf("settings changed by a user, not an admin: exit %d, stderr %q; want 1 and 403", code, errOut)
	}
	if code, _, errOut := s.cli("eve", "settings", "--auto-accept-from", "eu"); code != 1 || !strings.Contains(errOut, "400") {
		t.Errorf("settings naming the acting entity: exit %d, stderr %q; want 1 and 400", code, errOut)
	}
	before := eventCount(t, s.js(), "")
	if before != 0 {
		t.Fatalf("refused changes stored %d events", before)
	}
	t0 := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(20 * time.Millisecond)
	if code, out, errOut := s.cli("eve", "settings", "--auto-accept-from", "global"); code != 0 || !strings.HasPrefix(out, "set auto-accept from global, sequence ") {
		t.Fatalf("settings --auto-accept-from global: exit %d, %q %s", code, out, errOut)
	}
	if code, out, _ := s.cli("viv", "settings", "--entity", "eu", "--json"); code != 0 || out != "{\n  \"autoAcceptFrom\": [\n    \"global\"\n  ]\n}\n" {
		t.Errorf("settings --json as a user of eu: exit %d, %q", code, out)
	}
	code, out, errOut := s.cli("root", "request", "--entity", "global", "eu")
	id := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`).FindString(out)
	if code != 0 || id == "" || !strings.Contains(out, "(global → eu), status Connected, sequence ") {
		t.Fatalf("request from an allowed source: exit %d, %q %s; want status Connected", code, out, errOut)
	}
	if code, out, _ := s.cli("root", "request", "--entity", "us", "eu"); code != 0 || !strings.Contains(out, ", status Pending, ") {
		t.Errorf("request from another source: exit %d, %q; want status Pending", code, out)
	}
	time.Sleep(20 * time.Millisecond)
	t1 := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(20 * time.Millisecond)
	code, out, _ = s.cli("eve", "disconnect", id)
	seq := strings.TrimSpace(out[strings.LastIndex(out, " ")+1:])
	if code != 0 {
		t.Fatalf("disconnect: exit %d, %q", code, out)
	}
	if code, _, _ := s.cli("root", "list", "--entity", "global", "--min-sequence", seq); code != 0 {
		t.Fatalf("list --min-sequence %s: exit %d", seq, code)
	}

	if code, _, errOut := s.cli("eve", "get", "--as-of", t0, id); code != 1 || !strings.Contains(errOut, "404") {
		t.Errorf("get as of before the request: exit %d, stderr %q; want 1 and 404", code, errOut)
	}
	code, out, _ = s.cli("eve", "get", "--as-of", t1, id)
	if code != 0 || !strings.Contains(out, "STATUS        Connected") || !strings.Contains(out, "ConnectionAccepted   system:auto-accept  eu") ||
		strings.Contains(out, "Disconnected") {
		t.Errorf("get as of between the acceptance and the end: exit %d\n%s\nwant Connected, accepted by system:auto-accept", code, out)
	}
	code, out, _ = s.cli("root", "list", "--entity", "global", "--as-of", t1, "--json")
	var items []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &items) != nil || len(items) != 1 || items[0]["status"] != "Connected" {
		t.Errorf("list as of t1: exit %d, %s; want one Connected", code, out)
	}
	if code, out, _ := s.cli("root", "list", "--entity", "global", "--as-of", t0); code != 0 || out != "no connections\n" {
		t.Errorf("list as of t0: exit %d, %q; want none", code, out)
	}
	if code, out, _ := s.cli("eve", "shared", "--as-of", t1); code != 0 || out != "no shared objects\n" {
		t.Errorf("shared as of t1: exit %d, %q", code, out)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if code, _, errOut := s.cli("root", "list", "--entity", "global", "--as-of", future); code != 1 || !strings.Contains(errOut, "in the future") || !strings.Contains(errOut, "53000020") {
		t.Errorf("list as of a time in the future: exit %d, stderr %q; want 1 and the reason", code, errOut)
	}
}
