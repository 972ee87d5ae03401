package natsauth_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/directoryfile"
	"github.com/entityconn/entityconn/adapters/natsauth"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/domain"
)

// lockedBuffer is a buffer safe for concurrent writes and reads.
type lockedBuffer = apptest.SyncBuffer

// dirHolder is a directory that tests can swap.
type dirHolder struct {
	p atomic.Pointer[domain.Directory]
}

func (d *dirHolder) Current() *domain.Directory { return d.p.Load() }

func parse(t *testing.T, file string) *domain.Directory {
	t.Helper()
	d, err := directoryfile.ParseWith([]byte(file), nil, directoryfile.Options{Cost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// authServer is an embedded server closed to anonymous clients, its auth callout answered
// from dir.
type authServer struct {
	logs *lockedBuffer // the authorizer's log
	srv  *server.Server
	id   natsauth.Identity
	dir  *dirHolder
	au   *natsauth.Authorizer
	svc  *nats.Conn
}

func startAuthServer(t *testing.T, directory string) *authServer {
	t.Helper()
	srv, id, err := natsauth.StartEmbedded(t.TempDir(), natsjs.EmbeddedOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	a := &authServer{logs: &lockedBuffer{}, srv: srv, id: id, dir: &dirHolder{}}
	a.dir.p.Store(parse(t, directory))
	if a.svc, err = nats.Connect(srv.ClientURL(), nats.UserInfo(id.User, id.Password)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.svc.Close)
	if a.au, err = natsauth.NewAuthorizer(a.dir, id, "", slog.New(slog.NewTextHandler(a.logs, nil))); err != nil {
		t.Fatal(err)
	}
	if _, err := a.au.Serve(a.svc); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *authServer) connect(t *testing.T, opts ...nats.Option) (*nats.Conn, error) {
	t.Helper()
	nc, err := nats.Connect(a.srv.ClientURL(), append([]nats.Option{nats.MaxReconnects(0), nats.Timeout(5 * time.Second)}, opts...)...)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

func TestAnonymousAndWrongCredentialsAreRefused(t *testing.T) {
	a := startAuthServer(t, apptest.Directory())
	for name, opts := range map[string][]nats.Option{
		"anonymous":          nil,
		"wrong secret":       {nats.UserInfo("eve", "not-eve-secret")},
		"unknown client":     {nats.UserInfo("mallory", "mallory-secret")},
		"token":              {nats.Token("eve-secret")},
		"service, wrong pwd": {nats.UserInfo(natsauth.ServiceUser, "guess")},
	} {
		if _, err := a.connect(t, opts...); err == nil || !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(err.Error(), "Authorization") {
			t.Errorf("%s: Connect() error = %v, want an authorization violation", name, err)
		}
	}
	if _, err := a.connect(t, nats.UserInfo("eve", "eve-secret")); err != nil {
		t.Errorf("eve with her secret: Connect() error = %v", err)
	}
}

func TestIdentityIsKeptPrivate(t *testing.T) {
	data := t.TempDir()
	id, created, err := natsauth.LoadIdentity(data)
	if err != nil || !created {
		t.Fatalf("first LoadIdentity() = %v, %v", created, err)
	}
	fi, err := os.Stat(filepath.Join(data, natsauth.IdentityFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	again, created, err := natsauth.LoadIdentity(data)
	if err != nil || created || again != id {
		t.Errorf("second LoadIdentity() = %+v, %v, %v; want the same identity, not created", again, created, err)
	}
	if err := os.Chmod(filepath.Join(data, natsauth.IdentityFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := natsauth.LoadIdentity(data); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("LoadIdentity() of a world-readable file: error = %v, want one that says to chmod 600", err)
	}
}

// violations collects the asynchronous permission errors of a connection.
func violations() (nats.Option, <-chan error) {
	ch := make(chan error, 16)
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case ch <- err:
		default:
		}
	}), ch
}

func TestRevokedGrantClosesConnectionsAndNewOnesGetTheNewRights(t *testing.T) {
	directory := apptest.Directory() // its hashes are salted anew on every call
	a := startAuthServer(t, directory)
	ctx := t.Context()
	go func() { _ = a.au.Follow(ctx, natsauth.ServerKicker{Server: a.srv}, 100*time.Millisecond) }()

	closed := make(chan struct{})
	nc, err := a.connect(t, nats.UserInfo("eve", "eve-secret"), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.SubscribeSync("entityconn.events.eu.>"); err != nil {
		t.Fatal(err)
	}
	// sam keeps his rights: his connection must stay.
	sam, err := a.connect(t, nats.UserInfo("sam", "sam-secret"))
	if err != nil {
		t.Fatal(err)
	}

	revoked := strings.Replace(directory, "access: [{entity: eu, role: admin}]", "access: [{entity: global, role: user}]", 1)
	at := time.Now()
	a.dir.p.Store(parse(t, revoked))
	select {
	case <-closed:
		t.Logf("eve's connection closed %v after her grant on eu was revoked", time.Since(at).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("eve's connection still open 5 s after her grant on eu was revoked")
	}
	if !sam.IsConnected() {
		t.Error("sam's connection was closed, but his rights did not change")
	}

	errOpt, errs := violations()
	nc, err = a.connect(t, nats.UserInfo("eve", "eve-secret"), errOpt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.SubscribeSync("entityconn.events.eu.>"); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("subscribe to eu after the revocation: error = %v, want a permission violation", err)
		}
	case <-time.After(2 * time.Second):
		t.Error("eve could subscribe to eu's events after her grant was revoked")
	}
}

// A user whose permissions would not fit the server's maximum payload is refused, not left
// waiting; the others sign in.
func TestTooManyGrantsToSignIn(t *testing.T) {
	var b strings.Builder
	b.WriteString("tenant: big\nentities:\n  - {id: e0, name: E0}\n")
	for i := 1; i < 1000; i++ {
		fmt.Fprintf(&b, "  - {id: e%d, name: E%d, parent: e0}\n", i, i)
	}
	b.WriteString("users:\n  - {id: small, clientId: small, clientSecret: small-secret, access: [{entity: e1, role: admin}]}\n")
	b.WriteString("  - id: big\n    clientId: big\n    clientSecret: big-secret\n    access:\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "      - {entity: e%d, role: user}\n", i)
	}
	a := startAuthServer(t, b.String())
	if _, err := a.connect(t, nats.UserInfo("big", "big-secret")); err == nil {
		t.Error("a user with 1000 grants signed in; its permissions exceed the maximum payload")
	}
	if logs := a.logs.String(); !strings.Contains(logs, "permissions are too large") {
		t.Errorf("the authorizer's log does not say why big was refused:\n%s", logs)
	}
	if _, err := a.connect(t, nats.UserInfo("small", "small-secret")); err != nil {
		t.Errorf("small: Connect() = %v", err)
	}
}
