// Package natsapi is entityconn's door for other services on NATS request/reply: a NATS
// micro service named entityconn with the endpoints entityconn.api.<userId>.request,
// accept, deny, cancel, disconnect, list and get (contract §5), share, unshare and shared
// for the shared objects of contract §7, and settings for the sharing settings of contract
// §8 (list, get and shared also answer as of a time). It also holds what the
// durable command door (package natscmd) shares with it: the request body, its validation
// and the replay of a command id's first outcome.
//
// Trust: the subject says who acts. NATS permissions let a user publish only on its own
// subjects, entityconn.api.<self>.> and entityconn.commands.<self>.> (a service user of the
// directory on anyone's; package natsauth), so the user token of the subject is the actor.
// A body's actorUserId, if present, must equal it; the directory's rules are then applied to
// that user acting in the body's entityId, exactly as on REST.
package natsapi

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/zuora"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/events/contract"
	"github.com/entityconn/entityconn/projections"
)

// MaxRequestBytes bounds a request body, as the REST API bounds its bodies.
const MaxRequestBytes = 64 << 10

// MaxCommandIDLength bounds a command id.
const MaxCommandIDLength = 255

// Request is the body of a NATS command or query (contract §5). Commands use CommandID,
// EntityID and TargetEntityID (request) or ConnectionID (the others), and Reason (deny,
// disconnect); share and unshare use ObjectType, ObjectID and ToEntityIDs (share) or
// FromEntityIDs (unshare), as the REST bodies of contract §7 do; settings uses
// AutoAcceptFrom. Queries use EntityID, ConnectionID (get), the list fields, Direction and
// ObjectType (shared), and AsOf (list, get, shared). ActorUserID is optional: the subject
// names the actor, and a body that names another is refused.
type Request struct {
	CommandID      string `json:"commandId,omitempty"`
	ActorUserID    string `json:"actorUserId,omitempty"`
	EntityID       string `json:"entityId"`
	TargetEntityID string `json:"targetEntityId,omitempty"`
	ConnectionID   string `json:"connectionId,omitempty"`
	Reason         string `json:"reason,omitempty"`

	// List: outbound, inbound or empty for both; a status; 1-based page and its size.
	Type     string `json:"type,omitempty"`
	Status   string `json:"status,omitempty"`
	Page     int    `json:"page,omitempty"`
	PageSize int    `json:"pageSize,omitempty"`
	// MinSequence makes list, get and shared wait until the views include that sequence.
	MinSequence uint64 `json:"minSequence,omitempty"`
	// AsOf, an RFC 3339 time, makes list, get and shared answer as the state was at that
	// instant (contract §8); a get as of a time does not wait for MinSequence, as on REST.
	AsOf string `json:"asOf,omitempty"`

	// Share and unshare: the object, and the entities to share it with (share) or to stop
	// sharing it with (unshare). Shared: ObjectType keeps only objects of that type.
	ObjectType    string   `json:"objectType,omitempty"`
	ObjectID      string   `json:"objectId,omitempty"`
	ToEntityIDs   []string `json:"toEntityIds,omitempty"`
	FromEntityIDs []string `json:"fromEntityIds,omitempty"`
	// Shared: sharedBy (the acting entity is the source), sharedWith (it is the target) or
	// empty for both.
	Direction string `json:"direction,omitempty"`

	// Settings: the sources whose requests the acting entity accepts at once, ["*"] for
	// all, [] for none. Its presence makes a body to the settings endpoint a change
	// (ChangeSharingSettings); without it the body reads the settings.
	AutoAcceptFrom *[]string `json:"autoAcceptFrom,omitempty"`
}

// Commands are the names of the commands of contract §1 and §7, by endpoint. The durable
// command door (package natscmd) takes the same names as the last token of its subjects.
var Commands = map[string]string{
	"request":    contract.CommandRequestConnection,
	"accept":     contract.CommandAcceptConnection,
	"deny":       contract.CommandDenyConnection,
	"cancel":     contract.CommandCancelConnection,
	"disconnect": contract.CommandDisconnectConnection,
	"share":      contract.CommandShareObject,
	"unshare":    contract.CommandUnshareObject,
}

