// Package apptest runs a real entityconn for tests: an embedded NATS server and, on it, the
// event store, directory, views, projector, service and NATS executor, wired as
// cmd/entityconn wires them, without any door. Tests add the doors they exercise.
package apptest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

// Directory returns the directory tests run with. Every secret is "<client id>-secret",
// stored as a cheap bcrypt hash (cost 4) so that tests stay fast under the race detector.
//   - root: admin of global, eu, us; user of apac
//   - eve: admin of eu
//   - viv: user (not admin) of global and eu
//   - sam: admin of us only
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

// Stack is a running entityconn without doors.
type Stack struct {
	URL       string
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
	_, url := natsjstest.Single(t)
	nc := natsjstest.Connect(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := natsjs.Setup(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	dirs := natsjs.NewDirectoryStore(res, nil)
	if _, _, err := dirs.Import(ctx, []byte(Directory())); err != nil {
		t.Fatal(err)
	}
	views := natsjs.NewViews(res, nil)
	index := natsjs.NewListIndex(res, nil)
	Background(t, views.Run, index.Run, dirs.Run, natsjs.NewProjector(res, "test", nil, nil).Run)
	svc := app.New(app.Config{Store: natsjs.NewStore(res), Views: views, Index: index, Directory: dirs})
	return &Stack{URL: url, NC: nc, JS: js, Res: res, Directory: dirs, Views: views, Index: index, Service: svc,
		Executor: &natsapi.Executor{Service: svc, Outcomes: natsjs.NewOutcomes(res)}}
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
