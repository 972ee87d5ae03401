// Package events holds the published events of entityconn: their type names, their JSON
// shape and the NATS subjects they are stored under.
//
// This package is a contract shared with other services, which may import it. It depends on
// the standard library only. A published shape is never edited: a change is a new type or a
// new version decoded by [Decode].
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Type names an event. The names are part of the contract: they appear in NATS subjects, in
// JSON bodies and in the history of a connection.
type Type string

// The event types of contract §5, one per state change of a connection, and the two of
// contract §7, which start and end a share of an object over a connection.
const (
	TypeConnectionRequested    Type = "ConnectionRequested"
	TypeConnectionAccepted     Type = "ConnectionAccepted"
	TypeConnectionDenied       Type = "ConnectionDenied"
	TypeConnectionCancelled    Type = "ConnectionCancelled"
	TypeConnectionDisconnected Type = "ConnectionDisconnected"
	TypeConnectionExpired      Type = "ConnectionExpired"
	TypeObjectShared           Type = "ObjectShared"
	TypeObjectUnshared         Type = "ObjectUnshared"
	// TypeSharingSettingsChanged records a target entity's sharing settings (contract §8):
	// the sources whose requests it accepts at once. It is stored on the subject of the
	// entity with itself, entityconn.events.<E>.<E>.SharingSettingsChanged, which no
	// connection uses, and has no connection id.
	TypeSharingSettingsChanged Type = "SharingSettingsChanged"
)

// AutoAcceptActor is the actorUserId of a ConnectionAccepted that an entity's sharing
// settings made: the request and its acceptance are stored together.
const AutoAcceptActor = "system:auto-accept"

// The reasons of an ObjectUnshared event: the source unshared the object, or the connection
// it was shared over ended (the event follows the ConnectionDisconnected in the same atomic
// batch).
const (
	ReasonUnshared        = "unshared"
	ReasonConnectionEnded = "connection-ended"
)

// Types lists every event type in a fixed order.
var Types = []Type{
	TypeConnectionRequested,
	TypeConnectionAccepted,
	TypeConnectionDenied,
	TypeConnectionCancelled,
	TypeConnectionDisconnected,
	TypeConnectionExpired,
	TypeObjectShared,
	TypeObjectUnshared,
	TypeSharingSettingsChanged,
}

// Known reports whether t is one of [Types].
func (t Type) Known() bool {
	for _, k := range Types {
		if t == k {
			return true
		}
	}
	return false
}

// Object reports whether t is an event of a shared object (ObjectShared, ObjectUnshared)
// rather than of the connection's state.
func (t Type) Object() bool { return t == TypeObjectShared || t == TypeObjectUnshared }

// Stream is the JetStream stream that stores every event.
const Stream = "ENTITYCONN_EVENTS"

// SubjectPrefix starts every event subject: entityconn.events.<source>.<target>.<Type>.
const SubjectPrefix = "entityconn.events"

// HeaderConnectionID is the NATS header that carries the connection id of an event, so that a
// subscriber can route a message without decoding its body.
const HeaderConnectionID = "Entityconn-Connection-Id"

// HeaderCorrelationID is the NATS header that carries the correlation id of the request that
// caused an event (a Zuora-Track-Id on REST, a command's correlation id on NATS), when there
// was one.
const HeaderCorrelationID = "Entityconn-Correlation-Id"

// HeaderMsgID is the NATS header JetStream de-duplicates on; every event carries its event id in it.
const HeaderMsgID = "Nats-Msg-Id"

// Event is one stored change of one connection: of its state, or of an object shared over
// it. Its JSON form is the body of the NATS message (contract §5); every field is always
// present, empty strings included, except objectType and objectId, which only the events of
// a shared object have (contract §7).
type Event struct {
	EventID        string    `json:"eventId"`
	Type           Type      `json:"type"`
	ConnectionID   string    `json:"connectionId"`
	SourceEntityID string    `json:"sourceEntityId"`
	TargetEntityID string    `json:"targetEntityId"`
	ActorUserID    string    `json:"actorUserId"`
	ActorEntityID  string    `json:"actorEntityId"`
	OccurredAt     time.Time `json:"occurredAt"`
	Reason         string    `json:"reason"`
	ObjectType     string    `json:"objectType,omitempty"`
	ObjectID       string    `json:"objectId,omitempty"`
	// AutoAcceptFrom is the setting a SharingSettingsChanged event records: the sources
	// whose requests the entity accepts at once, or "*" for all; other events have none.
	AutoAcceptFrom IDList `json:"autoAcceptFrom,omitempty"`
}