// Decode parses a request body as REST reads its bodies ([zuora.DecodeJSON]): one JSON
// object of at most MaxRequestBytes with no unknown field. Errors wrap zuora.ErrBodyTooLarge
// (category 70) for a longer body, domain.ErrMissingValue for an empty one,
// zuora.ErrUnknownField (21) for an unknown field, zuora.ErrMalformed (90) for a body that
// is not one JSON object and domain.ErrInvalidValue for a value of the wrong JSON type.
func Decode(data []byte) (Request, error) {
	var r Request
	if len(data) > MaxRequestBytes {
		return r, fmt.Errorf("%w (%d bytes)", zuora.ErrBodyTooLarge, len(data))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return r, fmt.Errorf("%w: a JSON request body is required", domain.ErrMissingValue)
	}
	if err := zuora.DecodeJSON(data, &r); err != nil {
		return Request{}, err
	}
	return r, nil
}

// Principal returns who acts: user, the user its subject names, in the body's entity. Errors
// wrap domain.ErrPermission when the body's actorUserId names someone else,
// domain.ErrInvalidValue when user is not a user id, and domain.ErrMissingValue when the
// entity is absent. The entity's syntax is checked by the service.
func (r Request) Principal(user string) (app.Principal, error) {
	switch {
	case !events.ValidID(user):
		return app.Principal{}, fmt.Errorf("%w: the subject's user %q does not match ^[A-Za-z0-9_-]{1,64}$", domain.ErrInvalidValue, truncate(user))
	case r.ActorUserID != "" && r.ActorUserID != user:
		return app.Principal{}, fmt.Errorf("%w: actorUserId %q is not the subject's user %q: a user acts in its own name (publish on the subject of the user you act for, with a service user)",
			domain.ErrPermission, truncate(r.ActorUserID), user)
	case r.EntityID == "":
		return app.Principal{}, fmt.Errorf("%w: entityId is required", domain.ErrMissingValue)
	}
	return app.Principal{UserID: user, EntityID: r.EntityID}, nil
}

// SubjectUser returns the user token of a subject <prefix>.<userId>.<rest>, and rest, or
// false when subject has no such shape.
func SubjectUser(prefix, subject string) (user, rest string, ok bool) {
	tail, ok := strings.CutPrefix(subject, prefix+".")
	if !ok {
		return "", "", false
	}
	user, rest, ok = strings.Cut(tail, ".")
	return user, rest, ok && user != "" && rest != ""
}

// truncate keeps user input in error messages short.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Command returns the domain command name (e.g. "AcceptConnection") asks for with r's fields.
// Errors wrap domain.ErrMissingValue for an absent target, connection id, list of entities
// to share with (toEntityIds) or unshare from (fromEntityIds) or list of sources to accept at
// once (autoAcceptFrom, of ChangeSharingSettings), and domain.ErrInvalidValue for
// an unknown name, a command id that is too long, or the list of the other command (share
// takes toEntityIds, unshare fromEntityIds, as their REST bodies do). The object and the
// entities are checked by the service (domain.CheckObject).
func (r Request) Command(name string) (domain.Command, error) {
	if len(r.CommandID) > MaxCommandIDLength {
		return nil, fmt.Errorf("%w: commandId is longer than %d bytes", domain.ErrInvalidValue, MaxCommandIDLength)
	}
	needID := func() error {
		if r.ConnectionID == "" {
			return fmt.Errorf("%w: connectionId is required", domain.ErrMissingValue)
		}
		return nil
	}
	switch name {
	case contract.CommandRequestConnection:
		if r.TargetEntityID == "" {
			return nil, fmt.Errorf("%w: targetEntityId is required", domain.ErrMissingValue)
		}
		return domain.RequestConnection{Target: r.TargetEntityID}, nil
	case contract.CommandAcceptConnection:
		return domain.AcceptConnection{ConnectionID: r.ConnectionID}, needID()
	case contract.CommandDenyConnection:
		return domain.DenyConnection{ConnectionID: r.ConnectionID, Reason: r.Reason}, needID()
	case contract.CommandCancelConnection:
		return domain.CancelConnection{ConnectionID: r.ConnectionID}, needID()
	case contract.CommandDisconnectConnection:
		return domain.DisconnectConnection{ConnectionID: r.ConnectionID, Reason: r.Reason}, needID()
	case contract.CommandShareObject:
		switch {
		case r.FromEntityIDs != nil:
			return nil, fmt.Errorf("%w: fromEntityIds is a field of unshare: share takes toEntityIds", domain.ErrInvalidValue)
		case r.ToEntityIDs == nil:
			return nil, fmt.Errorf("%w: toEntityIds is required", domain.ErrMissingValue)
		}
		return domain.ShareObject{Object: r.object(), Targets: r.ToEntityIDs}, nil
	case contract.CommandUnshareObject:
		switch {
		case r.ToEntityIDs != nil:
			return nil, fmt.Errorf("%w: toEntityIds is a field of share: unshare takes fromEntityIds", domain.ErrInvalidValue)
		case r.FromEntityIDs == nil:
			return nil, fmt.Errorf("%w: fromEntityIds is required", domain.ErrMissingValue)
		}
		return domain.UnshareObject{Object: r.object(), Targets: r.FromEntityIDs}, nil
	case contract.CommandChangeSharingSettings:
		if r.AutoAcceptFrom == nil {
			return nil, fmt.Errorf("%w: autoAcceptFrom is required: a list of entity ids, [\"*\"] for every source, or [] for none", domain.ErrMissingValue)
		}
		return domain.ChangeSharingSettings{AutoAcceptFrom: *r.AutoAcceptFrom}, nil
	}
	return nil, fmt.Errorf("%w: unknown command %q", domain.ErrInvalidValue, name)
}

