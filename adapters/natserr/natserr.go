// Package natserr tells the errors of NATS and JetStream that say "not now" from the others.
// The store (package natsjs) retries on them, and the one error table (package zuora) answers
// them 503 when one reaches a door; it is a leaf, so that a door need not import the store
// to classify an error.
package natserr

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrCodeMsgIDInProcess is JetStream's "duplicate message id is in process" (10158): a
// publish with the same Nats-Msg-Id as one the stream is still storing, such as an append
// tried again after its first try timed out. Once the first is stored, the same publish is
// answered as a duplicate of it.
const ErrCodeMsgIDInProcess = 10158

// ErrCodeNoPeers is JetStream's error code for a replicated stream or consumer that cannot be
// placed because too few servers are online ("no suitable peers for placement, peer
// offline"): a cluster still forming, or a node restarting. It passes once the peers are
// back.
const ErrCodeNoPeers = 10005

// ErrBehind marks an answer that only a server behind the stream's leader can give: after a
// partition heals, a deposed leader answers requests for a moment (it has not yet heard of
// its successor), from a state that lags. Such an answer says nothing about the request.
var ErrBehind = errors.New("an answer from a server that is behind the stream's leader")

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
		apiErr.ErrorCode == ErrCodeMsgIDInProcess || apiErr.ErrorCode == ErrCodeNoPeers) {
		return true
	}
	for _, target := range []error{
		context.DeadlineExceeded, context.Canceled,
		nats.ErrTimeout, nats.ErrNoResponders, nats.ErrConnectionClosed, nats.ErrDisconnected,
		nats.ErrNoServers, nats.ErrConnectionDraining, nats.ErrConnectionReconnecting, nats.ErrStaleConnection,
		jetstream.ErrNoStreamResponse, jetstream.ErrNoHeartbeat, jetstream.ErrJetStreamNotEnabled,
		jetstream.ErrJetStreamNotEnabledForAccount, ErrBehind,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
