package natsjs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/natsjs/natsjstest"
	"github.com/entityconn/entityconn/events"
)

// Subject filters as the followers of the event stream use them.
const (
	everyEvent   = events.SubjectPrefix + ".>"
	everyRequest = events.SubjectPrefix + ".*.*." + string(events.TypeConnectionRequested)
)

// item is what natsjs.FollowEvents yields.
type item struct {
	ev  natsjs.Followed
	err error
}

// follow runs natsjs.FollowEvents and hands what it yields to the returned channel, which is
// closed when the sequence ends; cancel ends its context, as does the end of the test.
func follow(t *testing.T, r *natsjs.Resources, filter string, after uint64, log *slog.Logger) (_ <-chan item, cancel context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out := make(chan item)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		for ev, err := range natsjs.FollowEvents(ctx, r, filter, after, 4, log) {
			select {
			case out <- item{ev, err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return out, cancel
}

// take returns the next n events of in, failing the test if an error comes with one, or if
// one takes more than 20 s to come.
func take(t *testing.T, in <-chan item, n int) []natsjs.Followed {
	t.Helper()
	var got []natsjs.Followed
	for range n {
		it := next(t, in)
		if it.err != nil {
			t.Fatalf("event %d: %v", it.ev.Sequence, it.err)
		}
		got = append(got, it.ev)
	}
	return got
}

// next returns the next item of in, failing the test if there is none within 20 s.
func next(t *testing.T, in <-chan item) item {
	t.Helper()
	select {
	case it, ok := <-in:
		if !ok {
			t.Fatal("the events ended")
		}
		return it
	case <-time.After(20 * time.Second):
		t.Fatal("no event within 20 s")
	}
	panic("unreachable")
}

// wantSequences checks that got holds the events at sequences from, from+1, …, each with the
// event id ids gives for it.
func wantSequences(t *testing.T, got []natsjs.Followed, from uint64, ids map[uint64]string) {
	t.Helper()
	for i, ev := range got {
		if want := from + uint64(i); ev.Sequence != want || ev.Event.EventID != ids[want] {
			t.Fatalf("event %d = sequence %d, id %q; want sequence %d, id %q (all: %v)", i, ev.Sequence, ev.Event.EventID, want, ids[want], got)
		}
	}
}

// appendNumbered appends n requests of new pairs named by prefix and returns their event
// ids by sequence.
func appendNumbered(t *testing.T, s *natsjs.Store, prefix string, n int, ids map[uint64]string) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("%s%d", prefix, i)
		seq := appendAll(t, s, event(id, events.TypeConnectionRequested, "c-"+id, "src-"+id, "tgt"))
		ids[seq] = id
	}
}

// FollowEvents yields the events after a sequence in stream order, with how many are still
// pending, then the events stored as they come; an undecodable message comes with its error
// and sequence, and a filter narrows what is read.
func TestFollowEventsInOrderFromASequence(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	ids := map[uint64]string{}
	appendNumbered(t, s, "r", 3, ids) // 1-3
	a4 := appendAll(t, s, event("a", events.TypeConnectionAccepted, "c-r0", "src-r0", "tgt"))
	ids[a4] = "a"
	if _, err := r.JS.Publish(t.Context(), natsjs.AppendPrefix+".old.gone."+string(events.TypeConnectionAccepted), []byte("{not json")); err != nil {
		t.Fatal(err)
	}

	in, _ := follow(t, r, everyEvent, 1, nil)
	got := take(t, in, 3)
	wantSequences(t, got, 2, ids)
	for i, ev := range got {
		if want := uint64(5 - 2 - i); ev.Pending != want {
			t.Errorf("event %d: Pending = %d, want %d", ev.Sequence, ev.Pending, want)
		}
	}
	if it := next(t, in); it.ev.Sequence != 5 || !errors.Is(it.err, events.ErrInvalid) || it.ev.Event != (events.Event{}) || it.ev.Pending != 0 {
		t.Fatalf("undecodable message = %+v, %v; want sequence 5, the zero event, ErrInvalid, none pending", it.ev, it.err)
	}

	// Live: events stored after the follower caught up.
	appendNumbered(t, s, "live", 2, ids) // 6-7
	wantSequences(t, take(t, in, 2), 6, ids)

	// Requests only, from the first.
	reqs, _ := follow(t, r, everyRequest, 0, nil)
	got = take(t, reqs, 5)
	for i, want := range []uint64{1, 2, 3, 6, 7} {
		if got[i].Sequence != want || got[i].Event.Type != events.TypeConnectionRequested {
			t.Fatalf("requests = %v, want sequences 1 2 3 6 7", got)
		}
	}
	if got[4].Pending != 0 {
		t.Errorf("last request: Pending = %d, want 0", got[4].Pending)
	}
}

// A follower whose consumer is deleted goes on after the last event it yielded: no event
// is lost or yielded twice.
func TestFollowEventsSurvivesALostConsumer(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	ids := map[uint64]string{}
	appendNumbered(t, s, "before", 6, ids)
	in, _ := follow(t, r, everyEvent, 0, nil)
	wantSequences(t, take(t, in, 3), 1, ids)

	deleted := 0
	for name := range r.Events.ConsumerNames(t.Context()).Name() {
		if err := r.Events.DeleteConsumer(t.Context(), name); err != nil {
			t.Fatal(err)
		}
		deleted++
	}
	if deleted == 0 {
		t.Fatal("no consumer to delete")
	}
	appendNumbered(t, s, "after", 3, ids)
	wantSequences(t, take(t, in, 6), 4, ids)
}

// A follower goes on after its server restarts (its consumer, kept in memory, is gone):
// from the event after the last it yielded, to the events stored after the restart.
func TestFollowEventsSurvivesAServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("server restart skipped in -short mode")
	}
	srv, url := natsjstest.Single(t)
	port, dir := srv.Addr().(*net.TCPAddr).Port, srv.StoreDir()
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	ids := map[uint64]string{}
	appendNumbered(t, s, "before", 4, ids)
	in, _ := follow(t, r, everyEvent, 0, nil)
	wantSequences(t, take(t, in, 2), 1, ids)

	srv.Shutdown()
	srv.WaitForShutdown()
	again, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go again.Start()
	t.Cleanup(func() { again.Shutdown(); again.WaitForShutdown() })
	if !again.ReadyForConnections(10 * time.Second) {
		t.Fatal("the server did not restart")
	}
	appendNumbered(t, s, "after", 2, ids)
	wantSequences(t, take(t, in, 4), 3, ids)
}

