package natsclient_test

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
	"github.com/entityconn/entityconn/adapters/natsclient"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

// testDirectory is the directory the service runs with (cheap bcrypt hashes: the NATS door
// never checks secrets, but the directory requires them).
//   - root: admin of global, eu, us; user of apac
//   - eve: admin of eu
//   - viv: user (not admin) of global and eu
var testDirectory = `tenant: acme
entities:
  - {id: global, name: ACME Global}
  - {id: eu, name: ACME Europe, parent: global}
  - {id: us, name: ACME Americas, parent: global}
  - {id: apac, name: ACME Asia Pacific, parent: global}
users:
  - id: root
    clientId: root
    clientSecretHash: '` + cheapHash("root-secret") + `'
    access: [{entity: global, role: admin}, {entity: eu, role: admin}, {entity: us, role: admin}, {entity: apac, role: user}]
  - id: eve
    clientId: eve
    clientSecretHash: '` + cheapHash("eve-secret") + `'
    access: [{entity: eu, role: admin}]
  - id: viv
    clientId: viv
    clientSecretHash: '` + cheapHash("viv-secret") + `'
    access: [{entity: global, role: user}, {entity: eu, role: user}]
`

func cheapHash(secret string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}

// service is a running entityconn stack, wired as cmd/entityconn wires it, on an embedded
// NATS server of its own.
type service struct {
	url string
	js  jetstream.JetStream
	res *natsjs.Resources
}

// startService starts a NATS server and the entityconn service on it; both stop when the
// test ends.
func startService(t *testing.T) *service {
	t.Helper()
	_, url := natsjstest.Single(t)
	nc := natsjstest.Connect(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := natsjs.Setup(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	dirs := natsjs.NewDirectoryStore(res, nil)
	if _, _, err := dirs.Import(ctx, []byte(testDirectory)); err != nil {
		t.Fatal(err)
	}
	views := natsjs.NewViews(res, nil)
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = views.Run(bg) })
	wg.Go(func() { _ = natsjs.NewProjector(res, "test", nil, nil).Run(bg) })
	svc := app.New(app.Config{Store: natsjs.NewStore(res), Views: views, Directory: dirs})
	srv, err := natsapi.Start(nc, &natsapi.Executor{Service: svc, Outcomes: natsjs.NewOutcomes(res)}, nil)
	if err != nil {
		stopBG()
		t.Fatal(err)
	}
	// The endpoints' subscriptions reach the server before any client asks.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		stopBG()
		wg.Wait()
	})
	return &service{url: url, js: js, res: res}
}

// client returns a client of s on a connection of its own, as another service would have.
func (s *service) client(t *testing.T, opts ...natsclient.Option) *natsclient.Client {
	t.Helper()
	return newClient(t, natsjstest.Connect(t, s.url), opts...)
}

func newClient(t *testing.T, nc *nats.Conn, opts ...natsclient.Option) *natsclient.Client {
	t.Helper()
	c, err := natsclient.New(nc, opts...)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	return c
}

// events returns how many events the stream holds on subjects matching filter.
func (s *service) events(t *testing.T, filter string) uint64 {
	t.Helper()
	info, err := s.res.Events.Info(t.Context(), jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// request asks c for a connection to target and fails the test if it cannot.
func request(t *testing.T, c *natsclient.Client, target string, opts ...natsclient.CallOption) natsclient.Result {
	t.Helper()
	res, err := c.Request(t.Context(), target, opts...)
	if err != nil {
		t.Fatalf("Request(%s) = %v", target, err)
	}
	return res
}
