package restclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
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
	ErrPermission = errors.New("restclient: permission denied")
	// ErrUnauthenticated is matched by an API error of Zuora category 11: the credentials or
	// the token were refused (HTTP 401), even after the client fetched a fresh token once.
	ErrUnauthenticated = errors.New("restclient: authentication failed")
	// ErrInvalid is matched by an API error of Zuora category 20: a value is malformed or
	// names nothing, such as an unknown target entity (HTTP 400, or 422 for an idempotency
	// key reused with another request).
	ErrInvalid = errors.New("restclient: invalid value")
	// ErrMissing is matched by an API error of Zuora category 21: a required value is absent,
	// such as Zuora-Entity-Ids for a user with several entities (HTTP 400). The client also
	// returns an error wrapping it, without calling the server, for an empty connection id.
	ErrMissing = errors.New("restclient: missing value")
	// ErrRuleViolation is matched by an API error of Zuora category 30: the state of the
	// connection forbids the command, such as accepting one that is not pending (HTTP 409).
	ErrRuleViolation = errors.New("restclient: rule violation")
	// ErrNotFound is matched by an API error of Zuora category 40: no such connection, or one
	// the acting entity may not see (HTTP 404).
	ErrNotFound = errors.New("restclient: not found")
	// ErrConflict is matched by an API error of Zuora category 50: a concurrent attempt holds
	// a lock, such as the same idempotency key still in flight (HTTP 409). Retrying later with
	// the same key is safe.
	ErrConflict = errors.New("restclient: conflict")
	// ErrOverLimit is matched by an API error of Zuora category 70: a limit was exceeded, a
	// body over 64 KiB (HTTP 413) or too many requests (HTTP 429, whose Retry-After header
	// says when to try again).
	ErrOverLimit = errors.New("restclient: over a limit")
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

// Category returns Zuora's error category: the last two digits of Code (10 permission,
// 11 authentication, 20 invalid value, 21 missing value, 30 rule violation, 40 not found,
// 50 conflict), or 0 when there is no code.
func (e *APIError) Category() int {
	return e.Code % 100
}

// Is reports whether the error belongs to the family named by target, one of the sentinels
// of this package; it is what makes [errors.Is] work.
func (e *APIError) Is(target error) bool {
	if target == ErrUnavailable {
		return e.Status == http.StatusServiceUnavailable
	}
	category := 0
	switch target {
	case ErrPermission:
		category = 10
	case ErrUnauthenticated:
		category = 11
	case ErrInvalid:
		category = 20
	case ErrMissing:
		category = 21
	case ErrRuleViolation:
		category = 30
	case ErrNotFound:
		category = 40
	case ErrConflict:
		category = 50
	case ErrOverLimit:
		category = 70
	default:
		return false
	}
	if e.Code != 0 {
		return e.Category() == category
	}
	// No Zuora code (a gateway's page, a bare status): only the statuses that name a single
	// family can say which one.
	switch e.Status {
	case http.StatusUnauthorized:
		return category == 11
	case http.StatusForbidden:
		return category == 10
	case http.StatusNotFound:
		return category == 40
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return category == 70
	}
	return false
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
