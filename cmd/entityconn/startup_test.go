package main

import (
	"context"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/adapters/zuora"
)

// TestServeWaitsForTheCluster starts a replica before its NATS cluster exists: it listens at
// once, alive (/healthz) and not ready (/readyz says what it waits for), answers the API with
// 503, category 61 and Retry-After, and becomes ready once the cluster is up.
func TestServeWaitsForTheCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	// Not parallel: the package's parallel tests run clusters of their own.
	ports := natsjstest.FreePorts(t, 3)
	s := launchServiceEnv(t, func(string) string { return "" }, "--nats-url", natsjstest.URL(ports), "--replicas", "3")

	must(t, s.call("GET", "/healthz", "", "", ""), 200)
	var ready response
	eventually(t, "/readyz says why it waits", func() bool {
		ready = s.call("GET", "/readyz", "", "", "")
		return ready.Status == 503 && strings.Contains(str(ready.Body["reason"]), "waiting for NATS at")
	})
	if ready.Body["status"] != "starting" {
		t.Errorf("/readyz while starting: %s", ready.Raw)
	}
	for _, r := range []response{
		s.call("POST", "/v1/entity-connections", "some-token", "global", `{"targetEntityId":"eu"}`),
		s.call("GET", "/v1/entities", "", "", ""),
		s.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"root"}, "client_secret": {"root-secret"}}),
	} {
		if r.Status != 503 || r.reasonCode() != zuora.CodeBase+61 || r.Header.Get("Retry-After") == "" || r.Body["success"] != false {
			t.Errorf("while starting: HTTP %d, Retry-After %q, %s; want 503, Retry-After and a Zuora error of category 61",
				r.Status, r.Header.Get("Retry-After"), r.Raw)
		}
	}

	natsjstest.ClusterAt(t, ports)
	s.waitReady(2 * time.Minute)
	root := s.token("root")
	id := str(must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`), 200).Body["id"])
	must(t, s.call("PUT", "/v1/entity-connections/"+id+"/accept", s.token("eve"), "eu", ""), 200)
	if log := s.stderr.String(); !strings.Contains(log, "start: waiting for NATS") || !strings.Contains(log, "step=\"NATS at ") {
		t.Errorf("no warning said why it waited:\n%s", log)
	}
	if code := s.stop(); code != 0 { // before the cluster, which started after it, stops
		t.Errorf("serve exited with %d:\n%s", code, s.stderr)
	}
}

// TestServeRefusesWrongNATSCredentials: a password the cluster refuses is configuration that
// no wait can cure; serve exits at once with a message naming the flag.
func TestServeRefusesWrongNATSCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	// Not parallel: the package's parallel tests run clusters of their own.
	d := startDeployment(t)
	env := maps.Clone(d.env)
	env["NATS_PASSWORD"] = "not-the-password"
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out, errb syncBuffer
	began := time.Now()
	code := run(ctx, []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--nats-url", d.url, "--replicas", "3",
		"--directory", "../../deploy/directory.yaml"}, func(k string) string { return env[k] }, &out, &errb)
	if ctx.Err() != nil {
		t.Fatalf("serve with a wrong NATS password was still waiting after %v:\n%s", time.Since(began), errb.String())
	}
	if code != 1 || !strings.Contains(strings.ToLower(errb.String()), "authorization violation") || !strings.Contains(errb.String(), "--nats-password") {
		t.Errorf("serve with a wrong NATS password: exit %d, stderr:\n%s\nwant 1 and a message naming --nats-password", code, errb.String())
	}
}

// TestServeRefusesReplicasASingleServerCannotHave: --replicas 3 can never work on the
// embedded server, nor on an external server that is not clustered: serve exits at once
// naming --replicas instead of waiting.
func TestServeRefusesReplicasASingleServerCannotHave(t *testing.T) {
	t.Parallel()
	_, single := natsjstest.Single(t)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"--replicas", "3"}, 2},
		{[]string{"--replicas", "3", "--nats-url", single}, 1},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		var out, errb syncBuffer
		code := run(ctx, append([]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}, c.args...),
			func(string) string { return "" }, &out, &errb)
		if ctx.Err() != nil {
			t.Errorf("serve %v was still waiting after a minute:\n%s", c.args, errb.String())
		} else if code != c.code || !strings.Contains(errb.String(), "--replicas 3") || !strings.Contains(errb.String(), "--replicas 1") {
			t.Errorf("serve %v: exit %d, stderr:\n%s\nwant %d and a message naming --replicas", c.args, code, errb.String(), c.code)
		}
		cancel()
	}
}

// postForm posts a form and decodes the answer.
func (s *service) postForm(path string, form url.Values) response {
	s.t.Helper()
	return s.call("POST", path, "", "", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
}

// TestServeStopsWhileWaiting: SIGINT or SIGTERM (ctx) ends a start that waits for NATS, with
// exit status 0.
func TestServeStopsWhileWaiting(t *testing.T) {
	t.Parallel()
	s := launchServiceEnv(t, func(string) string { return "" }, "--nats-url", natsjstest.URL(natsjstest.FreePorts(t, 1)))
	eventually(t, "/readyz says why it waits", func() bool {
		r := s.call("GET", "/readyz", "", "", "")
		return r.Status == 503 && strings.Contains(str(r.Body["reason"]), "waiting for NATS at")
	})
	began := time.Now()
	if code := s.stop(); code != 0 {
		t.Errorf("serve stopped while waiting: exit %d, want 0:\n%s", code, s.stderr)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("serve took %v to stop while waiting", took)
	}
}
