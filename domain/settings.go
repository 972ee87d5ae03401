package domain

import (
	"fmt"
	"slices"
	"time"

	"github.com/entityconn/entityconn/events"
	"github.com/entityconn/entityconn/events/contract"
)

// AllSources, alone in a setting's list, accepts requests from every source at once.
const AllSources = "*"

// MaxAutoAcceptFrom is the most sources a setting may name.
const MaxAutoAcceptFrom = 1000

// ChangeSharingSettings sets which sources' requests the acting entity accepts at once
// (contract §8): a list of entity ids, [AllSources] alone, or none.
type ChangeSharingSettings struct {
	AutoAcceptFrom []string
	EventID        string
}

// Name implements [Command].
func (ChangeSharingSettings) Name() string { return contract.CommandChangeSharingSettings }

// Settings are an entity's sharing settings: the sources whose requests it accepts at once.
// The zero Settings accepts none.
type Settings struct {
	AutoAcceptFrom []string
}

// SettingsOf returns the settings that an entity's last SharingSettingsChanged event
// records; the zero Settings for any other event.
func SettingsOf(e events.Event) Settings {
	if e.Type != events.TypeSharingSettingsChanged {
		return Settings{}
	}
	return Settings{AutoAcceptFrom: e.AutoAcceptFrom.IDs()}
}

// Accepts reports whether a request from source is accepted at once.
func (s Settings) Accepts(source string) bool {
	return slices.Contains(s.AutoAcceptFrom, source) || slices.Equal(s.AutoAcceptFrom, []string{AllSources})
}

// DecideSettings returns the event that records cmd for the acting entity, or why it is
// refused: only an admin of the entity may change its settings, and the list holds entity
// ids (at most [MaxAutoAcceptFrom], none twice, not the entity itself) or [AllSources] alone.
func DecideSettings(cmd ChangeSharingSettings, a Actor, now time.Time) (events.Event, error) {
	ids := cmd.AutoAcceptFrom
	switch {
	case a.IsSystem():
		return events.Event{}, fmt.Errorf("%w: the service does not change sharing settings", ErrPermission)
	case a.Role != RoleAdmin:
		return events.Event{}, fmt.Errorf("%w: user %q in entity %q", ErrNotAdmin, a.UserID, a.EntityID)
	case len(ids) > MaxAutoAcceptFrom:
		return events.Event{}, fmt.Errorf("%w: autoAcceptFrom names %d entities, at most %d allowed", ErrInvalidValue, len(ids), MaxAutoAcceptFrom)
	case slices.Contains(ids, AllSources) && len(ids) > 1:
		return events.Event{}, fmt.Errorf("%w: autoAcceptFrom: %q stands alone, for every source", ErrInvalidValue, AllSources)
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		switch {
		case id == AllSources:
		case !events.ValidID(id):
			return events.Event{}, fmt.Errorf("%w: autoAcceptFrom: %q does not match ^[A-Za-z0-9_-]{1,64}$", ErrInvalidValue, truncate(id))
		case id == a.EntityID:
			return events.Event{}, fmt.Errorf("%w: autoAcceptFrom names %q, the acting entity itself", ErrSameEntity, id)
		case seen[id]:
			return events.Event{}, fmt.Errorf("%w: autoAcceptFrom names %q twice", ErrInvalidValue, id)
		}
		seen[id] = true
	}
	return events.Event{EventID: cmd.EventID, Type: events.TypeSharingSettingsChanged, SourceEntityID: a.EntityID, TargetEntityID: a.EntityID,
		ActorUserID: a.UserID, ActorEntityID: a.EntityID, OccurredAt: now, AutoAcceptFrom: events.NewIDList(ids)}, nil
}

// AutoAccept returns the acceptance that the target's settings s make of requested (a
// ConnectionRequested), with id eventID, and whether they make one: by
// [events.AutoAcceptActor], acting in the target, at the request's time. It is stored right
// after the request, in the same atomic batch.
func AutoAccept(requested events.Event, s Settings, eventID string) (events.Event, bool) {
	if requested.Type != events.TypeConnectionRequested || !s.Accepts(requested.SourceEntityID) {
		return events.Event{}, false
	}
	e := requested
	e.EventID, e.Type = eventID, events.TypeConnectionAccepted
	e.ActorUserID, e.ActorEntityID = events.AutoAcceptActor, requested.TargetEntityID
	return e, true
}
