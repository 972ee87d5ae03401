// Package apptest runs a real entityconn for tests: an embedded NATS server and, on it, the
// event store, directory, views, projector, service and NATS executor, wired as
// cmd/entityconn wires them, without any door. Tests add the doors they exercise.
package apptest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/directoryfile"
	"github.com/entityconn/entityconn/adapters/memstore"
	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/natsauth"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

// Directory returns the directory tests run with. Every secret is "<client id>-secret",
// stored as a cheap bcrypt hash (cost 4) so that tests stay fast under the race detector.
//   - root: admin of global, eu, us; user of apac
//   - eve: admin of eu
//   - viv: user (not admin) of global and eu
//   - sam: admin of us only
//   - svc: a service user (may act as anyone on NATS), user of every entity
func Directory() string {
	return `tenant: acme
entities:
  - {id: global, name: ACME Global}
  - {id: eu, name: ACME Europe, parent: global}
  - {id: us, name: ACME Americas, parent: global}
  - {id: apac, name: ACME Asia Pacific, parent: global}
users:
  - id: root
    clientId: root
    clientSecretHash: '` + CheapHash("root-secret") + `'
    access: [{entity: global, role: admin}, {entity: eu, role: admin}, {entity: us, role: admin}, {entity: apac, role: user}]
  - id: eve
    clientId: eve
    clientSecretHash: '` + CheapHash("eve-secret") + `'
    access: [{entity: eu, role: admin}]
  - id: viv
    clientId: viv
    clientSecretHash: '` + CheapHash("viv-secret") + `'
    access: [{entity: global, role: user}, {entity: eu, role: user}]
  - id: sam
    clientId: sam
    clientSecretHash: '` + CheapHash("sam-secret") + `'
    access: [{entity: us, role: admin}]
  - id: svc
    clientId: svc
    clientSecretHash: '` + CheapHash("svc-secret") + `'
    service: true
    access: [{entity: global, role: user}, {entity: eu, role: user}, {entity: us, role: user}, {entity: apac, role: user}]
`
}

// CheapHash returns a bcrypt hash of secret at the lowest cost.
func CheapHash(secret string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}

// Stack is a running entityconn without doors, on a NATS closed to anonymous clients
// (contract §5a): NC is signed in as the service itself, and directory users sign in with
// [Stack.ConnectAs]. Server is the embedded server of [Start] (nil with [StartOn]).
type Stack struct {
	URL       string
	Server    *server.Server
	Identity  natsauth.Identity
	NC        *nats.Conn
	JS        jetstream.JetStream
	Res       *natsjs.Resources
	Directory *natsjs.DirectoryStore
	Views     *natsjs.Views
	Index     *natsjs.ListIndex
	Service   *app.Service
	Executor  *natsapi.Executor
}

// Start starts an embedded NATS server and a stack on it with Directory(); everything stops
// when the test ends.
func Start(t testing.TB) *Stack {
	t.Helper()
	srv, id, err := natsauth.StartEmbedded(t.TempDir(), natsjs.EmbeddedOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	st := StartOn(t, srv.ClientURL(), id, 1, natsauth.ServerKicker{Server: srv})
	st.Server = srv
	return st
}

// StartOn starts a stack with Directory() on the NATS at url (a cluster, say), which
// authorises users through the auth callout that id's seed signs: the stack signs in as id,
// creates its streams and buckets with replicas, answers the callout, and closes the
// connections of users whose rights change with kick. Everything stops when the test ends.
func StartOn(t testing.TB, url string, id natsauth.Identity, replicas int, kick natsauth.Kicker) *Stack {
	t.Helper()
	nc := natsjstest.Connect(t, url, nats.UserInfo(id.User, id.Password))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := natsjs.Setup(ctx, js, replicas)
	if err != nil {
		t.Fatal(err)
	}
	dirs := natsjs.NewDirectoryStore(res, nil)
	if _, _, err := dirs.Import(ctx, []byte(Directory())); err != nil {
		t.Fatal(err)
	}
	auth, err := natsauth.NewAuthorizer(dirs, id, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Serve(nc); err != nil {
		t.Fatal(err)
	}
	views := natsjs.NewViews(res, nil)
	index := natsjs.NewListIndex(res, nil)
	follow := func(ctx context.Context) error { return auth.Follow(ctx, kick, 100*time.Millisecond) }
	guard := func(ctx context.Context) error { return natsauth.NewConsumerGuard(dirs, js, nil).Run(ctx, nc) }
	Background(t, views.Run, index.Run, dirs.Run, follow, guard, natsjs.NewProjector(res, "test", nil, nil).Run)
	svc := app.New(app.Config{Store: natsjs.NewStore(res), Views: views, Index: index, Directory: dirs, Outcomes: natsjs.NewOutcomes(res)})
	return &Stack{URL: url, Identity: id, NC: nc, JS: js, Res: res, Directory: dirs, Views: views, Index: index, Service: svc,
		Executor: &natsapi.Executor{Service: svc}}
}

// ConnectService returns a new connection signed in as the service itself (it may do
// anything), closed when the test ends.
func (s *Stack) ConnectService(t testing.TB) *nats.Conn {
	t.Helper()
	return natsjstest.Connect(t, s.URL, nats.UserInfo(s.Identity.User, s.Identity.Password))
}

// ConnectAs returns a new connection signed in as the Directory() user id (client id id,
// secret "<id>-secret"), with the inbox prefix its permissions allow, closed when the test
// ends.
func (s *Stack) ConnectAs(t testing.TB, id string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return natsjstest.Connect(t, s.URL, append([]nats.Option{nats.UserInfo(id, id+"-secret"), nats.CustomInboxPrefix(natsauth.InboxPrefix(id))}, opts...)...)
}

// Background runs fs until the test ends, then waits for them to return.
func Background(t testing.TB, fs ...func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Go(func() { _ = f(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// Memory returns a service on an in-memory store (package memstore) with Directory(), and
// the store: for tests of the service that need no NATS. It records no outcomes of command
// ids (retries are recognised by their events); give it a [app.Outcomes] in cfg for that.
// cfg's Store, Views, Index and Directory are set here.
func Memory(t testing.TB, cfg app.Config) (*app.Service, *memstore.Store) {
	t.Helper()
	dir, err := directoryfile.Parse([]byte(Directory()), nil)
	if err != nil {
		t.Fatal(err)
	}
	mem := memstore.New()
	mem.SetDirectory(dir)
	cfg.Store, cfg.Views, cfg.Index, cfg.Directory = mem, mem.Views(), mem.Index(), mem
	return app.New(cfg), mem
}
