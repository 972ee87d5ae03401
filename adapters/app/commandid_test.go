package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/domain"
)

func rest(key string) app.CommandID { return app.CommandID{Door: app.DoorREST, Key: key} }
func nats(key string) app.CommandID { return app.CommandID{Door: app.DoorNATS, Key: key} }

// A key names one command of one user acting in one entity at one door (rule 5). The same
// key at the other door, from another acting entity or for another target is another
// command: each is stored as its own event with its own connection id, and a retry of each
// gets its own outcome.
func TestSameKeyForDifferentCommandsIsNotARetry(t *testing.T) {
	svc, mem := apptest.Memory(t, app.Config{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	steps := []struct {
		name   string
		id     app.CommandID
		entity string
		target string
	}{
		{"REST, eu→us", rest("dup1"), "eu", "us"},
		{"NATS, global→us", nats("dup1"), "global", "us"},
		{"REST, global→apac", rest("dup1"), "global", "apac"},
		{"NATS, global→eu", nats("dup1"), "global", "eu"},
	}
	ids := map[string]string{}
	for _, s := range steps {
		p := app.Principal{UserID: "root", EntityID: s.entity}
		res, err := svc.Execute(ctx, p, s.id, domain.RequestConnection{Target: s.target})
		if err != nil {
			t.Fatalf("given %s with key dup1: Execute = %v, want a new connection", s.name, err)
		}
		if res.Replayed {
			t.Errorf("%s: Replayed = true, want a new event", s.name)
		}
		if other, seen := ids[res.ConnectionID]; seen {
			t.Errorf("%s: connection id %s, the same as %s's", s.name, res.ConnectionID, other)
		}
		ids[res.ConnectionID] = s.name
		again, err := svc.Execute(ctx, p, s.id, domain.RequestConnection{Target: s.target})
		if err != nil || again.ConnectionID != res.ConnectionID || again.Sequence != res.Sequence {
			t.Errorf("%s: retry = %+v, %v; want its own connection %s at %d", s.name, again, err, res.ConnectionID, res.Sequence)
		}
	}
	if n := len(mem.Events()); n != len(steps) {
		t.Errorf("%d events stored, want %d: one per command", n, len(steps))
	}
}

// A key from a door the service does not know cannot name a command: its ids could meet
// those of the service's own commands.
func TestCommandIDNeedsADoor(t *testing.T) {
	svc, _ := apptest.Memory(t, app.Config{})
	p := app.Principal{UserID: "root", EntityID: "global"}
	_, err := svc.Execute(t.Context(), p, app.CommandID{Key: "k"}, domain.RequestConnection{Target: "eu"})
	if err == nil {
		t.Fatal("Execute(key without a door) = nil, want an error")
	}
}

// A retry of a command whose first attempt stored its event but died before answering
// (CommandID.Retry: its key was released, or its lease ran out) replays that event, even
// when another event has followed it and the command would be allowed again: a request
// after the connection was cancelled would otherwise be stored a second time. The first
// attempt is more than the stream's de-duplication window old, so only the service's own
// check can tell.
func TestRetryAfterLaterEventsReplaysTheStoredEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the stream's de-duplication window")
	}
	t.Parallel()
	st := apptest.Start(t)
	// Without outcome records: the first attempt's answer is lost, so only its event tells.
	svc := app.New(app.Config{Store: natsjs.NewStore(st.Res), Views: st.Views, Index: st.Index, Directory: st.Directory})
	ctx := t.Context()
	root := app.Principal{UserID: "root", EntityID: "global"}
	first, err := svc.Execute(ctx, root, rest("lost-answer"), domain.RequestConnection{Target: "eu"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Execute(ctx, root, app.CommandID{Door: app.DoorREST}, domain.CancelConnection{ConnectionID: first.ConnectionID}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(natsjs.EventsDuplicateWindow + time.Second)
	retry := rest("lost-answer")
	retry.Retry = true
	again, err := svc.Execute(ctx, root, retry, domain.RequestConnection{Target: "eu"})
	if err != nil || !again.Replayed || again.Sequence != first.Sequence || again.ConnectionID != first.ConnectionID {
		t.Errorf("retry = %+v, %v; want the first attempt's event (sequence %d) replayed", again, err, first.Sequence)
	}
	info, err := st.Res.Events.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Errorf("%d events stored, want 2 (the request once, the cancel)", info.State.Msgs)
	}
}
