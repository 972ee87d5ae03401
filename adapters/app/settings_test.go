package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// A setting changed while requests are decided applies to each whole or not at all: on the
// real server, with the target's settings flipping between accepting the source and not,
// every acceptance by the settings follows, in the log, a setting that accepts the source,
// and comes right after its request.
func TestSettingsChangedDuringRequests(t *testing.T) {
	st := apptest.Start(t)
	svc := st.Service
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	root := func(e string) app.Principal { return app.Principal{UserID: "root", EntityID: e} }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // eu's admin flips the setting
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			from := []string{"global"}
			if i%2 == 1 {
				from = nil
			}
			if _, err := svc.Execute(ctx, root("eu"), rest(uuid.NewString()), domain.ChangeSharingSettings{AutoAcceptFrom: from}); err != nil {
				t.Errorf("settings: %v", err)
				return
			}
		}
	})
	connected, pending := 0, 0
	for range 60 { // global requests eu, then ends the connection to request again
		res, err := svc.Execute(ctx, root("global"), rest(uuid.NewString()), domain.RequestConnection{Target: "eu"})
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		var end domain.Command = domain.CancelConnection{ConnectionID: res.ConnectionID}
		if res.Status == domain.StatusConnected {
			connected++
			end = domain.DisconnectConnection{ConnectionID: res.ConnectionID}
		} else {
			pending++
		}
		if _, err := svc.Execute(ctx, root("global"), rest(uuid.NewString()), end); err != nil && !errors.Is(err, domain.ErrRuleViolation) {
			t.Fatalf("end: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	if connected == 0 || pending == 0 {
		t.Fatalf("%d requests accepted at once, %d pending: the settings did not flip under them", connected, pending)
	}
	info, err := st.Res.Events.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var setting domain.Settings
	var prev events.Event
	accepted := 0
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := st.Res.Events.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		e, err := events.Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case e.Type == events.TypeSharingSettingsChanged:
			setting = domain.SettingsOf(e)
		case e.Type == events.TypeConnectionAccepted && e.ActorUserID == events.AutoAcceptActor:
			accepted++
			if !setting.Accepts(e.SourceEntityID) {
				t.Errorf("event %d: accepted by the settings after a setting %v that does not accept %s", seq, setting.AutoAcceptFrom, e.SourceEntityID)
			}
			if prev.Type != events.TypeConnectionRequested || prev.ConnectionID != e.ConnectionID {
				t.Errorf("event %d: the acceptance does not follow its request (%s %s)", seq, prev.Type, prev.ConnectionID)
			}
		}
		prev = e
	}
	if accepted != connected {
		t.Errorf("%d acceptances by the settings in the log, %d requests answered Connected", accepted, connected)
	}
	t.Logf("%d requests: %d accepted at once, %d pending", connected+pending, connected, pending)
}
