package natsclient_test

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/natsclient"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

// service is a running entityconn stack with its NATS micro service, on an embedded NATS
// server of its own (apptest.Directory: root, eve, viv, sam, and the service user svc).
// js is the service's own JetStream context.
type service struct {
	st  *apptest.Stack
	url string
	js  jetstream.JetStream
	res *natsjs.Resources
}

// startService starts a NATS server and the entityconn service on it; both stop when the
// test ends.
func startService(t *testing.T) *service {
	t.Helper()
	st := apptest.Start(t)
	srv, err := natsapi.Start(st.NC, st.Executor, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return &service{st: st, url: st.URL, js: st.JS, res: st.Res}
}

// client returns a client of s on a connection of its own signed in as the service user svc,
// as another service would have: it may act as any user.
func (s *service) client(t *testing.T, opts ...natsclient.Option) *natsclient.Client {
	t.Helper()
	return s.clientAs(t, "svc", opts...)
}

// clientAs returns a client of s on a connection of its own signed in as the directory user
// id (secret "<id>-secret").
func (s *service) clientAs(t *testing.T, id string, opts ...natsclient.Option) *natsclient.Client {
	t.Helper()
	return newClient(t, natsjstest.Connect(t, s.url, natsclient.SignIn(id, id+"-secret", id)...), opts...)
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
