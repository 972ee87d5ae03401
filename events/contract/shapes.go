package contract

import (
	"time"

	"github.com/entityconn/entityconn/events"
)

// Connection is one connection as the lists show it (contract §4): the item of a list and
// the head of a get. Status is one of Pending, Connected, Denied, Cancelled, Expired and
// Disconnected. The times are in UTC.
type Connection struct {
	ID             string    `json:"id"`
	SourceEntityID string    `json:"sourceEntityId"`
	TargetEntityID string    `json:"targetEntityId"`
	Status         string    `json:"status"`
	RequestedBy    string    `json:"requestedBy"`
	RequestedAt    time.Time `json:"requestedAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

// HistoryItem is one event in the history of a connection (contract §4). Reason is always
// sent, empty when the event has none.
type HistoryItem struct {
	Type          events.Type `json:"type"`
	At            time.Time   `json:"at"`
	ActorUserID   string      `json:"actorUserId"`
	ActorEntityID string      `json:"actorEntityId"`
	Reason        string      `json:"reason"`
}

// Detail is the answer to a get: the connection, its history oldest event first, and the
// Zuora envelope's success, true in every answer that carries a Detail.
type Detail struct {
	Connection
	History []HistoryItem `json:"history"`
	Success bool          `json:"success"`
}

// List is the answer to a list: one page of connections, newest request first. NextPage is
// the URL of the next page; only REST sends it, and only when there is one.
type List struct {
	EntityConnections []Connection `json:"entityConnections"`
	NextPage          string       `json:"nextPage,omitempty"`
	Success           bool         `json:"success"`
}

// Requested is the answer to a request: the new connection's id.
type Requested struct {
	ID      string `json:"id"`
	Success bool   `json:"success"`
}

// Done is the answer to accept, deny, cancel and disconnect.
type Done struct {
	Success bool `json:"success"`
}
