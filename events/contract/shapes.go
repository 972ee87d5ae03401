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
	// ObjectType and ObjectID name the object of an ObjectShared or ObjectUnshared event;
	// other events have none.
	ObjectType string `json:"objectType,omitempty"`
	ObjectID   string `json:"objectId,omitempty"`
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

// Requested is the answer to a request: the new connection's id, and its status: Pending, or
// Connected when the target's sharing settings accepted it at once (contract §8). A replayed
// answer may lack the status.
type Requested struct {
	ID      string `json:"id"`
	Status  string `json:"status,omitempty"`
	Success bool   `json:"success"`
}

// SharingSettings is an entity's sharing settings (contract §8), the body of a change and
// the answer to a read: the sources whose requests the entity accepts at once, ["*"] for
// all, [] for none.
type SharingSettings struct {
	AutoAcceptFrom []string `json:"autoAcceptFrom"`
	Success        bool     `json:"success,omitempty"`
}

// Done is the answer to accept, deny, cancel and disconnect.
type Done struct {
	Success bool `json:"success"`
}

// SharedObject is one object shared over a Connected connection (contract §7): the item of a
// list of shared objects. SharedAt and SharedBy are the time and user of its ObjectShared
// event.
type SharedObject struct {
	ObjectType     string    `json:"objectType"`
	ObjectID       string    `json:"objectId"`
	SourceEntityID string    `json:"sourceEntityId"`
	TargetEntityID string    `json:"targetEntityId"`
	ConnectionID   string    `json:"connectionId"`
	SharedAt       time.Time `json:"sharedAt"`
	SharedBy       string    `json:"sharedBy"`
}

// SharedObjects is the answer to a list of shared objects: one page, newest share first.
// NextPage is the URL of the next page; only REST sends it, and only when there is one.
type SharedObjects struct {
	SharedObjects []SharedObject `json:"sharedObjects"`
	NextPage      string         `json:"nextPage,omitempty"`
	Success       bool           `json:"success"`
}

// ShareRequest is the body of a share: the entities to share the object with.
type ShareRequest struct {
	ToEntityIDs []string `json:"toEntityIds"`
}

// UnshareRequest is the body of an unshare: the entities to stop sharing the object with.
type UnshareRequest struct {
	FromEntityIDs []string `json:"fromEntityIds"`
}

// EntityStatusProvisioned is the status of every entity (contract §4): Zuora's entities are
// Provisioned or Unprovisioned, and every entity of the directory is in use.
const EntityStatusProvisioned = "Provisioned"

// Entity is one entity of the tenant in Zuora's shape (contract §4): the item of the answer
// to GET /v1/entities. ParentID is null for the root; DisplayName, Locale and Timezone are
// the directory's or their defaults (the name, en_US, UTC); Status is
// EntityStatusProvisioned; TenantID is the directory's tenant.
type Entity struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	DisplayName string  `json:"displayName"`
	ParentID    *string `json:"parentId"`
	Status      string  `json:"status"`
	TenantID    string  `json:"tenantId"`
	Locale      string  `json:"locale"`
	Timezone    string  `json:"timezone"`
}

// Entities is the answer to GET /v1/entities: the tenant's whole hierarchy, in directory
// order.
type Entities struct {
	Entities []Entity `json:"entities"`
	Success  bool     `json:"success"`
}

// AccessibleEntity is an entity a user can access, with the user's role there, "admin" or
// "user": the item of the answer to GET /v1/users/{username}/accessible-entities. Role is
// entityconn's addition to Zuora's item.
type AccessibleEntity struct {
	Entity
	Role string `json:"role"`
}

// AccessibleEntities is the answer to GET /v1/users/{username}/accessible-entities, in
// directory order.
type AccessibleEntities struct {
	Entities []AccessibleEntity `json:"entities"`
	Success  bool               `json:"success"`
}
