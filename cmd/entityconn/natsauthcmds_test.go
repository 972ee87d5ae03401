package main

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsauth"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/events"
)

// runCmd runs the entityconn command args and returns its exit status and output.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errs syncBuffer
	code := run(t.Context(), args, func(string) string { return "" }, &out, &errs)
	return code, out.String(), errs.String()
}

func TestNATSContextIsTheServiceIdentity(t *testing.T) {
	t.Parallel()
	s := startService(t)
	u, err := url.Parse(s.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, "nats-context", "--data", s.data, "--nats-listen", u.Host)
	if code != 0 {
		t.Fatalf("nats-context = %d: %s", code, errs)
	}
	var ctx natsContext
	if err := json.Unmarshal([]byte(out), &ctx); err != nil || ctx.URL != s.natsURL || ctx.User != natsauth.ServiceUser || ctx.Password == "" {
		t.Fatalf("nats-context printed %s (%v); want url %s and the service's user and password", out, err, s.natsURL)
	}
	// The context is what an operator's natscli uses: it may see the streams users may not.
	nc, err := nats.Connect(ctx.URL, nats.UserInfo(ctx.User, ctx.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.Stream(t.Context(), events.Stream); err != nil {
		t.Errorf("stream info with the nats-context identity: %v", err)
	}

	if code, _, errs := runCmd(t, "nats-context", "--data", t.TempDir()); code != 1 || !strings.Contains(errs, "entityconn serve creates it") {
		t.Errorf("nats-context on a data dir serve never used = %d, %q; want 1 saying serve creates the identity", code, errs)
	}
}

func TestNATSPermissions(t *testing.T) {
	t.Parallel()
	s := startService(t)
	u, _ := url.Parse(s.natsURL)
	file := writeDirectory(t, testDirectory)

	fromFile, fromService := runPermissions(t, "--user", "eve", "--directory", file), runPermissions(t, "--user", "eve", "--data", s.data, "--nats-listen", u.Host)
	if fromFile != fromService {
		t.Errorf("nats-permissions from the file and from the service differ:\n%s\n%s", fromFile, fromService)
	}
	var p natsauth.Permissions
	if err := json.Unmarshal([]byte(fromFile), &p); err != nil {
		t.Fatalf("nats-permissions printed %s: %v", fromFile, err)
	}
	has := func(list []string, subject string) bool {
		for _, s := range list {
			if s == subject {
				return true
			}
		}
		return false
	}
	if !has(p.Subscribe.Allow, "entityconn.events.eu.>") || has(p.Subscribe.Allow, "entityconn.events.us.>") ||
		!has(p.Publish.Allow, "entityconn.api.eve.>") || !has(p.Subscribe.Allow, "_INBOX_eve.>") {
		t.Errorf("eve's permissions = %+v; want eu's events, her own api subjects and inbox, and not us's events", p)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--user", "mallory", "--directory", file}, 1, "no such user"},
		{[]string{"--directory", file}, 2, "give --user ID or --config"},
		{[]string{"--user", "eve", "--config", "--directory", file}, 2, "give --user ID or --config"},
		{[]string{"--user", "eve", "--data", t.TempDir()}, 1, "or give --directory FILE"},
	} {
		if code, _, errs := runCmd(t, append([]string{"nats-permissions"}, tc.args...)...); code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("nats-permissions %q = %d, %q; want %d and %q", tc.args, code, errs, tc.code, tc.msg)
		}
	}

	// --config: entries a nats-server takes, with each user's bcrypt hash and permissions.
	entries := runPermissions(t, "--config", "--directory", file)
	o := &server.Options{}
	if err := o.ProcessConfigString("authorization {\n users: [\n" + entries + "\n ]\n}\n"); err != nil {
		t.Fatalf("nats-server refuses the --config entries: %v\n%s", err, entries)
	}
	var eve *server.User
	for _, u := range o.Users {
		if u.Username == "eve" {
			eve = u
		}
	}
	if len(o.Users) != 5 || eve == nil || !strings.HasPrefix(eve.Password, "$2") || eve.Permissions == nil ||
		!has(eve.Permissions.Subscribe.Allow, "entityconn.events.eu.>") {
		t.Errorf("users of --config = %d, eve = %+v; want 5 users, eve with her bcrypt hash and permissions", len(o.Users), eve)
	}
}

func runPermissions(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := runCmd(t, append([]string{"nats-permissions"}, args...)...)
	if code != 0 {
		t.Fatalf("nats-permissions %q = %d: %s", args, code, errs)
	}
	return out
}

func TestNATSServerConfig(t *testing.T) {
	t.Parallel()
	envFile := filepath.Join(t.TempDir(), "entityconn.env")
	code, out, errs := runCmd(t, "nats-server-config", "--env-file", envFile)
	if code != 0 {
		t.Fatalf("nats-server-config = %d: %s", code, errs)
	}
	fi, err := os.Stat(envFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("env file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	env := natsjstest.EnvFile(t, envFile)
	for _, k := range []string{"NATS_USER", "NATS_PASSWORD", "NATS_SYSTEM_USER", "NATS_SYSTEM_PASSWORD", "ENTITYCONN_AUTH_CALLOUT_SEED"} {
		if env[k] == "" {
			t.Errorf("env file has no %s", k)
		}
		if k != "NATS_USER" && k != "NATS_SYSTEM_USER" && strings.Contains(out, env[k]) {
			t.Errorf("the server configuration holds the secret %s in clear", k)
		}
	}
	o := &server.Options{}
	if err := o.ProcessConfigString(out); err != nil {
		t.Fatalf("nats-server refuses the configuration: %v\n%s", err, out)
	}
	id := natsauth.Identity{User: env["NATS_USER"], Password: env["NATS_PASSWORD"], CalloutSeed: env["ENTITYCONN_AUTH_CALLOUT_SEED"]}
	if _, issuer, err := id.Issuer(); err != nil || o.AuthCallout == nil || o.AuthCallout.Issuer != issuer {
		t.Errorf("auth callout = %+v, %v; want the seed's public key as issuer", o.AuthCallout, err)
	}
}
