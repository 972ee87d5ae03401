package restclient_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/entityconn/entityconn/adapters/restclient"
)

// TestSentinelsKeepTheirText keeps the text and the identity of the error families, which
// other services log and compare with errors.Is.
func TestSentinelsKeepTheirText(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{restclient.ErrPermission, "restclient: permission denied"},
		{restclient.ErrUnauthenticated, "restclient: authentication failed"},
		{restclient.ErrInvalid, "restclient: invalid value"},
		{restclient.ErrUnknownField, "restclient: unknown field"},
		{restclient.ErrMissing, "restclient: missing value"},
		{restclient.ErrRuleViolation, "restclient: rule violation"},
		{restclient.ErrNotFound, "restclient: not found"},
		{restclient.ErrConflict, "restclient: conflict"},
		{restclient.ErrOverLimit, "restclient: over a limit"},
		{restclient.ErrMalformed, "restclient: malformed request"},
		{restclient.ErrUnavailable, "restclient: service unavailable"},
	}
	for i, c := range cases {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
		wrapped := fmt.Errorf("%w: connection id is empty", c.err)
		for j, other := range cases {
			if got := errors.Is(wrapped, other.err); got != (i == j) {
				t.Errorf("errors.Is(%q, %q) = %v, want %v", wrapped, other.err, got, i == j)
			}
		}
	}
}
