package natsjs_test

import (
	"testing"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/adapters/storetest"
)

// The event store on a real NATS server passes the store contract suite, as the in-memory
// twin does.
func TestEventStoreContract(t *testing.T) {
	storetest.EventStore(t, func(t *testing.T) app.EventStore {
		_, url := natsjstest.Single(t)
		return natsjs.NewStore(setup(t, url, 1))
	})
}