// A follower whose reading fails for good (its stream is deleted) says so in its log, and
// reads again, from after the last event it yielded, once it can: here on a stream of the
// same name made again, whose first events it does not yield.
func TestFollowEventsReadsAgainAfterTheLastEventYielded(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	ids := map[uint64]string{}
	appendNumbered(t, natsjs.NewStore(r), "old", 3, ids)
	warned := make(warnings, 1)
	in, _ := follow(t, r, everyEvent, 0, slog.New(warned))
	wantSequences(t, take(t, in, 3), 1, ids)

	if err := r.JS.DeleteStream(t.Context(), events.Stream); err != nil {
		t.Fatal(err)
	}
	select {
	case <-warned:
	case <-time.After(15 * time.Second):
		t.Fatal("no failure logged after the stream was deleted")
	}
	r = setup(t, url, 1)
	ids = map[uint64]string{}
	appendNumbered(t, natsjs.NewStore(r), "new", 5, ids)
	wantSequences(t, take(t, in, 2), 4, ids)
}

// A follower that cannot make its consumer (the stream is not there) tells its log, pauses
// and tries again until it can.
func TestFollowEventsRetriesUntilItCanRead(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	if err := r.JS.DeleteStream(t.Context(), events.Stream); err != nil {
		t.Fatal(err)
	}
	warned := make(warnings, 1)
	in, _ := follow(t, r, everyEvent, 0, slog.New(warned))
	select {
	case <-warned:
	case <-time.After(10 * time.Second):
		t.Fatal("no failure logged while the stream is missing")
	}
	r = setup(t, url, 1) // the stream again
	seq := appendAll(t, natsjs.NewStore(r), event("e1", events.TypeConnectionRequested, "c1", "global", "eu"))
	if got := take(t, in, 1); got[0].Sequence != seq || got[0].Event.EventID != "e1" {
		t.Errorf("first event = %+v, want e1 at %d", got[0], seq)
	}
}

// A follower stops when its context ends, whether it waits for an event or has more of them
// at hand, and when the loop stops.
func TestFollowEventsStops(t *testing.T) {
	_, url := natsjstest.Single(t)
	r := setup(t, url, 1)
	s := natsjs.NewStore(r)
	ids := map[uint64]string{}
	appendNumbered(t, s, "e", 4, ids)

	t.Run("when ctx ends while it waits", func(t *testing.T) {
		in, cancel := follow(t, r, everyEvent, 0, nil)
		take(t, in, 4)
		cancel()
		select {
		case it, ok := <-in:
			if ok {
				t.Errorf("event %d after ctx ended", it.ev.Sequence)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("still following 5 s after ctx ended")
		}
	})
	t.Run("when ctx ends with events at hand", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		var got []uint64
		for ev, err := range natsjs.FollowEvents(ctx, r, everyEvent, 0, 16, slog.New(slog.DiscardHandler)) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ev.Sequence)
			cancel()
		}
		if len(got) != 1 {
			t.Errorf("events after ctx ended: %v, want only the first", got)
		}
	})
	t.Run("when the loop stops", func(t *testing.T) {
		// A sequence that yields after the loop stopped makes the range statement panic.
		for ev := range natsjs.FollowEvents(t.Context(), r, everyEvent, 2, 16, nil) {
			if ev.Sequence != 3 {
				t.Errorf("first event after 2 = %d", ev.Sequence)
			}
			break
		}
	})
}

// warnings is a log handler that sends the messages of warnings and errors, as long as
// there is room, to its channel.
type warnings chan string

func (w warnings) Enabled(context.Context, slog.Level) bool { return true }

func (w warnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		select {
		case w <- r.Message:
		default:
		}
	}
	return nil
}

func (w warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w warnings) WithGroup(string) slog.Handler      { return w }
