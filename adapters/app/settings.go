package app

import (
	"context"
	"fmt"

	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// Sharing settings (contract §8). An entity's settings are its last SharingSettingsChanged
// event, on the pair of the entity with itself: read with one get of that pair's last
// event, changed by a command on that pair like any other (its append conditional on the
// pair). A request whose target's settings accept its source is stored with its acceptance
// in one atomic batch that is conditional on the target's settings too
// ([PairUpdate.Follow]): a setting changed meanwhile makes the request be decided again.

// SharingSettings returns the sharing settings of p's entity, and the stream sequence of the
// event that set them (0: never set).
func (s *Service) SharingSettings(ctx context.Context, p Principal) (domain.Settings, uint64, error) {
	if _, err := s.actor(p); err != nil {
		return domain.Settings{}, 0, err
	}
	last, found, err := s.cfg.Store.LastOfPair(ctx, p.EntityID, p.EntityID)
	if err != nil {
		return domain.Settings{}, 0, unavailable(err)
	}
	if !found {
		return domain.Settings{}, 0, nil
	}
	return domain.SettingsOf(last.Event), last.Sequence, nil
}

// autoAccept returns what a request adds to its batch ([PairUpdate.Follow]): its acceptance,
// when the target's settings accept the source, conditional on those settings.
func (s *Service) autoAccept(target, requestID string) func(ctx context.Context, st PairState, e events.Event) ([]events.Event, []Expect, error) {
	return func(ctx context.Context, _ PairState, e events.Event) ([]events.Event, []Expect, error) {
		if e.Type != events.TypeConnectionRequested {
			return nil, nil, nil
		}
		last, found, err := s.cfg.Store.LastOfPair(ctx, target, target)
		if err != nil {
			return nil, nil, unavailable(fmt.Errorf("the sharing settings of %q: %w", target, err))
		}
		acc, ok := domain.AutoAccept(e, domain.SettingsOf(last.Event), autoAcceptanceID(requestID))
		if !found || !ok {
			return nil, nil, nil
		}
		return []events.Event{acc}, []Expect{{Pair{target, target}, last.Sequence}}, nil
	}
}

// autoAcceptanceID is the id of the acceptance that settings make of the request whose event
// is requestID.
func autoAcceptanceID(requestID string) string { return deriveID("auto-accept", requestID) }

// autoAcceptanceOf reports whether e is the acceptance that settings made of the request
// whose event is requestID.
func autoAcceptanceOf(requestID string) func(events.Event) bool {
	return func(e events.Event) bool {
		return e.Type == events.TypeConnectionAccepted && e.ActorUserID == events.AutoAcceptActor && e.EventID == autoAcceptanceID(requestID)
	}
}