// IDList is a list of entity ids, written in JSON as an array of strings. In Go it is the ids
// joined by commas, so that an [Event] stays comparable with ==; use [NewIDList] and
// [IDList.IDs].
type IDList string

// NewIDList returns the list of ids, which must not contain commas.
func NewIDList(ids []string) IDList { return IDList(strings.Join(ids, ",")) }

// IDs returns the ids of the list; none for the empty list.
func (l IDList) IDs() []string {
	if l == "" {
		return nil
	}
	return strings.Split(string(l), ",")
}

// MarshalJSON writes the list as a JSON array.
func (l IDList) MarshalJSON() ([]byte, error) {
	ids := l.IDs()
	if ids == nil {
		ids = []string{}
	}
	return json.Marshal(ids)
}

// UnmarshalJSON reads a JSON array of strings without commas.
func (l *IDList) UnmarshalJSON(b []byte) error {
	var ids []string
	if err := json.Unmarshal(b, &ids); err != nil {
		return err
	}
	for _, id := range ids {
		if id == "" || strings.Contains(id, ",") {
			return fmt.Errorf("%w: %q in an id list", ErrInvalid, id)
		}
	}
	*l = NewIDList(ids)
	return nil
}

// SettingsSubject returns the subject that the sharing settings of entity are stored on.
func SettingsSubject(entity string) string {
	return Subject(entity, entity, TypeSharingSettingsChanged)
}

// idPattern is the syntax of entity and user ids (contract §1): they become subject tokens.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether id may be used as an entity or user id, and so as a NATS subject token.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// objectTypePattern is the syntax of an object type (contract §7).
var objectTypePattern = regexp.MustCompile(`^[A-Z][A-Za-z0-9]{0,31}$`)

// ObjectTypePattern is the syntax of an object type, for messages.
const ObjectTypePattern = `^[A-Z][A-Za-z0-9]{0,31}$`

// ValidObjectType reports whether t may be used as an object type, such as Product or
// AccountingPeriod. Object ids follow [ValidID].
func ValidObjectType(t string) bool { return objectTypePattern.MatchString(t) }

// ErrInvalid is returned by [Decode] and [Event.Validate] for an event that breaks the contract.
var ErrInvalid = errors.New("events: invalid event")

// ErrUnknownType is returned by [Decode] and [Event.Validate] for an event whose type is not
// one of [Types], such as one written by a newer version. It wraps [ErrInvalid]; consumers that
// must survive new event types skip such events rather than fail.
var ErrUnknownType = fmt.Errorf("%w: unknown type", ErrInvalid)

// Subject returns the subject the event is stored under:
// entityconn.events.<sourceEntityId>.<targetEntityId>.<Type>.
func (e Event) Subject() string {
	return Subject(e.SourceEntityID, e.TargetEntityID, e.Type)
}

// Subject returns entityconn.events.<source>.<target>.<t>. It does not check its arguments;
// callers pass ids that satisfy [ValidID].
func Subject(source, target string, t Type) string {
	return SubjectPrefix + "." + source + "." + target + "." + string(t)
}

// PairSubject returns the wildcard subject entityconn.events.<source>.<target>.* that covers
// every event of every connection from source to target.
func PairSubject(source, target string) string {
	return SubjectPrefix + "." + source + "." + target + ".*"
}

// ParseSubject splits an event subject into its source, target and type. ok is false when
// subject is not of the form entityconn.events.<source>.<target>.<Type>.
func ParseSubject(subject string) (source, target string, t Type, ok bool) {
	rest, found := strings.CutPrefix(subject, SubjectPrefix+".")
	if !found {
		return "", "", "", false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return "", "", "", false
	}
	return parts[0], parts[1], Type(parts[2]), true
}

