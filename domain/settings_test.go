package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// The cases of contract §8: a source in the list, one not in it, "*", and an empty list.
func TestAutoAccept(t *testing.T) {
	req := requested // global→eu, by alice
	for _, c := range []struct {
		name     string
		from     []string
		accepted bool
	}{
		{"the source in the list", []string{"us", "global"}, true},
		{"the source not in the list", []string{"us"}, false},
		{"every source", []string{"*"}, true},
		{"an empty list", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			set := events.Event{Type: events.TypeSharingSettingsChanged, AutoAcceptFrom: events.NewIDList(c.from)}
			acc, ok := domain.AutoAccept(req, domain.SettingsOf(set), "acc")
			if ok != c.accepted {
				t.Fatalf("AutoAccept with %v = %v, want %v", c.from, ok, c.accepted)
			}
			if !ok {
				return
			}
			if acc.Type != events.TypeConnectionAccepted || acc.ActorUserID != "system:auto-accept" || acc.ActorEntityID != "eu" ||
				acc.ConnectionID != req.ConnectionID || acc.EventID != "acc" || !acc.OccurredAt.Equal(req.OccurredAt) {
				t.Fatalf("acceptance %+v", acc)
			}
			state, err := domain.Evolve(domain.Connection{}, req)
			if err == nil {
				state, err = domain.Evolve(state, acc)
			}
			if err != nil || state.Status != domain.StatusConnected {
				t.Fatalf("request then acceptance = %v, %v; want Connected", state.Status, err)
			}
		})
	}
	if _, ok := domain.AutoAccept(accepted, domain.Settings{AutoAcceptFrom: []string{"*"}}, "x"); ok {
		t.Error("AutoAccept of an event that is not a request")
	}
}

func TestDecideSettings(t *testing.T) {
	d := testDirectory(t)
	erik, uma := actor(t, d, "erik", "eu"), actor(t, d, "uma", "eu")
	now := t0.Add(time.Hour)
	e, err := domain.DecideSettings(domain.ChangeSharingSettings{AutoAcceptFrom: []string{"global"}, EventID: "s1"}, erik, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Validate(); err != nil || e.SourceEntityID != "eu" || e.TargetEntityID != "eu" || e.Subject() != events.SettingsSubject("eu") {
		t.Fatalf("settings event %+v: %v", e, err)
	}
	if got := domain.SettingsOf(e); !got.Accepts("global") || got.Accepts("us") {
		t.Errorf("SettingsOf = %+v", got)
	}
	for _, c := range []struct {
		name   string
		from   []string
		a      domain.Actor
		family error
	}{
		{"not an admin", []string{"global"}, uma, domain.ErrPermission},
		{"the service", []string{"global"}, domain.System, domain.ErrPermission},
		{"* with others", []string{"*", "global"}, erik, domain.ErrInvalidValue},
		{"not an id", []string{"glo bal"}, erik, domain.ErrInvalidValue},
		{"twice", []string{"us", "us"}, erik, domain.ErrInvalidValue},
		{"itself", []string{"eu"}, erik, domain.ErrInvalidValue},
	} {
		if _, err := domain.DecideSettings(domain.ChangeSharingSettings{AutoAcceptFrom: c.from}, c.a, now); !errors.Is(err, c.family) {
			t.Errorf("%s: DecideSettings = %v, want %v", c.name, err, c.family)
		}
	}
	none, err := domain.DecideSettings(domain.ChangeSharingSettings{EventID: "s2"}, erik, now)
	if err != nil || domain.SettingsOf(none).Accepts("global") {
		t.Errorf("an empty list = %+v, %v; want accepted, accepting none", none, err)
	}
}
