package memstore_test

import (
	"testing"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/memstore"
	"github.com/entityconn/entityconn/adapters/storetest"
)

// The in-memory event store passes the store contract suite, as the NATS store does.
func TestEventStoreContract(t *testing.T) {
	storetest.EventStore(t, func(*testing.T) app.EventStore { return memstore.New() })
}
