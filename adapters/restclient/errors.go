package restclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/entityconn/entityconn/events/contract"
)

// The error families of the API. An [*APIError] matches one of them with [errors.Is] through
// the last two digits of its Zuora code (its [APIError.Category]), so callers never compare
// codes or messages:
//
//	if errors.Is(err, restclient.ErrNotFound) { ... }
//
// When the server sent no Zuora code (a proxy's error page, say), 401, 403 and 404 still match
// ErrUnauthenticated, ErrPermission and ErrNotFound by their HTTP status.
var (
	// ErrPermission is matched by an API error of Zuora category 10: the caller is known but
	// may not do this in the acting entity (HTTP 403).
	ErrPermission error = family(contract.CategoryPermission)
	// ErrUnauthenticated is matched by an API error of Zuora category 11: the credentials or
	// the token were refused (HTTP 401), even after the client fetched a fresh token once.
	ErrUnauthenticated error = family(contract.CategoryAuthentication)
	// ErrInvalid is matched by an API error of Zuora category 20: a value is malformed or
	// names nothing, such as an unknown target entity (HTTP 400, or 422 for an idempotency
	// key reused with another request).
	ErrInvalid error = family(contract.CategoryInvalidValue)
	// ErrUnknownField is matched by an API error of Zuora category 21: the request body had a
	// field the server does not know (HTTP 400), as when this client is newer than the server.
	ErrUnknownField error = family(contract.CategoryUnknownField)
	// ErrMissing is matched by an API error of Zuora category 22: a required value is absent,
	// such as Zuora-Entity-Ids for a user with several entities (HTTP 400). The client also
	// returns an error wrapping it, without calling the server, for an empty connection id.
	ErrMissing error = family(contract.CategoryMissingValue)
	// ErrRuleViolation is matched by an API error of Zuora category 30: the state of the
	// connection forbids the command, such as accepting one that is not pending (HTTP 409).
	ErrRuleViolation error = family(contract.CategoryRuleViolation)
	// ErrNotFound is matched by an API error of Zuora category 40: no such connection, or one
	// the acting entity may not see (HTTP 404).
	ErrNotFound error = family(contract.CategoryNotFound)
	// ErrConflict is matched by an API error of Zuora category 50: a concurrent attempt holds
	// a lock, such as the same idempotency key still in flight (HTTP 409). Retrying later with
	// the same key is safe.
	ErrConflict error = family(contract.CategoryConflict)
	// ErrOverLimit is matched by an API error of Zuora category 70: a limit was exceeded, a
	// body over 64 KiB (HTTP 413) or too many requests (HTTP 429, whose Retry-After header
	// says when to try again).
	ErrOverLimit error = family(contract.CategoryOverLimit)
	// ErrMalformed is matched by an API error of Zuora category 90: the server could not read
	// the request body as JSON (HTTP 400), or refused its Content-Type (HTTP 415). The client
	// sends well-formed JSON, so it means something between them changed the request.
	ErrMalformed error = family(contract.CategoryMalformed)
	// ErrUnavailable is matched by an API error with HTTP status 503, whatever its code: the
	// service is not ready, or a read with a minimum sequence timed out waiting for the views.
	// Retrying is safe.
	ErrUnavailable = errors.New("restclient: service unavailable")
)

// APIError is a non-2xx answer of the API (or a 2xx one whose body says "success": false).
// It is returned as is, never wrapped, by every method of [Client]; use [errors.Is] with the
// sentinels of this package, or [errors.As] to read its fields.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the Zuora error code of the first reason, such as 53000030; 0 when the body
	// carried none.
	Code int
	// Message joins the messages of all reasons with "; ". For a body that is not a Zuora
	// error it is the first 200 bytes of the body, or the HTTP status text if it was empty.
	Message string
	// ProcessID is the server's processId, for its logs; may be empty.
	ProcessID string
	// TrackID is the Zuora-Track-Id echoed by the server, or the one sent; may be empty.
	TrackID string
}

// Error returns the message with the HTTP status and the Zuora code, such as
// "connection is not pending (HTTP 409, code 53000030)".
func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code == 0 {
		return fmt.Sprintf("%s (HTTP %d)", msg, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d, code %d)", msg, e.Status, e.Code)
}

// Category returns Zuora's error category: the last two digits of Code, one of
// [contract.Categories] such as 30 for a rule violation, or 0 when there is no code.
func (e *APIError) Category() int {
	return int(contract.CategoryOf(e.Code))
}

// Is reports whether the error belongs to the family named by target, one of the sentinels
// of this package; it is what makes [errors.Is] work.
func (e *APIError) Is(target error) bool {
	if target == ErrUnavailable {
		return e.Status == http.StatusServiceUnavailable
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
func (e *APIError) inCategory(c contract.Category) bool {
	if e.Code != 0 {
		return contract.CategoryOf(e.Code) == c
	}
	byStatus, ok := contract.CategoryOfStatus(e.Status)
	return ok && byStatus == c
}

// family is the type of the sentinels of this package that stand for a Zuora category. Like
// syscall.Errno it is a comparable value, so that [APIError.Is] finds a sentinel's category by
// comparing it with each of [contract.Categories].
type family contract.Category

// Error returns the sentinel's text: the package name and what the category means, such as
// "restclient: rule violation".
func (f family) Error() string {
	return "restclient: " + contract.Category(f).String()
}

// zuoraBody is the Zuora envelope of every answer, plus the OAuth 2 error fields that a
// token endpoint may use instead.
type zuoraBody struct {
	Success   *bool  `json:"success"`
	ProcessID string `json:"processId"`
	Reasons   []struct {
		Code    json.Number `json:"code"`
		Message string      `json:"message"`
	} `json:"reasons"`
	OAuthError       string `json:"error"`
	OAuthDescription string `json:"error_description"`
}

// maxErrorText is how much of a body that is not a Zuora error goes into APIError.Message.
const maxErrorText = 200

// newAPIError builds the APIError of a response with the given status, headers and body.
func newAPIError(status int, header http.Header, body []byte, sentTrackID string) *APIError {
	e := &APIError{Status: status, TrackID: header.Get(headerTrackID)}
	if e.TrackID == "" {
		e.TrackID = sentTrackID
	}
	var z zuoraBody
	if json.Unmarshal(body, &z) == nil && (len(z.Reasons) > 0 || z.OAuthError != "") {
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
		if len(z.Reasons) == 0 {
			msgs = append(msgs, z.OAuthError)
			if z.OAuthDescription != "" {
				msgs[0] += ": " + z.OAuthDescription
			}
		}
		e.Message = strings.Join(msgs, "; ")
		return e
	}
	e.Message = truncateText(body, maxErrorText)
	return e
}

// truncateText returns at most n bytes of b as trimmed, valid UTF-8 text.
func truncateText(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
		// Do not leave half a rune at the cut.
		start := len(b) - 1
		for start > 0 && len(b)-start < utf8.UTFMax && !utf8.RuneStart(b[start]) {
			start--
		}
		if !utf8.FullRune(b[start:]) {
			b = b[:start]
		}
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
}
