package natsclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/entityconn/entityconn/events/contract"
)

// The error families of the service. An [*Error] matches one of them with [errors.Is] through
// the last two digits of its Zuora code (its [Error.Category]), so callers never compare codes
// or messages:
//
//	if errors.Is(err, natsclient.ErrRuleViolation) { ... }
//
// They are the families of package restclient, so that both clients of entityconn read the
// same. The client also returns errors wrapping ErrMissing and ErrInvalid, without calling the
// service, for arguments it can tell are wrong (an empty id, no actor, a bad entity id).
var (
	// ErrPermission is matched by an error of Zuora category 10: the actor may not do this in
	// the acting entity, such as a user who is not an admin there (status 403).
	ErrPermission error = family(contract.CategoryPermission)
	// ErrUnauthenticated is matched by an error of Zuora category 11 (status 401). The NATS
	// door does not authenticate users, so the service sends it only for an actor it does not
	// know.
	ErrUnauthenticated error = family(contract.CategoryAuthentication)
	// ErrInvalid is matched by an error of Zuora category 20: a value is malformed or names
	// nothing, such as an unknown target entity (status 400), or a command id reused with
	// another command (status 422).
	ErrInvalid error = family(contract.CategoryInvalidValue)
	// ErrUnknownField is matched by an error of Zuora category 21: the request body had a
	// field the service does not know (status 400), as when this client is newer than the
	// service.
	ErrUnknownField error = family(contract.CategoryUnknownField)
	// ErrMissing is matched by an error of Zuora category 22: a required value is absent
	// (status 400).
	ErrMissing error = family(contract.CategoryMissingValue)
	// ErrRuleViolation is matched by an error of Zuora category 30: the state of the
	// connection forbids the command, such as a request for a pair that already has a live
	// connection or accepting one that is not pending (status 409).
	ErrRuleViolation error = family(contract.CategoryRuleViolation)
	// ErrNotFound is matched by an error of Zuora category 40: no such connection, or one the
	// acting entity may not see (status 404).
	ErrNotFound error = family(contract.CategoryNotFound)
	// ErrConflict is matched by an error of Zuora category 50: a concurrent attempt holds a
	// lock, such as the same command id still in flight (status 409). Retrying later with the
	// same command id is safe.
	ErrConflict error = family(contract.CategoryConflict)
	// ErrOverLimit is matched by an error of Zuora category 70: a limit was exceeded (status
	// 413 or 429).
	ErrOverLimit error = family(contract.CategoryOverLimit)
	// ErrMalformed is matched by an error of Zuora category 90: the service could not read
	// the request body as one JSON object (status 400). The client sends well-formed JSON, so
	// it means something between them changed the request.
	ErrMalformed error = family(contract.CategoryMalformed)
	// ErrUnavailable is matched by an error with status 503 (the service is not ready, or a
	// read with a minimum sequence timed out waiting for its views), by the client's own
	// error when no service instance listens (status 503, which also matches
	// [nats.ErrNoResponders]) and by the one it returns when no reply came in time, even after
	// its retry (status 504, which also matches [nats.ErrTimeout]). A command may or may not
	// have been applied after a timeout: retrying it with the same [CommandID] (see
	// [Error.CommandID]) is safe.
	ErrUnavailable = errors.New("natsclient: service unavailable")
)

// Error is an error answer of the entityconn service (the micro error headers and the Zuora
// error body), or the client's own account of a call no service answered (status 503 or
// 504). Every method of [Client] that calls the service returns it as is, never wrapped; use
// [errors.Is] with the sentinels of this package, or [errors.As] to read its fields.
type Error struct {
	// Status is the HTTP-like status of the Nats-Service-Error-Code header, such as 409.
	Status int
	// Code is the Zuora error code of the first reason, such as 53000030; 0 when the answer
	// carried none.
	Code int
	// Message joins the messages of all reasons with "; ", or is the Nats-Service-Error
	// header when the body holds none.
	Message string
	// ProcessID is the service's processId, for its logs; may be empty.
	ProcessID string
	// CommandID is the command id the client sent, given with [CommandID] or generated; empty
	// for queries. A later retry with CommandID(e.CommandID) replays the first outcome.
	CommandID string

	cause error // nats.ErrNoResponders or nats.ErrTimeout for the client's own errors
}

