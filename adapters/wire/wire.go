// Package wire defines the JSON bodies entityconn answers with, the same on every door:
// REST (contract §4) and NATS request/reply (contract §5).
package wire

import (
	"time"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/projections"
)

// Connection is a connection as lists show it.
type Connection struct {
	ID             string        `json:"id"`
	SourceEntityID string        `json:"sourceEntityId"`
	TargetEntityID string        `json:"targetEntityId"`
	Status         domain.Status `json:"status"`
	RequestedBy    string        `json:"requestedBy"`
	RequestedAt    time.Time     `json:"requestedAt"`
	UpdatedAt      time.Time     `json:"updatedAt"`
}

// NewConnection returns the list item of a view.
func NewConnection(v projections.View) Connection {
	return Connection{ID: v.ID, SourceEntityID: v.SourceEntityID, TargetEntityID: v.TargetEntityID, Status: v.Status,
		RequestedBy: v.RequestedBy, RequestedAt: v.RequestedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC()}
}

// HistoryItem is one entry of a connection's history.
type HistoryItem struct {
	Type          string    `json:"type"`
	At            time.Time `json:"at"`
	ActorUserID   string    `json:"actorUserId"`
	ActorEntityID string    `json:"actorEntityId"`
	Reason        string    `json:"reason"`
}

// Detail is the answer to a get: the connection, its history and success.
type Detail struct {
	Connection
	History []HistoryItem `json:"history"`
	Success bool          `json:"success"`
}

// NewDetail returns the body of a get.
func NewDetail(d app.Detail) Detail {
	hist := make([]HistoryItem, len(d.History))
	for i, h := range d.History {
		hist[i] = HistoryItem{Type: string(h.Type), At: h.At.UTC(), ActorUserID: h.ActorUserID, ActorEntityID: h.ActorEntityID, Reason: h.Reason}
	}
	return Detail{Connection: NewConnection(d.View), History: hist, Success: true}
}

// List is the answer to a list. NextPage is set by REST only (a URL).
type List struct {
	EntityConnections []Connection `json:"entityConnections"`
	NextPage          string       `json:"nextPage,omitempty"`
	Success           bool         `json:"success"`
}

// NewList returns the body of a list, without NextPage.
func NewList(r app.ListResult) List {
	items := make([]Connection, len(r.Items))
	for i, v := range r.Items {
		items[i] = NewConnection(v)
	}
	return List{EntityConnections: items, Success: true}
}

// Entity is an entity the user can access, with the user's role.
type Entity struct {
	ID       string      `json:"id"`
	Name     string      `json:"name"`
	ParentID *string     `json:"parentId"`
	Role     domain.Role `json:"role"`
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