// Validate returns an error wrapping [ErrInvalid] when e could not have been produced by
// entityconn: an unknown type, a missing id, ids that are not subject-safe, no time, or a
// time whose year in UTC is outside 0..9999 (which [Encode] cannot write).
func (e Event) Validate() error {
	switch {
	case !e.Type.Known():
		return fmt.Errorf("%w %q", ErrUnknownType, e.Type)
	case e.EventID == "":
		return fmt.Errorf("%w: eventId is empty", ErrInvalid)
	case e.Type == TypeSharingSettingsChanged:
		return e.validateSettings()
	case e.ConnectionID == "":
		return fmt.Errorf("%w: connectionId is empty", ErrInvalid)
	case !ValidID(e.SourceEntityID) || !ValidID(e.TargetEntityID):
		return fmt.Errorf("%w: entity ids %q, %q", ErrInvalid, e.SourceEntityID, e.TargetEntityID)
	case e.OccurredAt.IsZero():
		return fmt.Errorf("%w: occurredAt is missing", ErrInvalid)
	case e.OccurredAt.UTC().Year() < 0 || e.OccurredAt.UTC().Year() > 9999:
		return fmt.Errorf("%w: occurredAt %s is out of range: its year in UTC must be 0 to 9999", ErrInvalid, e.OccurredAt.Format(time.RFC3339Nano))
	case !e.Type.Object() && (e.ObjectType != "" || e.ObjectID != ""):
		return fmt.Errorf("%w: %s names an object", ErrInvalid, e.Type)
	case e.Type.Object() && (!ValidObjectType(e.ObjectType) || !ValidID(e.ObjectID)):
		return fmt.Errorf("%w: object %q %q", ErrInvalid, e.ObjectType, e.ObjectID)
	case e.Type == TypeObjectShared && e.Reason != "":
		return fmt.Errorf("%w: ObjectShared has reason %q", ErrInvalid, e.Reason)
	case e.Type == TypeObjectUnshared && e.Reason != ReasonUnshared && e.Reason != ReasonConnectionEnded:
		return fmt.Errorf("%w: ObjectUnshared has reason %q, not %s or %s", ErrInvalid, e.Reason, ReasonUnshared, ReasonConnectionEnded)
	case e.AutoAcceptFrom != "":
		return fmt.Errorf("%w: %s has autoAcceptFrom", ErrInvalid, e.Type)
	}
	return nil
}

// validateSettings checks a SharingSettingsChanged event: of one entity with itself, no
// connection or object, a list of entity ids or "*" alone.
func (e Event) validateSettings() error {
	switch {
	case !ValidID(e.SourceEntityID) || e.TargetEntityID != e.SourceEntityID:
		return fmt.Errorf("%w: settings of %q stored for %q", ErrInvalid, e.SourceEntityID, e.TargetEntityID)
	case e.ConnectionID != "" || e.ObjectType != "" || e.ObjectID != "":
		return fmt.Errorf("%w: SharingSettingsChanged names a connection or an object", ErrInvalid)
	case e.OccurredAt.IsZero() || e.OccurredAt.UTC().Year() < 0 || e.OccurredAt.UTC().Year() > 9999:
		return fmt.Errorf("%w: occurredAt %s", ErrInvalid, e.OccurredAt.Format(time.RFC3339Nano))
	}
	ids := e.AutoAcceptFrom.IDs()
	for _, id := range ids {
		if id == "*" && len(ids) == 1 {
			continue
		}
		if !ValidID(id) {
			return fmt.Errorf("%w: autoAcceptFrom %q: each an entity id, or \"*\" alone", ErrInvalid, id)
		}
	}
	return nil
}

// Encode returns the JSON body of e. Times are written in UTC.
func Encode(e Event) ([]byte, error) {
	e.OccurredAt = e.OccurredAt.UTC()
	return json.Marshal(e)
}

// Decode parses a JSON body written by [Encode]. It returns an error wrapping [ErrInvalid]
// for malformed JSON or an event that fails [Event.Validate], and one wrapping
// [ErrUnknownType] (with the decoded event) for a type it does not know. Fields it does not
// know are ignored, so that a field added by a newer version does not break older readers.
func Decode(data []byte) (Event, error) {
	e, ok := decodeCanonical(data)
	if !ok {
		if err := json.Unmarshal(data, &e); err != nil {
			return Event{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	if !e.Type.Known() {
		return e, fmt.Errorf("%w %q", ErrUnknownType, e.Type)
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}
