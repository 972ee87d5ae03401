package bench

import (
	"context"
	"net/http"

	"github.com/nats-io/nats.go"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/natsjs"
)

// Stack is a running entityconn as serve builds it (NATS, its JetStream resources, the
// directory, the service, the projector, the doors): what the phases measure through.
type Stack struct {
	// URL is the client URL of its NATS server.
	URL string
	// Embedded says whether that server is entityconn's embedded one, whose clients sign
	// in through entityconn's auth callout.
	Embedded bool
	// NATS is the service's own connection; ServiceOptions sign another connection in
	// with the service's identity, which may read every entity's outcomes.
	NATS           *nats.Conn
	ServiceOptions []nats.Option
	Resources      *natsjs.Resources
	Store          *natsjs.Store
	Service        *app.Service
	// API is the HTTP handler of the REST API, not listening.
	API   http.Handler
	Views *natsjs.Views
	Index *natsjs.ListIndex
	// Close stops it all, background work first; it may be called more than once.
	Close func()
}

// StartConfig says which stack to start: on an embedded server storing in Data (listening
// on a loopback port of its own, fsyncing every write with Fsync), or on the NATS at
// NATSURL, keeping the list index's snapshot in Data; always with one replica.
type StartConfig struct {
	Data    string
	NATSURL string
	Fsync   bool
	// GroupCommit stores the appends of commands that wait together as one batch.
	GroupCommit bool
	// LoadDir puts a directory into the directory store.
	LoadDir func(context.Context, *natsjs.DirectoryStore) error
}

// Start starts a stack as serve does, logging nothing, and waits for NATS without a
// deadline but ctx's. The stack is closed when it returns an error.
type Start func(ctx context.Context, cfg StartConfig) (*Stack, error)
