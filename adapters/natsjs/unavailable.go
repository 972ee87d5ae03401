package natsjs

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// errCodeMsgIDInProcess is JetStream's "duplicate message id is in process" (10158): a
// publish with the same Nats-Msg-Id as one the stream is still storing, such as an append
// tried again after its first try timed out. Once the first is stored, the same publish is
// answered as a duplicate of it.
const errCodeMsgIDInProcess = 10158

// Unavailable reports whether err says that NATS or JetStream could not serve a request
// now (a timeout, no responders, a stream or bucket without a leader, a lost connection, a
// request cut short by shutdown), rather than anything about the request: a retry may
// succeed. The doors answer such errors 503, category 61, with Retry-After.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.Code == 503 || apiErr.Code == 408 || apiErr.Code == 500 && apiErr.ErrorCode == jetstream.JSErrCodeJetStreamNotEnabled ||
		apiErr.ErrorCode == errCodeMsgIDInProcess) {
		return true
	}
	for _, target := range []error{
		context.DeadlineExceeded, context.Canceled,
		nats.ErrTimeout, nats.ErrNoResponders, nats.ErrConnectionClosed, nats.ErrDisconnected,
		nats.ErrNoServers, nats.ErrConnectionDraining, nats.ErrConnectionReconnecting, nats.ErrStaleConnection,
		jetstream.ErrNoStreamResponse, jetstream.ErrNoHeartbeat, jetstream.ErrJetStreamNotEnabled,
		jetstream.ErrJetStreamNotEnabledForAccount,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

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