// ListQuery returns the list query of r, with the REST defaults (page 1, 30 items).
func (r Request) ListQuery() (app.ListQuery, error) {
	q := app.ListQuery{Page: r.Page, PageSize: r.PageSize, MinSequence: r.MinSequence}
	var err error
	if q.AsOf, err = r.AsOfTime(); err != nil {
		return q, err
	}
	if q.Page == 0 {
		q.Page = 1
	}
	if q.PageSize == 0 {
		q.PageSize = 30
	}
	switch r.Type {
	case "":
	case "outbound":
		q.Direction = projections.Outbound
	case "inbound":
		q.Direction = projections.Inbound
	default:
		return q, fmt.Errorf("%w: type %q must be outbound or inbound", domain.ErrInvalidValue, r.Type)
	}
	if r.Status != "" {
		st, err := domain.ParseStatus(r.Status)
		if err != nil {
			return q, err
		}
		q.Status = st
	}
	return q, nil
}

// object returns the object a share or unshare names.
func (r Request) object() domain.Object { return domain.Object{Type: r.ObjectType, ID: r.ObjectID} }

// SharedQuery returns the query of a list of shared objects of r, with the REST defaults
// (page 1, 30 items). Errors wrap domain.ErrInvalidValue for a direction other than sharedBy
// or sharedWith and for an asOf that is not an RFC 3339 time; the ranges, the object type and
// a time in the future are checked by the service.
func (r Request) SharedQuery() (app.SharedQuery, error) {
	q := app.SharedQuery{ObjectType: r.ObjectType, Page: r.Page, PageSize: r.PageSize, MinSequence: r.MinSequence}
	var err error
	if q.AsOf, err = r.AsOfTime(); err != nil {
		return q, err
	}
	if q.Page == 0 {
		q.Page = 1
	}
	if q.PageSize == 0 {
		q.PageSize = 30
	}
	if r.Direction != "" {
		d, ok := projections.ParseShareDirection(r.Direction)
		if !ok {
			return q, fmt.Errorf("%w: direction %q must be sharedBy or sharedWith", domain.ErrInvalidValue, truncate(r.Direction))
		}
		q.Direction = d
	}
	return q, nil
}

// AsOfTime returns the time of r's asOf, or the zero time (now) when it is absent. Errors
// wrap domain.ErrInvalidValue for a value that is not an RFC 3339 time, as REST's asOf
// parameter; a time in the future is refused by the service.
func (r Request) AsOfTime() (time.Time, error) {
	if r.AsOf == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, r.AsOf)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: asOf %q is not an RFC 3339 time such as 2026-10-31T00:00:00Z", domain.ErrInvalidValue, truncate(r.AsOf))
	}
	return t, nil
}
