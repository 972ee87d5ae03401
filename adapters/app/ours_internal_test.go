package app

import (
	"testing"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// Given an event stored under a command's event id, when the command looks at it, then it
// takes the event's result only if the event is the command's own.
func TestOurs(t *testing.T) {
	const conn, other = "c1", "c2"
	stored := func(typ events.Type, id, src, tgt string) events.Event {
		return events.Event{EventID: "e", Type: typ, ConnectionID: id, SourceEntityID: src, TargetEntityID: tgt}
	}
	cases := []struct {
		name string
		cmd  domain.Command
		e    events.Event
		want bool
	}{
		{"its request", domain.RequestConnection{Target: "us", ConnectionID: conn}, stored(events.TypeConnectionRequested, conn, "eu", "us"), true},
		{"a request of another connection", domain.RequestConnection{Target: "us", ConnectionID: conn}, stored(events.TypeConnectionRequested, other, "eu", "us"), false},
		{"a request of another pair", domain.RequestConnection{Target: "us", ConnectionID: conn}, stored(events.TypeConnectionRequested, conn, "apac", "us"), false},
		{"its acceptance", domain.AcceptConnection{ConnectionID: conn}, stored(events.TypeConnectionAccepted, conn, "eu", "us"), true},
		{"a denial for an acceptance", domain.AcceptConnection{ConnectionID: conn}, stored(events.TypeConnectionDenied, conn, "eu", "us"), false},
		{"an acceptance of another connection", domain.AcceptConnection{ConnectionID: conn}, stored(events.TypeConnectionAccepted, other, "eu", "us"), false},
		{"its denial", domain.DenyConnection{ConnectionID: conn}, stored(events.TypeConnectionDenied, conn, "eu", "us"), true},
		{"its cancellation", domain.CancelConnection{ConnectionID: conn}, stored(events.TypeConnectionCancelled, conn, "eu", "us"), true},
		{"its disconnection", domain.DisconnectConnection{ConnectionID: conn}, stored(events.TypeConnectionDisconnected, conn, "eu", "us"), true},
		{"its expiry", domain.ExpireConnection{ConnectionID: conn}, stored(events.TypeConnectionExpired, conn, "eu", "us"), true},
		{"a cancellation for an expiry", domain.ExpireConnection{ConnectionID: conn}, stored(events.TypeConnectionCancelled, conn, "eu", "us"), false},
	}
	for _, c := range cases {
		if got := ours(c.cmd, "eu", "us", c.e); got != c.want {
			t.Errorf("%s: ours(%s, eu→us, %s %s of %s→%s) = %v, want %v", c.name, c.cmd.Name(), c.e.Type, c.e.ConnectionID, c.e.SourceEntityID, c.e.TargetEntityID, got, c.want)
		}
	}
}
