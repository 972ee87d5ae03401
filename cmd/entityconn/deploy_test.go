package main

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"

	"github.com/entityconn/entityconn/adapters/natsclient"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

// deployment is the stack of docker-compose.yml on loopback: three NATS servers configured
// by deploy/nats/n*.conf (auth.conf included), and entityconn replicas with the environment
// of deploy/entityconn.env and the directory deploy/directory.yaml.
type deployment struct {
	url     string
	env     map[string]string
	secrets map[string]string // client id → secret, from deploy/directory.yaml
}

func startDeployment(t *testing.T) *deployment {
	t.Helper()
	_, url := natsjstest.ClusterFromFiles(t, "../../deploy/nats/n1.conf", "../../deploy/nats/n2.conf", "../../deploy/nats/n3.conf")
	d := &deployment{url: url, env: natsjstest.EnvFile(t, "../../deploy/entityconn.env"), secrets: map[string]string{}}
	b, err := os.ReadFile("../../deploy/directory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var dir struct {
		Users []struct {
			ClientID     string `yaml:"clientId"`
			ClientSecret string `yaml:"clientSecret"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal(b, &dir); err != nil {
		t.Fatal(err)
	}
	for _, u := range dir.Users {
		d.secrets[u.ClientID] = u.ClientSecret
	}
	return d
}

// replica starts an entityconn replica as docker-compose.yml does.
func (d *deployment) replica(t *testing.T) *service {
	t.Helper()
	return startServiceEnv(t, func(k string) string { return d.env[k] },
		"--nats-url", d.url, "--replicas", "3", "--directory", "../../deploy/directory.yaml")
}

// connect signs in the deploy directory's user id (client id = user id there).
func (d *deployment) connect(t *testing.T, user string, opts ...nats.Option) (*nats.Conn, error) {
	t.Helper()
	nc, err := nats.Connect(d.url, append(append(natsclient.SignIn(user, d.secrets[user], user), nats.MaxReconnects(0)), opts...)...)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

// service connects as the service's own identity.
func (d *deployment) service(t *testing.T) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(d.url, nats.UserInfo(d.env["NATS_USER"], d.env["NATS_PASSWORD"]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestDeployment runs the deployment of docker-compose.yml on loopback and checks its trust
// boundary: no anonymous client, directory users signed in by the replicas with the rights of
// their grants, on every node, and a revoked grant closing the user's connections on the
// node that holds them.
func TestDeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	t.Parallel()
	d := startDeployment(t)
	a, b := d.replica(t), d.replica(t)

	if _, err := nats.Connect(d.url, nats.MaxReconnects(0)); err == nil {
		t.Error("an anonymous client connected to the deployment's NATS")
	}
	if _, err := d.connect(t, "eu-finance", nats.UserInfo("eu-finance", "wrong-secret")); err == nil {
		t.Error("eu-finance connected with a wrong secret")
	}

	// eu-finance reads eu's events, live, and not us's.
	violations := make(chan error, 8)
	dropped := make(chan struct{}, 1)
	eu, err := d.connect(t, "eu-finance", nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }),
		nats.DisconnectErrHandler(func(*nats.Conn, error) {
			select {
			case dropped <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		t.Fatalf("eu-finance signs in: %v\n%s", err, a.stderr)
	}
	live, err := eu.SubscribeSync("entityconn.events.*.eu.>")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eu.SubscribeSync("entityconn.events.us.>"); err != nil {
		t.Fatal(err)
	}
	if err := eu.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-violations:
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), "entityconn.events.us.>") {
			t.Errorf("subscribing to us's events: %v, want a permission violation", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("eu-finance subscribed to us's events")
	}
	treasury := a.tokenWith("treasury-admin", d.secrets["treasury-admin"])
	requested := must(t, a.call("POST", "/v1/entity-connections", treasury, "global", `{"targetEntityId":"eu"}`), 200)
	m, err := live.NextMsg(10 * time.Second)
	if err != nil || !strings.HasPrefix(m.Subject, "entityconn.events.global.eu.ConnectionRequested") {
		t.Fatalf("eu-finance's live subscription: %v, %v; want global→eu's request", m, err)
	}

	// The NATS request door acts for the subject's user, on either replica.
	c, err := natsclient.New(eu, natsclient.WithActor("eu-finance", "eu"))
	if err != nil {
		t.Fatal(err)
	}
	seq, _ := strconv.ParseUint(seqOf(t, requested), 10, 64)
	list, err := c.List(t.Context(), natsclient.ListOptions{Type: "inbound", MinSequence: seq})
	if err != nil || len(list) != 1 {
		t.Errorf("eu-finance lists eu's inbound connections over NATS: %v, %v; want the request", list, err)
	}

	// A revoked grant closes the user's connections within 5 s, whichever node holds them;
	// the client signs in again, with the rights it has now: its subscription to eu's events
	// is refused.
	revoked, err := os.ReadFile("../../deploy/directory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := strings.Replace(string(revoked), "      - {entity: eu, role: admin}\n      - {entity: global, role: user}\n", "      - {entity: global, role: user}\n", 1)
	if file == string(revoked) {
		t.Fatal("the deploy directory no longer has eu-finance's grants as this test expects")
	}
	js, err := jetstream.New(d.service(t))
	if err != nil {
		t.Fatal(err)
	}
	res, err := natsjs.Bind(t.Context(), js)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	at := time.Now()
	if _, _, err := natsjs.NewDirectoryStore(res, nil).Import(ctx, []byte(file)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dropped:
		t.Logf("eu-finance's connection closed %v after the grant was revoked", time.Since(at).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatalf("eu-finance's connection is still open 5 s after her grant on eu was revoked\n%s\n%s", a.stderr, b.stderr)
	}
	// Signed in again, the client subscribes again: to us's events (refused as before) and to
	// eu's, refused now.
	deadline := time.After(10 * time.Second)
	for refused := false; !refused; {
		select {
		case err := <-violations:
			refused = errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), "entityconn.events.*.eu.>")
		case <-deadline:
			t.Fatal("eu-finance signed in again and kept her subscription to eu's events")
		}
	}
	_ = b
}
