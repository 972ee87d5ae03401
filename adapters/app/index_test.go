package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/apptest"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/projections"
)

// Commands try the list index's state of the pair first. An index that has fallen behind
// (here: stopped before the first event) must never make a command succeed that the stored
// events forbid, nor fail one they allow.
func TestCommandsWithAnIndexFallenBehind(t *testing.T) {
	st := apptest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	frozen := natsjs.NewListIndex(st.Res, nil)
	ictx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = frozen.Run(ictx); close(done) }()
	if _, err := frozen.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	<-done
	dirs := natsjs.NewDirectoryStore(st.Res, nil)
	if _, err := dirs.Load(ctx); err != nil {
		t.Fatal(err)
	}
	svc := app.New(app.Config{Store: natsjs.NewStore(st.Res), Views: st.Views, Index: frozen, Directory: dirs})

	root := app.Principal{UserID: "root", EntityID: "global"}
	eve := app.Principal{UserID: "eve", EntityID: "eu"}
	req := domain.RequestConnection{Target: "eu"}

	first, err := svc.Execute(ctx, root, rest("r1"), req)
	if err != nil {
		t.Fatalf("first request: %v", err)
	}
	if _, err := svc.Execute(ctx, root, rest("r2"), req); !errors.Is(err, domain.ErrRuleViolation) {
		t.Fatalf("second request while the first is pending = %v, want a rule violation", err)
	}
	if _, err := svc.Execute(ctx, eve, rest("a1"), domain.AcceptConnection{ConnectionID: first.ConnectionID}); err != nil {
		t.Fatalf("accept: %v", err)
	}
	if _, err := svc.Execute(ctx, root, rest("r3"), req); !errors.Is(err, domain.ErrRuleViolation) {
		t.Fatalf("request while connected = %v, want a rule violation", err)
	}
	if _, err := svc.Execute(ctx, eve, rest("d1"), domain.DisconnectConnection{ConnectionID: first.ConnectionID}); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	again, err := svc.Execute(ctx, root, rest("r4"), req)
	if err != nil {
		t.Fatalf("request after the disconnect: %v", err)
	}
	// A retry of the first request replays its outcome.
	if res, err := svc.Execute(ctx, root, rest("r1"), req); err != nil || res.ConnectionID != first.ConnectionID {
		t.Fatalf("retry of the first request = %+v, %v", res, err)
	}
	info, err := st.Res.Events.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 4 || again.Sequence != 4 {
		t.Fatalf("%d events stored, the last request at %d; want 4 and 4 (request, accept, disconnect, request)", info.State.Msgs, again.Sequence)
	}
	if frozen.Sequence() != 0 {
		t.Fatalf("the stopped index moved to %d", frozen.Sequence())
	}
	// A list never shows less than the views do: behind them, the index gives way to them.
	if err := st.Views.WaitFor(ctx, again.Sequence); err != nil {
		t.Fatal(err)
	}
	l, err := svc.List(ctx, root, app.ListQuery{Direction: projections.Outbound, Page: 1, PageSize: 10})
	if err != nil || len(l.Items) != 2 || l.Items[0].ID != again.ConnectionID {
		t.Fatalf("list with the index behind the views = %+v, %v; want both connections, the newest first", l, err)
	}
}

// A command on a connection that this replica has not seen yet finds its pair in the list
// index, which follows the event stream itself: it does not wait for the projector, which
// may be held up (here: there is none, so the views bucket never shows the connection).
func TestCommandsFindTheirConnectionWithoutTheProjector(t *testing.T) {
	_, url := natsjstest.Single(t)
	js, err := jetstream.New(natsjstest.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := natsjs.Setup(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	dirs := natsjs.NewDirectoryStore(res, nil)
	if _, _, err := dirs.Import(ctx, []byte(apptest.Directory())); err != nil {
		t.Fatal(err)
	}
	views, index := natsjs.NewViews(res, nil), natsjs.NewListIndex(res, nil)
	apptest.Background(t, views.Run, index.Run, dirs.Run)
	if _, err := index.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	replica := func() *app.Service {
		return app.New(app.Config{Store: natsjs.NewStore(res), Views: views, Index: index, Directory: dirs})
	}
	root := app.Principal{UserID: "root", EntityID: "global"}
	eve := app.Principal{UserID: "eve", EntityID: "eu"}
	req, err := replica().Execute(ctx, root, rest("r1"), domain.RequestConnection{Target: "eu"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := replica().Execute(ctx, eve, rest("a1"), domain.AcceptConnection{ConnectionID: req.ConnectionID}); err != nil {
		t.Fatalf("accept on another replica, no projector: %v", err)
	}
	if took := time.Since(start); took >= app.MinSequenceWait {
		t.Errorf("accept took %v: it waited for views that cannot catch up", took)
	}
	// Someone else's connection stays unknown to an entity that is not part of it.
	mallory := app.Principal{UserID: "sam", EntityID: "us"}
	if _, err := replica().Execute(ctx, mallory, rest("x1"), domain.CancelConnection{ConnectionID: req.ConnectionID}); !errors.Is(err, domain.ErrConnectionNotFound) {
		t.Errorf("cancel by an entity outside the connection = %v, want not found", err)
	}
}
