package httpapi

import (
	"net/http"
	"testing"

	"github.com/entityconn/entityconn/adapters/natsapi"
)

// The attacker's probe: a REST Idempotency-Key and a NATS commandId with the same value, of
// the same user, for two different requests. Each is its own command: two events, two
// connection ids.
func TestSameKeyOnRESTAndNATSIsTwoCommands(t *testing.T) {
	a := startAPI(t, nil, nil)
	root := a.token("root")

	// Given a REST request eu→us with Idempotency-Key dup1,
	r := a.call(t, "POST", "/v1/entity-connections", root, "eu", `{"targetEntityId":"us"}`, HeaderIdempotencyKey, "dup1")
	if r.status != http.StatusOK {
		t.Fatalf("REST request: %d %s", r.status, r.raw)
	}
	restID, _ := r.body["id"].(string)

	// when the same user sends commandId dup1 on NATS for global→us,
	o := a.st.Executor.Execute(t.Context(), "RequestConnection", "root",
		natsapi.Request{CommandID: "dup1", EntityID: "global", TargetEntityID: "us"}, "probe")

	// then both are stored, each with its own connection id.
	if !o.OK() || o.Replayed {
		t.Fatalf("NATS request = %d %s (replayed %v), want a new connection", o.Status, o.Body, o.Replayed)
	}
	if o.ConnectionID == "" || o.ConnectionID == restID {
		t.Errorf("NATS request's connection id %q, REST's %q: want two different ids", o.ConnectionID, restID)
	}
	if n := a.eventCount(t); n != 2 {
		t.Errorf("%d events stored, want 2", n)
	}
}
