package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/memstore"
	"github.com/entityconn/entityconn/domain"
)

// With outcome records, the first outcome of a command id is its answer for good (rule 5): a
// retry gets the same success or the same refusal, marked as from the record, and nothing is
// stored again; the id used for another command is refused as reused; an answer a retry may
// change (the service unavailable) is not recorded.
func TestCommandIDsRecordTheirFirstOutcome(t *testing.T) {
	svc, mem := apptest.Memory(t, app.Config{Outcomes: memstore.NewOutcomes()})
	ctx := t.Context()
	root := app.Principal{UserID: "root", EntityID: "global"}
	req := domain.RequestConnection{Target: "eu"}

	first, err := svc.Execute(ctx, root, rest("k1"), req)
	if err != nil || first.FromRecord {
		t.Fatalf("first request = %+v, %v; want a new connection", first, err)
	}
	again, err := svc.Execute(ctx, root, rest("k1"), req)
	if err != nil || !again.FromRecord || again.ConnectionID != first.ConnectionID || again.Sequence != first.Sequence {
		t.Fatalf("retry = %+v, %v; want the first outcome from the record", again, err)
	}

	_, refused := svc.Execute(ctx, root, rest("k2"), req)
	if !errors.Is(refused, domain.ErrRuleViolation) || app.IsRecorded(refused) {
		t.Fatalf("second request = %v, want a rule violation (not from a record)", refused)
	}
	_, replayed := svc.Execute(ctx, root, rest("k2"), req)
	if !errors.Is(replayed, domain.ErrRuleViolation) || !app.IsRecorded(replayed) || replayed.Error() != refused.Error() {
		t.Fatalf("retry of the refused request = %v, want %q from the record", replayed, refused)
	}

	if _, err := svc.Execute(ctx, root, rest("k1"), domain.RequestConnection{Target: "us"}); !errors.Is(err, app.ErrKeyReused) {
		t.Fatalf("k1 for another command = %v, want ErrKeyReused", err)
	}

	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := svc.Execute(gone, root, rest("k3"), domain.RequestConnection{Target: "us"}); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("request with the store out of reach = %v, want ErrUnavailable", err)
	}
	if res, err := svc.Execute(ctx, root, rest("k3"), domain.RequestConnection{Target: "us"}); err != nil || res.FromRecord {
		t.Fatalf("retry after an unavailable answer = %+v, %v; want the command run afresh", res, err)
	}
	if n := len(mem.Events()); n != 2 {
		t.Errorf("%d events stored, want 2 (global→eu once, global→us)", n)
	}
}
