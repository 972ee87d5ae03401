// Package zuora maps entityconn's errors to what Zuora's API answers: an HTTP-like status and
// the error body {"success": false, "processId", "reasons": [{"code", "message"}]}, whose
// code ends in a category (contract §4). Every door uses it (REST, NATS request/reply, NATS
// commands), so that one error gets one answer whichever way the command came.
package zuora

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/natserr"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events/contract"
)

// Zuora error categories: the last two digits of an error code. They are those of
// package contract, as ints.
const (
	CategoryPermission       = int(contract.CategoryPermission)
	CategoryAuthentication   = int(contract.CategoryAuthentication)
	CategoryInvalidValue     = int(contract.CategoryInvalidValue)
	CategoryUnknownField     = int(contract.CategoryUnknownField)
	CategoryMissingValue     = int(contract.CategoryMissingValue)
	CategoryMissingParameter = int(contract.CategoryMissingParameter)
	CategoryRuleViolation    = int(contract.CategoryRuleViolation)
	CategoryNotFound         = int(contract.CategoryNotFound)
	CategoryUnsupported      = int(contract.CategoryUnsupported)
	CategoryConflict         = int(contract.CategoryConflict)
	CategoryInternal         = int(contract.CategoryInternal)
	CategoryUnavailable      = int(contract.CategoryUnavailable)
	CategoryOverLimit        = int(contract.CategoryOverLimit)
	CategoryMalformed        = int(contract.CategoryMalformed)
)

// CodeBase is the object part of entityconn's error codes: code = CodeBase + category.
const CodeBase = contract.CodeBase

// ErrOverLimit is the family of requests refused because they go over a limit: too large
// or too many (Zuora category 70).
var ErrOverLimit = errors.New("over a limit")

// ErrBodyTooLarge is returned for a request body over the 64 KiB limit (HTTP 413).
var ErrBodyTooLarge = fmt.Errorf("%w: request body larger than 64 KiB", ErrOverLimit)

// ErrTooManyRequests is returned when a caller sends more requests, or holds more open
// streams, than it may (HTTP 429). The edge that returns it may say when to retry
// (Retry-After).
var ErrTooManyRequests = fmt.Errorf("%w: too many requests", ErrOverLimit)

// ErrMalformed is the family of request bodies that cannot be read as a request: not JSON,
// not a JSON object, or data after the object (Zuora category 90, HTTP 400). [DecodeJSON]
// returns it.
var ErrMalformed = errors.New(contract.CategoryMalformed.String())

// ErrUnsupportedMediaType is returned for a request body whose Content-Type is not JSON
// (Zuora category 90, HTTP 415).
var ErrUnsupportedMediaType = fmt.Errorf("%w: unsupported media type", ErrMalformed)

// ErrUnknownField is the family of request bodies with a field the request does not know
// (Zuora category 21, HTTP 400). [DecodeJSON] returns it.
var ErrUnknownField = errors.New(contract.CategoryUnknownField.String())

// Kind says what a door does with an answer that is an error: record it as the command's
// outcome, retry the command, or set the command aside as malformed.
type Kind int

// The kinds of error answer.
const (
	// Refusal: a business answer (401, 403, 404, a rule, a limit). It is the command's
	// outcome: recorded for its id, and the durable door acknowledges the command.
	Refusal Kind = iota
	// Retry: not now (the service unavailable, the key in flight, a concurrent change, or a
	// bug). A retry of the same command may be answered otherwise; never recorded.
	Retry
	// Malformed: the command itself is wrong (a value, an unknown or missing field, a body
	// that is not JSON or too large, a reused key). The durable door moves such a command to
	// the poison stream.
	Malformed
)

// Mapping is one row of the error table.
type Mapping struct {
	Err      error
	Status   int
	Category int
	Kind     Kind
}