// Error returns the message with the status and the Zuora code, such as
// "connection is not pending (status 409, code 53000030)".
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code == 0 {
		return fmt.Sprintf("%s (status %d)", msg, e.Status)
	}
	return fmt.Sprintf("%s (status %d, code %d)", msg, e.Status, e.Code)
}

// Unwrap returns the NATS error behind an error the client made up itself
// ([nats.ErrNoResponders], [nats.ErrTimeout]), and nil for an answer of the service.
func (e *Error) Unwrap() error { return e.cause }

// Category returns Zuora's error category: the last two digits of Code, one of
// [contract.Categories] such as 30 for a rule violation, or 0 when there is no code.
func (e *Error) Category() int {
	return int(contract.CategoryOf(e.Code))
}

// Is reports whether the error belongs to the family named by target, one of the sentinels
// of this package; it is what makes [errors.Is] work.
func (e *Error) Is(target error) bool {
	if target == ErrUnavailable {
		return e.Status == http.StatusServiceUnavailable || e.Status == http.StatusGatewayTimeout
	}
	for _, c := range contract.Categories {
		if target == error(family(c)) {
			return e.inCategory(c)
		}
	}
	return false
}

// inCategory reports whether e is of category c: by its Zuora code, or when it carries none
// (a gateway's page, a bare status) by the status, if the status names a single category.
func (e *Error) inCategory(c contract.Category) bool {
	if e.Code != 0 {
		return contract.CategoryOf(e.Code) == c
	}
	byStatus, ok := contract.CategoryOfStatus(e.Status)
	return ok && byStatus == c
}

// family is the type of the sentinels of this package that stand for a Zuora category. Like
// syscall.Errno it is a comparable value, so that [Error.Is] finds a sentinel's category by
// comparing it with each of [contract.Categories].
type family contract.Category

// Error returns the sentinel's text: the package name and what the category means, such as
// "natsclient: rule violation".
func (f family) Error() string {
	return "natsclient: " + contract.Category(f).String()
}

// inFlight reports whether e says that an earlier attempt of the same command id is still
// being handled.
func (e *Error) inFlight() bool {
	return e.Status == http.StatusConflict && contract.CategoryOf(e.Code) == contract.CategoryConflict
}

// Headers of a micro service error reply (nats.go/micro ErrorHeader and ErrorCodeHeader),
// spelled out to keep this package free of the micro package.
const (
	headerServiceError     = "Nats-Service-Error"
	headerServiceErrorCode = "Nats-Service-Error-Code"
)

// zuoraBody is the Zuora envelope of every answer.
type zuoraBody struct {
	Success   *bool  `json:"success"`
	ProcessID string `json:"processId"`
	Reasons   []struct {
		Code    json.Number `json:"code"`
		Message string      `json:"message"`
	} `json:"reasons"`
}

// replyError returns the error that msg answers, or nil for a successful reply. A reply with
// the micro error headers is an error; so is one whose body says "success": false.
func replyError(msg *nats.Msg, commandID string) *Error {
	codeHeader := strings.TrimSpace(msg.Header.Get(headerServiceErrorCode))
	var z zuoraBody
	decoded := json.Unmarshal(msg.Data, &z) == nil
	if codeHeader == "" && !(decoded && z.Success != nil && !*z.Success) {
		return nil
	}
	e := &Error{Status: http.StatusInternalServerError, CommandID: commandID}
	if n, err := strconv.Atoi(codeHeader); err == nil && n > 0 {
		e.Status = n
	}
	if decoded && len(z.Reasons) > 0 {
		e.ProcessID = z.ProcessID
		var msgs []string
		for i, r := range z.Reasons {
			if i == 0 {
				if n, err := r.Code.Int64(); err == nil {
					e.Code = int(n)
				}
			}
			if r.Message != "" {
				msgs = append(msgs, r.Message)
			}
		}
		e.Message = strings.Join(msgs, "; ")
	}
	if e.Message == "" {
		e.Message = msg.Header.Get(headerServiceError)
	}
	return e
}
