package natsclient_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/entityconn/entityconn/adapters/natsclient"
)

// TestSentinelsKeepTheirText keeps the text and the identity of the error families, which
// other services log and compare with errors.Is.
func TestSentinelsKeepTheirText(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{natsclient.ErrPermission, "natsclient: permission denied"},
		{natsclient.ErrUnauthenticated, "natsclient: authentication failed"},
		{natsclient.ErrInvalid, "natsclient: invalid value"},
		{natsclient.ErrUnknownField, "natsclient: unknown field"},
		{natsclient.ErrMissing, "natsclient: missing value"},
		{natsclient.ErrRuleViolation, "natsclient: rule violation"},
		{natsclient.ErrNotFound, "natsclient: not found"},
		{natsclient.ErrConflict, "natsclient: conflict"},
		{natsclient.ErrOverLimit, "natsclient: over a limit"},
		{natsclient.ErrMalformed, "natsclient: malformed request"},
		{natsclient.ErrUnavailable, "natsclient: service unavailable"},
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
