package main

import (
	"strings"
	"testing"

	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

func TestRebuildSubcommand(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	s := startService(t, "--data", data)
	root := s.token("root")
	id := str(must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`), 200).Body["id"])
	seq := seqOf(t, must(t, s.call("PUT", "/v1/entity-connections/"+id+"/accept", s.token("eve"), "eu", ""), 200))
	before := must(t, s.call("GET", "/v1/entity-connections?minSequence="+seq, root, "global", ""), 200).Raw
	if code := s.stop(); code != 0 {
		t.Fatalf("stop: %d", code)
	}
	var out, errb syncBuffer
	if code := run(t.Context(), []string{"rebuild", "--data", data}, func(string) string { return "" }, &out, &errb); code != 0 {
		t.Fatalf("rebuild: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "rebuilt the views from 2 events") {
		t.Errorf("rebuild printed %q, want the number of events", out.String())
	}
	s2 := startService(t, "--data", data)
	if after := must(t, s2.call("GET", "/v1/entity-connections?minSequence="+seq, s2.token("root"), "global", ""), 200).Raw; after != before {
		t.Errorf("views after rebuild:\n%s\nwant\n%s", after, before)
	}
}

func TestRebuildRefusesWhileServing(t *testing.T) {
	t.Parallel()
	_, url := natsjstest.Single(t)
	startService(t, "--nats-url", url)
	var out, errb syncBuffer
	code := run(t.Context(), []string{"rebuild", "--nats-url", url}, func(string) string { return "" }, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "stop entityconn serve first") || strings.Contains(errb.String(), "NATS_URL") {
		t.Errorf("rebuild --nats-url while serving: exit %d, stderr %q; want a refusal, without a word of NATS_URL", code, errb.String())
	}

	// The same NATS from the environment (exported for the nats CLI): the rebuild says where
	// it goes, since without the variable it would rebuild the store in --data.
	errb = syncBuffer{}
	env := func(k string) string {
		if k == "NATS_URL" {
			return url
		}
		return ""
	}
	code = run(t.Context(), []string{"rebuild"}, env, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "NATS "+url+" (from the environment variable NATS_URL") ||
		!strings.Contains(errb.String(), "unset NATS_URL") || !strings.Contains(errb.String(), "stop entityconn serve first") {
		t.Errorf("rebuild with NATS_URL while serving: exit %d, stderr %q; want a refusal naming NATS_URL", code, errb.String())
	}
}
