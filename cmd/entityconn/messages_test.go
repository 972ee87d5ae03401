package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

// What a first-time user gets wrong is answered with what to write instead, naming the flag
// or the variable, and without the list of every flag below it.
func TestServeSaysWhatToWrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		env     map[string]string
		want    []string
		notWant string
	}{
		{args: []string{"--pending-ttl", "7d"}, want: []string{"-pending-ttl", "for 7 days write 168h"}},
		{env: map[string]string{"ENTITYCONN_PENDING_TTL": "7d"}, want: []string{`ENTITYCONN_PENDING_TTL is "7d"`, "168h"}},
		{args: []string{"--log-level", "verbose"}, want: []string{"-log-level", "use debug, info, warn or error"}},
		{env: map[string]string{"ENTITYCONN_LOG_LEVEL": "verbose"}, want: []string{`ENTITYCONN_LOG_LEVEL is "verbose"`, "use debug, info, warn or error"}},
		{env: map[string]string{"ENTITYCONN_FSYNC": "maybe"}, want: []string{`ENTITYCONN_FSYNC is "maybe"`, "write true or false"}, notWant: "strconv"},
		{args: []string{"--fsync=maybe"}, want: []string{"-fsync", "write true or false"}},
		{env: map[string]string{"ENTITYCONN_REPLICAS": "three"}, want: []string{`ENTITYCONN_REPLICAS is "three"`, "not a whole number"}, notWant: "strconv"},
		// A flag given wins over its variable, whose bad value is then no matter.
		{args: []string{"--fsync=false", "--replicas", "0"}, env: map[string]string{"ENTITYCONN_FSYNC": "maybe"},
			want: []string{"--replicas must be 1 or more"}, notWant: "ENTITYCONN_FSYNC"},
	}
	for _, tt := range tests {
		var out, errb syncBuffer
		args := append([]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}, tt.args...)
		code := run(t.Context(), args, func(k string) string { return tt.env[k] }, &out, &errb)
		stderr := errb.String()
		if code != 2 {
			t.Errorf("serve %v with %v: exit %d, want 2; stderr:\n%s", tt.args, tt.env, code, stderr)
		}
		for _, want := range tt.want {
			if !strings.Contains(stderr, want) {
				t.Errorf("serve %v with %v: stderr lacks %q:\n%s", tt.args, tt.env, want, stderr)
			}
		}
		if tt.notWant != "" && strings.Contains(stderr, tt.notWant) {
			t.Errorf("serve %v with %v: stderr has %q:\n%s", tt.args, tt.env, tt.notWant, stderr)
		}
		if strings.Contains(stderr, "-auth-callout-seed-file") {
			t.Errorf("serve %v with %v: the reason is buried under the list of flags:\n%s", tt.args, tt.env, stderr)
		}
	}
}

// An address in use stops serve at once, naming the flag and what to do, and it prints
// nothing on stdout: no "listening" line, no credentials, for a start that failed.
func TestServeOnAnAddressInUse(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	for _, c := range []struct {
		flag, env string
	}{
		{"--nats-listen", "ENTITYCONN_NATS_LISTEN"},
		{"--http", "ENTITYCONN_HTTP_ADDR"},
	} {
		args := []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", c.flag, addr}
		var out, errb syncBuffer
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		began := time.Now()
		code := run(ctx, args, func(string) string { return "" }, &out, &errb)
		took := time.Since(began)
		cancel()
		want := c.flag + " " + addr + ": the address is in use"
		if code != 1 || !strings.Contains(errb.String(), want) || !strings.Contains(errb.String(), c.env) {
			t.Errorf("serve %s %s (in use): exit %d, stderr:\n%s\nwant 1, %q and %s", c.flag, addr, code, errb.String(), want, c.env)
		}
		if took > 3*time.Second {
			t.Errorf("serve %s %s (in use) took %v to fail, want at once", c.flag, addr, took)
		}
		if out.String() != "" {
			t.Errorf("serve %s %s (in use) printed before it failed:\n%s", c.flag, addr, out.String())
		}
	}
}

// NATS_URL exported for the nats CLI makes serve use that NATS: it says so at start, and
// while it waits for a NATS that is not there, its warnings and /readyz name the variable.
func TestServeNamesNATS_URLFromTheEnvironment(t *testing.T) {
	t.Parallel()
	url := natsjstest.URL(natsjstest.FreePorts(t, 1))
	s := launchServiceEnv(t, func(k string) string {
		if k == "NATS_URL" {
			return url
		}
		return ""
	})
	const hint = "from the environment variable NATS_URL"
	if !strings.Contains(s.stdout.String(), "NATS: "+url+" ("+hint) {
		t.Errorf("stdout does not say where the NATS URL comes from:\n%s", s.stdout)
	}
	eventually(t, "/readyz and a warning name NATS_URL", func() bool {
		r := s.call("GET", "/readyz", "", "", "")
		return r.Status == 503 && strings.Contains(str(r.Body["reason"]), hint) && strings.Contains(s.stderr.String(), "unset NATS_URL")
	})

	// Given as a flag, it is what the user asked for: nothing about the environment.
	f := launchServiceEnv(t, func(string) string { return "" }, "--nats-url", url)
	if got := f.stdout.String(); !strings.Contains(got, "NATS: "+url+" (--nats-url)") || strings.Contains(got, "NATS_URL") {
		t.Errorf("stdout with --nats-url:\n%s", got)
	}
}

// The CLI's users send no Zuora-Entity-Ids header, they give --entity: when the acting
// entity is missing, the CLI says so in those words.
func TestCLIMissingEntityNamesTheFlag(t *testing.T) {
	t.Parallel()
	s := startService(t)
	code, _, stderr := s.cli("root", "list")
	if code != 1 || !strings.Contains(stderr, "Zuora-Entity-Ids") || !strings.Contains(stderr, "--entity") || !strings.Contains(stderr, "ENTITYCONN_ENTITY") {
		t.Errorf("list without --entity for a user of several entities: exit %d, stderr %q; want 1 naming --entity and ENTITYCONN_ENTITY", code, stderr)
	}
	if code, _, stderr := s.cli("root", "list", "--entity", "nowhere"); code != 1 || strings.Contains(stderr, "--entity ID") {
		t.Errorf("list --entity nowhere: exit %d, stderr %q; want 1 without the hint", code, stderr)
	}
}
