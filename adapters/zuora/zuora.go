// Package zuora maps entityconn's errors to what Zuora's API answers: an HTTP-like status and
// the error body {"success": false, "processId", "reasons": [{"code", "message"}]}, whose
// code ends in a category (contract §4). Every door uses it (REST, NATS request/reply, NATS
// commands), so that one error gets one answer whichever way the command came.
package zuora

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/natserr"
	"github.com/entityconn/entityconn/domain"
)

// Zuora error categories: the last two digits of an error code.
const (
	CategoryPermission     = 10
	CategoryAuthentication = 11
	CategoryInvalidValue   = 20
	CategoryMissingValue   = 21
	CategoryRuleViolation  = 30
	CategoryNotFound       = 40
	CategoryConflict       = 50
	CategoryUnavailable    = 61
	CategoryOverLimit      = 70
	CategoryInternal       = 99
)

// CodeBase is the object part of entityconn's error codes: code = CodeBase + category.
const CodeBase = 53000000

// ErrOverLimit is the family of requests refused because they go over a limit: too large
// or too many (Zuora category 70).
var ErrOverLimit = errors.New("over a limit")

// ErrBodyTooLarge is returned for a request body over the 64 KiB limit (HTTP 413).
var ErrBodyTooLarge = fmt.Errorf("%w: request body larger than 64 KiB", ErrOverLimit)

// ErrTooManyRequests is returned when a caller sends more requests, or holds more open
// streams, than it may (HTTP 429). The edge that returns it may say when to retry
// (Retry-After).
var ErrTooManyRequests = fmt.Errorf("%w: too many requests", ErrOverLimit)

// Mapping is one row of the error table.
type Mapping struct {
	Err      error
	Status   int
	Category int
}

// Table returns the error table, specific errors first, families after: the one place
// errors are mapped to statuses and categories.
func Table() []Mapping {
	return []Mapping{
		{ErrBodyTooLarge, http.StatusRequestEntityTooLarge, CategoryOverLimit},
		{ErrTooManyRequests, http.StatusTooManyRequests, CategoryOverLimit},
		{app.ErrKeyReused, http.StatusUnprocessableEntity, CategoryInvalidValue},
		{app.ErrInFlight, http.StatusConflict, CategoryConflict},
		{app.ErrUnavailable, http.StatusServiceUnavailable, CategoryUnavailable},
		{app.ErrEarlierAttempt, http.StatusServiceUnavailable, CategoryUnavailable},
		{domain.ErrUnauthenticated, http.StatusUnauthorized, CategoryAuthentication},
		{domain.ErrPermission, http.StatusForbidden, CategoryPermission},
		{domain.ErrMissingValue, http.StatusBadRequest, CategoryMissingValue},
		{domain.ErrInvalidValue, http.StatusBadRequest, CategoryInvalidValue},
		{domain.ErrRuleViolation, http.StatusConflict, CategoryRuleViolation},
		{domain.ErrNotFound, http.StatusNotFound, CategoryNotFound},
		{domain.ErrConflict, http.StatusConflict, CategoryConflict},
	}
}

// Classify returns the status and the Zuora code of err. An error of no family in the table
// that NATS or JetStream raised because it could not serve the request now
// ([natserr.Unavailable]) is 503, category 61, as [app.ErrUnavailable] is; any other is 500
// and category 99: a bug.
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

// Transient reports whether err is an answer that a retry of the same command may change:
// the service was unavailable, the key was in flight, or the pair kept changing under the
// command (contention). Such an outcome is never recorded as a command's first outcome, and
// the durable door retries the command.
func Transient(err error) bool {
	return errors.Is(err, app.ErrUnavailable) || errors.Is(err, app.ErrContended) ||
		errors.Is(err, app.ErrInFlight) || errors.Is(err, app.ErrEarlierAttempt) || natserr.Unavailable(err)
}

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
