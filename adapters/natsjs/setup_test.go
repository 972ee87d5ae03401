package natsjs_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
)

// The duplicate windows are what the server reads back at start: a long one makes a restart
// after a burst of writes re-read the burst.
func TestSetupDuplicateWindows(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			r := setup(t, b.start(t), b.replicas)
			ctx := context.Background()
			ev, err := r.Events.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Config.Duplicates != natsjs.EventsDuplicateWindow {
				t.Errorf("event stream duplicate window %v, want %v", ev.Config.Duplicates, natsjs.EventsDuplicateWindow)
			}
			vs, err := r.JS.Stream(ctx, "KV_"+natsjs.BucketViews)
			if err != nil {
				t.Fatal(err)
			}
			cfg := vs.CachedInfo().Config
			if cfg.Duplicates != natsjs.ViewsDuplicateWindow || cfg.Replicas != b.replicas {
				t.Errorf("views stream: duplicate window %v, replicas %d; want %v, %d", cfg.Duplicates, cfg.Replicas, natsjs.ViewsDuplicateWindow, b.replicas)
			}
			if want := b.replicas == 1; (cfg.PersistMode == jetstream.AsyncPersistMode) != want {
				t.Errorf("views stream persist mode %v with %d replicas", cfg.PersistMode, b.replicas)
			}
		})
	}
}

// A views bucket made as nats.go makes one (a 2-minute window, as earlier versions did) is
// brought to the short window, its views kept.
func TestSetupUpdatesAnOlderViewsBucket(t *testing.T) {
	_, url := natsjstest.Single(t)
	js, err := jetstream.New(natsjstest.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsjs.BucketViews, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "outbound.e1.c1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	r, err := natsjs.Setup(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := js.Stream(ctx, "KV_"+natsjs.BucketViews)
	if err != nil {
		t.Fatal(err)
	}
	if d := vs.CachedInfo().Config.Duplicates; d != natsjs.ViewsDuplicateWindow {
		t.Errorf("duplicate window %v after setup, want %v", d, natsjs.ViewsDuplicateWindow)
	}
	if _, err := r.Views.Get(ctx, "outbound.e1.c1"); err != nil {
		t.Errorf("view lost by setup: %v", err)
	}
}

// A views bucket described as an earlier version described it (one that held pending
// requests) gets the description of what it holds now; nothing else about it differs.
func TestSetupDescribesTheViewsBucket(t *testing.T) {
	_, url := natsjstest.Single(t)
	js, err := jetstream.New(natsjstest.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := natsjs.Setup(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	vs, err := js.Stream(ctx, "KV_"+natsjs.BucketViews)
	if err != nil {
		t.Fatal(err)
	}
	older := vs.CachedInfo().Config
	older.Description = "entityconn Outbound and Inbound views, projector checkpoint, pending requests"
	if _, err := js.UpdateStream(ctx, older); err != nil {
		t.Fatal(err)
	}
	r, err := natsjs.Setup(ctx, js, 1)
	if err != nil {
		t.Fatalf("setup on a bucket with an older description: %v", err)
	}
	st, err := r.Views.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Description; d != natsjs.ViewsDescription {
		t.Errorf("views bucket description %q after setup, want %q", d, natsjs.ViewsDescription)
	}
}

// Bind finds what Setup made, and creates nothing itself.
func TestBind(t *testing.T) {
	_, url := natsjstest.Single(t)
	js, err := jetstream.New(natsjstest.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := natsjs.Bind(short, js); err == nil {
		t.Fatal("Bind succeeded before Setup")
	}
	if _, err := js.Stream(t.Context(), "KV_"+natsjs.BucketViews); err == nil {
		t.Fatal("Bind created the views bucket")
	}
	setup(t, url, 1)
	r, err := natsjs.Bind(t.Context(), js)
	if err != nil {
		t.Fatal(err)
	}
	if r.Events == nil || r.Views == nil || r.Idempotency == nil || r.Directory == nil {
		t.Fatalf("Bind left handles out: %+v", r)
	}
}

// Setup brings an event stream made with other settings (an earlier version's 2-minute
// window) to the current ones, and leaves one that has them as it is.
func TestSetupUpdatesAnOlderEventStream(t *testing.T) {
	_, url := natsjstest.Single(t)
	js, err := jetstream.New(natsjstest.Connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	old := natsjs.EventStreamConfig(1)
	old.Duplicates = 2 * time.Minute
	if _, err := js.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	r, err := natsjs.Setup(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := r.Events.CachedInfo().Config.Duplicates; d != natsjs.EventsDuplicateWindow {
		t.Fatalf("duplicate window %v after setup, want %v", d, natsjs.EventsDuplicateWindow)
	}
	info, err := r.Events.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := natsjs.Setup(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	again, err := r.Events.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again.Config.Duplicates != natsjs.EventsDuplicateWindow || !again.Created.Equal(info.Created) {
		t.Fatalf("second setup changed the stream: %+v", again.Config)
	}
}
