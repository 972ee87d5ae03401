package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

// A request to an entity that does not exist and one to an entity the caller has no access
// to get the same answer: status, code and message differ only in the entity id, so that
// requests cannot be used to find out which entities exist.
func TestUnknownTargetLooksLikeNoAccess(t *testing.T) {
	a := startAPI(t, nil, nil)
	sam := a.token("sam") // admin of us only; eu exists

	unknown := a.call(t, "POST", "/v1/entity-connections", sam, "us", `{"targetEntityId":"mars"}`)
	noAccess := a.call(t, "POST", "/v1/entity-connections", sam, "us", `{"targetEntityId":"eu"}`)

	if unknown.status != http.StatusForbidden || noAccess.status != http.StatusForbidden {
		t.Errorf("status: unknown target %d, target without access %d; want 403 for both", unknown.status, noAccess.status)
	}
	if unknown.code() != 53000010 || noAccess.code() != 53000010 {
		t.Errorf("code: unknown target %d, target without access %d; want 53000010 for both", unknown.code(), noAccess.code())
	}
	u := strings.ReplaceAll(unknown.message(), `"mars"`, `"X"`)
	n := strings.ReplaceAll(noAccess.message(), `"eu"`, `"X"`)
	if u != n || u == "" {
		t.Errorf("messages differ beyond the entity id:\n unknown target:        %q\n target without access: %q", unknown.message(), noAccess.message())
	}
	if n := a.eventCount(t); n != 0 {
		t.Errorf("%d events stored, want none", n)
	}
}
