package main

import (
	"encoding/json"
	"regexp"
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
