package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/domain"
)

// boundSpy is an event store that notes the bounds its connections' histories are read with.
type boundSpy struct {
	app.EventStore
	mu     sync.Mutex
	bounds []app.Bound
}

func (s *boundSpy) Connection(ctx context.Context, source, target, id string, b app.Bound) ([]app.Stored, error) {
	s.mu.Lock()
	s.bounds = append(s.bounds, b)
	s.mu.Unlock()
	return s.EventStore.Connection(ctx, source, target, id, b)
}

// The history of a connection older than its pair's latest is read from its request's
// sequence, which the list index knows, and not searched for among the pair's requests (on a
// busy pair that search made a command outlast its deadline under faults).
func TestAnOlderConnectionsHistoryStartsAtItsRequest(t *testing.T) {
	_, mem := apptest.Memory(t, app.Config{})
	spy := &boundSpy{EventStore: mem}
	svc := app.New(app.Config{Store: spy, Views: mem.Views(), Index: mem.Index(), Directory: mem})
	ctx := t.Context()
	root := app.Principal{UserID: "root", EntityID: "global"}
	eve := app.Principal{UserID: "eve", EntityID: "eu"}

	first, err := svc.Execute(ctx, root, rest("r1"), domain.RequestConnection{Target: "eu"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Execute(ctx, eve, rest("d1"), domain.DenyConnection{ConnectionID: first.ConnectionID}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Execute(ctx, root, rest("r2"), domain.RequestConnection{Target: "eu"}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Execute(ctx, eve, rest("a1"), domain.AcceptConnection{ConnectionID: first.ConnectionID})
	if !errors.Is(err, domain.ErrRuleViolation) {
		t.Fatalf("accepting the denied, older connection = %v; want a rule violation", err)
	}
	spy.mu.Lock()
	defer spy.mu.Unlock()
	want := app.Bound{From: first.Sequence}
	for _, b := range spy.bounds {
		if b != want {
			t.Errorf("history read with %+v; want %+v (the request's sequence)", b, want)
		}
	}
	if len(spy.bounds) == 0 {
		t.Error("the older connection's history was not read")
	}
}