// Table returns the error table, specific errors first, families after: the one place
// errors are mapped to statuses and categories.
func Table() []Mapping {
	return []Mapping{
		{ErrBodyTooLarge, http.StatusRequestEntityTooLarge, CategoryOverLimit, Malformed},
		{ErrTooManyRequests, http.StatusTooManyRequests, CategoryOverLimit, Refusal},
		{ErrUnsupportedMediaType, http.StatusUnsupportedMediaType, CategoryMalformed, Malformed},
		{ErrMalformed, http.StatusBadRequest, CategoryMalformed, Malformed},
		{ErrUnknownField, http.StatusBadRequest, CategoryUnknownField, Malformed},
		{app.ErrKeyReused, http.StatusUnprocessableEntity, CategoryInvalidValue, Malformed},
		{app.ErrInFlight, http.StatusConflict, CategoryConflict, Retry},
		{app.ErrUnavailable, http.StatusServiceUnavailable, CategoryUnavailable, Retry},
		{app.ErrEarlierAttempt, http.StatusServiceUnavailable, CategoryUnavailable, Retry},
		{domain.ErrUnauthenticated, http.StatusUnauthorized, CategoryAuthentication, Refusal},
		{domain.ErrPermission, http.StatusForbidden, CategoryPermission, Refusal},
		{domain.ErrMissingValue, http.StatusBadRequest, CategoryMissingValue, Malformed},
		{domain.ErrInvalidValue, http.StatusBadRequest, CategoryInvalidValue, Malformed},
		{domain.ErrRuleViolation, http.StatusConflict, CategoryRuleViolation, Refusal},
		{domain.ErrNotFound, http.StatusNotFound, CategoryNotFound, Refusal},
		{domain.ErrConflict, http.StatusConflict, CategoryConflict, Retry},
	}
}

// Classify returns the status and the Zuora code of err. An error of no family in the table
// that NATS or JetStream raised because it could not serve the request now
// ([natserr.Unavailable]) is 503, category 61, as [app.ErrUnavailable] is; any other is 500
// and category 60: a bug.
func Classify(err error) (status, code int) {
	for _, row := range Table() {
		if errors.Is(err, row.Err) {
			return row.Status, CodeBase + row.Category
		}
	}
	if natserr.Unavailable(err) {
		return http.StatusServiceUnavailable, CodeBase + CategoryUnavailable
	}
	return http.StatusInternalServerError, CodeBase + CategoryInternal
}

// KindOf returns what a door does with err: the kind of its row in the table. An error NATS
// raised because it could not serve the request now ([natserr.Unavailable]) is Retry, and so
// is an error of no family (a bug: 500), which another attempt may not meet.
func KindOf(err error) Kind {
	for _, row := range Table() {
		if errors.Is(err, row.Err) {
			return row.Kind
		}
	}
	return Retry
}

// ErrorOf returns the family of an error answer: the table's first row with its status and
// code, else its first row with its status (nil for a success or a status of no row, such as
// a 500). It is for an answer read back without its error.
func ErrorOf(status, code int) error {
	var byStatus error
	for _, row := range Table() {
		if row.Status == status && CodeBase+row.Category == code {
			return row.Err
		}
		if row.Status == status && byStatus == nil {
			byStatus = row.Err
		}
	}
	return byStatus
}

// NewRequestID returns the id of a new HTTP request, for its Zuora-Request-Id header and the
// processId of its error body: a random UUID, 36 characters such as
// 9b2c1f3e-5d4a-4c1b-8e7f-2a6b0c9d1e3f, the form of Zuora's request ids. Safe for concurrent
// use.
func NewRequestID() string { return uuid.NewString() }

// RetryAfter is what a 503 answer's Retry-After header says, in seconds: about the time a
// JetStream stream takes to elect a new leader after a node fails.
const RetryAfter = 1

// Reason is one entry of an error body.
type Reason struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// ErrorBody is the Zuora error body.
type ErrorBody struct {
	Success   bool     `json:"success"`
	ProcessID string   `json:"processId"`
	Reasons   []Reason `json:"reasons"`
}

// Error returns the status and body for err. Internal errors (500) get a generic message
// naming the process id, so that no internal detail leaks; the caller logs the error.
func Error(processID string, err error) (int, ErrorBody) {
	status, code := Classify(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		msg = "internal error (processId " + processID + ")"
	}
	return status, ErrorBody{ProcessID: processID, Reasons: []Reason{{Code: code, Message: msg}}}
}
