package natsjs_test

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/adapters/storetest"
	"github.com/entityconn/entityconn/events"
)

// The event store on a real NATS server passes the store contract suite, as the in-memory
// twin does; on a three-node cluster too, where conditional appends and atomic batches are
// checked by the stream's leader against what is in flight.
func TestEventStoreContract(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		storetest.EventStore(t, func(t *testing.T) app.EventStore {
			_, url := natsjstest.Single(t)
			return natsjs.NewStore(setup(t, url, 1))
		})
	})
	t.Run("cluster-R3", func(t *testing.T) {
		if testing.Short() {
			t.Skip("cluster suite skipped in -short mode")
		}
		_, url := natsjstest.Cluster(t, 3)
		storetest.EventStore(t, func(t *testing.T) app.EventStore {
			// One cluster for the suite: each test starts on a new event stream.
			js, err := jetstream.New(natsjstest.Connect(t, url))
			if err != nil {
				t.Fatal(err)
			}
			if err := js.DeleteStream(t.Context(), events.Stream); err != nil && err != jetstream.ErrStreamNotFound {
				t.Fatal(err)
			}
			return natsjs.NewStore(setup(t, url, 3))
		})
	})
}
