package natsjs

import (
	"time"

	"github.com/entityconn/entityconn/adapters/natserr"
)

// Unavailable reports whether err says that NATS or JetStream could not serve a request
// now ([natserr.Unavailable]).
func Unavailable(err error) bool { return natserr.Unavailable(err) }

// The projector, the list index and expiry follow the event stream with ordered consumers
// whose pulls expire after followExpiry and carry a heartbeat every followHeartbeat. The
// client notices a consumer that is gone (its node failed) after two missed heartbeats and
// makes a new one from where it was: about 2 s, where nats.go's defaults (30 s pulls, 5 s
// heartbeats) take 10 s, which was most of the time views took to converge after a node
// failure.
const (
	followExpiry    = 5 * time.Second
	followHeartbeat = time.Second
)
