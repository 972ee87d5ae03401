package domain

import (
	"errors"
	"fmt"

	"github.com/entityconn/entityconn/events/contract"
)

// The error families. Every error this package returns wraps exactly one of them, and the
// edges (HTTP, NATS) map a family to a status and a Zuora error category with errors.Is, once
// (package adapters/zuora). Each is named after the category it is answered with. The
// categories of a request the doors cannot read (an unknown field, a body that is not JSON,
// a method or a content type the path does not take) have families of the doors', not here:
// the domain never sees such a request.
var (
	// ErrPermission: the actor is known but may not do this ([contract.CategoryPermission],
	// HTTP 403).
	ErrPermission = errors.New(contract.CategoryPermission.String())
	// ErrUnauthenticated: no valid credentials ([contract.CategoryAuthentication], HTTP 401).
	ErrUnauthenticated = errors.New(contract.CategoryAuthentication.String())
	// ErrInvalidValue: a value is malformed or refers to nothing
	// ([contract.CategoryInvalidValue], HTTP 400).
	ErrInvalidValue = errors.New(contract.CategoryInvalidValue.String())
	// ErrMissingValue: a required value is absent, such as a field of the command or the
	// acting entity ([contract.CategoryMissingValue], 22, HTTP 400).
	ErrMissingValue = errors.New(contract.CategoryMissingValue.String())
	// ErrRuleViolation: the state of the connection forbids the command
	// ([contract.CategoryRuleViolation], HTTP 409).
	ErrRuleViolation = errors.New(contract.CategoryRuleViolation.String())
	// ErrNotFound: no such thing, or one the caller may not see ([contract.CategoryNotFound],
	// HTTP 404).
	ErrNotFound = errors.New(contract.CategoryNotFound.String())
	// ErrConflict: a concurrent attempt holds a lock, such as an idempotency key still in
	// flight ([contract.CategoryConflict], HTTP 409).
	ErrConflict = errors.New(contract.CategoryConflict.String())
)

// Rule 1. That both entities exist needs no error of its own: a user holds grants only for
// entities that exist, so an unknown entity is one the user has no access to
// ([ErrNoEntityAccess], [ErrNoTargetAccess]), and the answer does not reveal which exist.
var (
	// ErrSameEntity is returned when a connection is requested from an entity to itself.
	ErrSameEntity = fmt.Errorf("%w: source and target must be different entities", ErrInvalidValue)
)

// Rule 2.
var (
	// ErrAlreadyLive is returned when the pair already has a Pending or Connected connection.
	ErrAlreadyLive = fmt.Errorf("%w: a live connection already exists for this source and target", ErrRuleViolation)
)

// Rule 3.
var (
	// ErrNotPending is returned when accept, deny, cancel or expire meet a connection that is
	// not Pending.
	ErrNotPending = fmt.Errorf("%w: connection is not pending", ErrRuleViolation)
	// ErrNotConnected is returned when disconnect meets a connection that is not Connected.
	ErrNotConnected = fmt.Errorf("%w: connection is not connected", ErrRuleViolation)
	// ErrNotExpired is returned when expire meets a pending connection younger than its TTL.
	ErrNotExpired = fmt.Errorf("%w: pending request has not reached its time to live", ErrRuleViolation)
)

// Rule 6.
var (
	// ErrShareNotConnected is returned when a share or unshare names a target whose
	// connection from the acting entity is not Connected (or that has none).
	ErrShareNotConnected = fmt.Errorf("%w: objects are shared only over a Connected connection", ErrRuleViolation)
	// ErrNotShared is returned when an unshare names a target the object is not shared with.
	ErrNotShared = fmt.Errorf("%w: the object is not shared", ErrRuleViolation)
)

// Permissions.
var (
	// ErrNotAdmin is returned when the actor is not an admin of the entity it acts in.
	ErrNotAdmin = fmt.Errorf("%w: the user is not an admin of the acting entity", ErrPermission)
	// ErrNoTargetAccess is returned when the requester has no access to the target entity,
	// or the target does not exist: the two are answered alike.
	ErrNoTargetAccess = fmt.Errorf("%w: the user has no access to the target entity", ErrPermission)
	// ErrNoEntityAccess is returned when a user acts in an entity it has no grant for.
	ErrNoEntityAccess = fmt.Errorf("%w: the user has no access to the entity", ErrPermission)
	// ErrTargetOnly is returned when accept or deny is tried from the source entity.
	ErrTargetOnly = fmt.Errorf("%w: only the target entity can accept or deny a request", ErrPermission)
	// ErrSourceOnly is returned when cancel is tried from the target entity.
	ErrSourceOnly = fmt.Errorf("%w: only the source entity can cancel a request", ErrPermission)
	// ErrNotAnAdmin is returned when a user who is not an admin of any entity asks which
	// entities another user can access.
	ErrNotAnAdmin = fmt.Errorf("%w: only an admin of an entity may read another user's access", ErrPermission)
)

// ErrUserNotFound is returned for a user id the directory does not have, to a caller who may
// read any user's access.
var ErrUserNotFound = fmt.Errorf("%w: no such user", ErrNotFound)

// ErrConnectionNotFound is returned for a connection id that does not exist or that the
// acting entity is neither the source nor the target of.
var ErrConnectionNotFound = fmt.Errorf("%w: no such connection", ErrNotFound)

// ErrUnknownEvent is returned by [Evolve] for an event type it does not know.
var ErrUnknownEvent = errors.New("domain: unknown event type")

// ErrBadEvent is returned by [Evolve] for an event that cannot follow the state it is
// applied to: a sign of a corrupt history, never of user input.
var ErrBadEvent = errors.New("domain: event does not fit the state")
