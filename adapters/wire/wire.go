// Package wire defines the JSON bodies entityconn answers with, the same on every door:
// REST (contract §4) and NATS request/reply (contract §5). The published shapes are those of
// package events/contract; this package names them for the doors and builds them from what
// the service returns.
package wire

import (
	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events/contract"
	"github.com/entityconn/entityconn/projections"
)

// Connection is a connection as lists show it.
type Connection = contract.Connection

// HistoryItem is one entry of a connection's history.
type HistoryItem = contract.HistoryItem

// Detail is the answer to a get: the connection, its history and success.
type Detail = contract.Detail

// List is the answer to a list. NextPage is set by REST only (a URL).
type List = contract.List

// Requested is the answer to a request: the new connection's id.
type Requested = contract.Requested

// Done is the answer to accept, deny, cancel and disconnect.
type Done = contract.Done

// SharingSettings is an entity's sharing settings.
type SharingSettings = contract.SharingSettings

// SharedObject is one shared object as the list of shared objects shows it (contract §7).
type SharedObject = contract.SharedObject

// SharedObjects is the answer to a list of shared objects.
type SharedObjects = contract.SharedObjects

// ShareRequest is the body of a share.
type ShareRequest = contract.ShareRequest

// UnshareRequest is the body of an unshare.
type UnshareRequest = contract.UnshareRequest

// NewSharedObjects returns the answer to a list of shared objects: the page's items without
// their sequences, times in UTC, an empty list rather than none. NextPage is left to the
// door.
func NewSharedObjects(r app.SharedResult) SharedObjects {
	out := SharedObjects{SharedObjects: make([]SharedObject, len(r.Items)), Success: true}
	for i, s := range r.Items {
		out.SharedObjects[i] = s.SharedObject
		out.SharedObjects[i].SharedAt = s.SharedAt.UTC()
	}
	return out
}

// NewConnection returns the list item of a view: the view less its sequence, its times in
// UTC.
func NewConnection(v projections.View) Connection {
	return Connection{ID: v.ID, SourceEntityID: v.SourceEntityID, TargetEntityID: v.TargetEntityID, Status: string(v.Status),
		RequestedBy: v.RequestedBy, RequestedAt: v.RequestedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC()}
}

// NewDetail returns the body of a get. Its History is never nil, so that it is sent as [].
func NewDetail(d app.Detail) Detail {
	hist := make([]HistoryItem, len(d.History))
	for i, h := range d.History {
		h.At = h.At.UTC()
		hist[i] = h
	}
	return Detail{Connection: NewConnection(d.View), History: hist, Success: true}
}

// NewList returns the body of a list, without NextPage.
func NewList(r app.ListResult) List {
	items := make([]Connection, len(r.Items))
	for i, v := range r.Items {
		items[i] = NewConnection(v)
	}
	return List{EntityConnections: items, Success: true}
}

// Entity is an entity of the tenant in Zuora's shape.
type Entity = contract.Entity

// Entities is the answer to a list of the tenant's entities.
type Entities = contract.Entities

// AccessibleEntity is an entity a user can access, with the user's role.
type AccessibleEntity = contract.AccessibleEntity

// AccessibleEntities is the answer to a list of the entities a user can access.
type AccessibleEntities = contract.AccessibleEntities

// NewEntity returns the item of entity e of tenant: its optional fields with their defaults
// ([domain.Entity.WithDefaults]), status Provisioned, parentId null for the root.
func NewEntity(tenant string, e domain.Entity) Entity {
	e = e.WithDefaults()
	out := Entity{ID: e.ID, Name: e.Name, DisplayName: e.DisplayName, Status: contract.EntityStatusProvisioned,
		TenantID: tenant, Locale: e.Locale, Timezone: e.Timezone}
	if e.ParentID != "" {
		parent := e.ParentID
		out.ParentID = &parent
	}
	return out
}

// NewEntities returns the answer to a list of the tenant's entities, [] rather than none.
func NewEntities(tenant string, entities []domain.Entity) Entities {
	out := Entities{Entities: make([]Entity, len(entities)), Success: true}
	for i, e := range entities {
		out.Entities[i] = NewEntity(tenant, e)
	}
	return out
}

// NewAccessibleEntities returns the answer to a list of the entities a user can access, []
// rather than none.
func NewAccessibleEntities(tenant string, access []app.EntityAccess) AccessibleEntities {
	out := AccessibleEntities{Entities: make([]AccessibleEntity, len(access)), Success: true}
	for i, a := range access {
		out.Entities[i] = AccessibleEntity{Entity: NewEntity(tenant, a.Entity), Role: string(a.Role)}
	}
	return out
}
