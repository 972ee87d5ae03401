package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/entityconn/entityconn/domain"
)

// The token endpoint's refusals that OAuth 2.0 names apart from the other invalid values.
var (
	errUnsupportedGrantType = fmt.Errorf("%w: unsupported grant_type", domain.ErrInvalidValue)
	errInvalidScope         = fmt.Errorf("%w: invalid scope", domain.ErrInvalidValue)
)

// The error codes of OAuth 2.0 (RFC 6749 §5.2; temporarily_unavailable and server_error
// from §4.1.2.1) that POST /oauth/token answers with.
const (
	oauthInvalidRequest         = "invalid_request"
	oauthInvalidClient          = "invalid_client"
	oauthUnsupportedGrantType   = "unsupported_grant_type"
	oauthInvalidScope           = "invalid_scope"
	oauthTemporarilyUnavailable = "temporarily_unavailable"
	oauthServerError            = "server_error"
)

// OAuthErrorBody is the error body of POST /oauth/token: OAuth 2.0's error and
// error_description (RFC 6749 §5.2), which OAuth clients read, beside the fields of the Zuora
// error body, which every other answer of the API has and Zuora clients read. Zuora's API
// reference documents no body for the token endpoint's errors; see the decision log.
type OAuthErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	ErrorBody
}

// oauthError returns the OAuth 2.0 error code of err, answered with status.
func oauthError(err error, status int) string {
	switch {
	case errors.Is(err, errUnsupportedGrantType):
		return oauthUnsupportedGrantType
	case errors.Is(err, errInvalidScope):
		return oauthInvalidScope
	case errors.Is(err, domain.ErrUnauthenticated):
		return oauthInvalidClient
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable:
		return oauthTemporarilyUnavailable
	case status >= http.StatusInternalServerError:
		return oauthServerError
	}
	return oauthInvalidRequest
}
