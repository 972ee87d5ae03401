package wire_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/wire"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/projections"
)

func TestNewDetailWritesUTCAndAnEmptyHistory(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	at := time.Date(2026, 11, 27, 11, 0, 0, 0, cet)
	v := projections.View{ID: "c1", SourceEntityID: "global", TargetEntityID: "eu", Status: domain.StatusPending,
		RequestedBy: "alice", RequestedAt: at, UpdatedAt: at, Sequence: 3}

	got, err := json.Marshal(wire.NewDetail(app.Detail{View: v}))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"c1","sourceEntityId":"global","targetEntityId":"eu","status":"Pending","requestedBy":"alice",` +
		`"requestedAt":"2026-11-27T10:00:00Z","updatedAt":"2026-11-27T10:00:00Z","history":[],"success":true}`
	if string(got) != want {
		t.Errorf("NewDetail(no history) = %s, want %s", got, want)
	}

	hist := []projections.HistoryItem{{Type: events.TypeConnectionRequested, At: at, ActorUserID: "alice", ActorEntityID: "global"}}
	got, err = json.Marshal(wire.NewDetail(app.Detail{View: v, History: hist}).History)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"type":"ConnectionRequested","at":"2026-11-27T10:00:00Z","actorUserId":"alice","actorEntityId":"global","reason":""}]`; string(got) != want {
		t.Errorf("NewDetail(...).History = %s, want %s", got, want)
	}
	if !hist[0].At.Equal(at) || hist[0].At.Location() != cet {
		t.Errorf("NewDetail changed the caller's history: At = %v", hist[0].At)
	}
}

func TestNewListHasNoNextPageAndNoNilItems(t *testing.T) {
	got, err := json.Marshal(wire.NewList(app.ListResult{}))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"entityConnections":[],"success":true}`; string(got) != want {
		t.Errorf("NewList(empty) = %s, want %s", got, want)
	}
}
