package contract

import (
	"maps"
	"slices"
	"strconv"
)

// Category is a Zuora error category: the last two digits of an error code, such as 30 in
// 53000030 (contract §4). Every door answers an error of one family with the same category,
// and both clients tell error families apart by it.
type Category int

// The categories, Zuora's own (its API reference, "Error Category Codes"). The HTTP status
// of each is the one REST answers with and NATS puts in its Nats-Service-Error-Code header.
// Zuora's category 99 (an error of an external system such as a payment gateway) has no use
// here.
const (
	// CategoryPermission: the caller is known but may not do this (403).
	CategoryPermission Category = 10
	// CategoryAuthentication: the credentials or the token were refused (401).
	CategoryAuthentication Category = 11
	// CategoryInvalidValue: a value is malformed or names nothing (400), or an idempotency
	// key or command id was reused with another request (422).
	CategoryInvalidValue Category = 20
	// CategoryUnknownField: the request body has a field the request does not know (400).
	CategoryUnknownField Category = 21
	// CategoryMissingValue: a required field of the body, or a required header such as
	// Zuora-Entity-Ids, is absent (400). Zuora's "missing required field".
	CategoryMissingValue Category = 22
	// CategoryMissingParameter: a required query parameter is absent (400). No endpoint of
	// entityconn has a required query parameter, so no answer carries it today; it is
	// defined because Zuora defines it.
	CategoryMissingParameter Category = 23
	// CategoryRuleViolation: the state of the connection forbids the command (409).
	CategoryRuleViolation Category = 30
	// CategoryNotFound: no such connection, or one the caller may not see (404).
	CategoryNotFound Category = 40
	// CategoryUnsupported: the path does not support the method (405).
	CategoryUnsupported Category = 45
	// CategoryConflict: a concurrent attempt holds a lock, such as an idempotency key still
	// in flight (409); Zuora's "locking contention". Retrying later with the same key is
	// safe.
	CategoryConflict Category = 50
	// CategoryInternal: a bug (500); the message names the process id only.
	CategoryInternal Category = 60
	// CategoryUnavailable: the service cannot answer now (503). Retrying is safe.
	CategoryUnavailable Category = 61
	// CategoryOverLimit: a limit was exceeded, a body too large (413) or too many requests
	// (429).
	CategoryOverLimit Category = 70
	// CategoryMalformed: the request body is not what it must be to be read: not JSON, not
	// a JSON object, data after the object (400), or a Content-Type other than JSON (415).
	CategoryMalformed Category = 90
)

// CodeBase is the object part of entityconn's error codes: an error's code is CodeBase plus
// its category, such as 53000030 for a rule violation.
const CodeBase = 53000000

// meanings says what an error of each category is: the one list of categories, from which
// [Categories] and [Category.String] are read.
var meanings = map[Category]string{
	CategoryPermission:       "permission denied",
	CategoryAuthentication:   "authentication failed",
	CategoryInvalidValue:     "invalid value",
	CategoryUnknownField:     "unknown field",
	CategoryMissingValue:     "missing value",
	CategoryMissingParameter: "missing query parameter",
	CategoryRuleViolation:    "rule violation",
	CategoryNotFound:         "not found",
	CategoryUnsupported:      "unsupported request",
	CategoryConflict:         "conflict",
	CategoryInternal:         "internal error",
	CategoryUnavailable:      "temporarily unavailable",
	CategoryOverLimit:        "over a limit",
	CategoryMalformed:        "malformed request",
}

// Categories lists every category entityconn defines, in increasing order. Callers must not
// modify it.
var Categories = slices.Sorted(maps.Keys(meanings))

// String returns what an error of category c is, such as "rule violation", or "category N"
// for a category entityconn does not define.
func (c Category) String() string {
	if m, ok := meanings[c]; ok {
		return m
	}
	return "category " + strconv.Itoa(int(c))
}

// CategoryOf returns the category of a Zuora error code: its last two digits.
func CategoryOf(code int) Category {
	return Category(code % 100)
}

// CategoryOfStatus returns the category that an HTTP status names by itself, for an error
// answer without a Zuora code (a proxy's error page, a bare status): 401, 403, 404, 405, 413,
// 415 and 429. ok is false for any other status, which several categories share or none has.
// The statuses are numbers rather than net/http's names so that this package, which the
// domain imports, stays free of net/http.
func CategoryOfStatus(status int) (c Category, ok bool) {
	switch status {
	case 401: // Unauthorized
		return CategoryAuthentication, true
	case 403: // Forbidden
		return CategoryPermission, true
	case 404: // Not Found
		return CategoryNotFound, true
	case 405: // Method Not Allowed
		return CategoryUnsupported, true
	case 413, 429: // Content Too Large, Too Many Requests
		return CategoryOverLimit, true
	case 415: // Unsupported Media Type
		return CategoryMalformed, true
	}
	return 0, false
}
