package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/natsjs"
)

// benchScale measures entityconn with cfg.connections connections over cfg.entities
// entities in the store: raw ordered reading, rebuilding the views, memory per connection,
// restart to ready, list latency, and the command rate compared with emptyRate (the
// in-process rate on an empty store, from the same run).
func benchScale(ctx context.Context, cfg benchConfig, start Start, emptyRate float64, progress io.Writer) ([]benchResult, error) {
	data, err := os.MkdirTemp("", "entityconn-bench-scale-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	n, e := cfg.connections, cfg.entities
	var results []benchResult

	// Populate without fsync (setting up is not what is measured), then restart as configured.
	settleMemory()
	rssBase, heapBase := rss(), heapAlloc()
	from, to, err := populate(ctx, data, e, n, progress)
	if err != nil {
		return nil, fmt.Errorf("populate: %w", err)
	}

	// A client port: the restart below uses it as an external NATS (bench data only, in a
	// temporary directory, on loopback).
	ns, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: data, Listen: "127.0.0.1:0", SyncAlways: cfg.fsync})
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns))
	if err != nil {
		ns.Shutdown()
		return nil, err
	}
	js, _ := jetstream.New(nc)
	res, err := natsjs.Setup(ctx, js, 1)
	if err != nil {
		nc.Close()
		ns.Shutdown()
		return nil, err
	}

	readRate, err := benchOrderedRead(ctx, res, uint64(n), progress)
	if err != nil {
		return nil, fmt.Errorf("ordered read: %w", err)
	}
	results = append(results, benchResult{Phase: "raw JetStream ordered read", Ops: n, OpsPerSec: readRate})

	bar := newBar(progress, n, "rebuilding views")
	began := time.Now()
	stopProf := cfg.prof.cpu("rebuild")
	got, err := natsjs.Rebuild(ctx, res, nil, func(done, _ uint64) { _ = bar.Set64(int64(done)) })
	stopProf()
	_ = bar.Close()
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	rebuildRate := float64(got) / time.Since(began).Seconds()
	results = append(results, benchResult{Phase: "rebuild views", Ops: int(got), OpsPerSec: rebuildRate, Ratio: rebuildRate / readRate,
		Note: "ratio to the raw ordered read rate"})

	nc.Close()

	// Restart to ready, first with NATS running on (as with --nats-url): entityconn's own start.
	began = time.Now()
	st, restart, err := startReady(ctx, start, StartConfig{NATSURL: ns.ClientURL(), Data: data, GroupCommit: cfg.groupCommit})
	if err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	// The first start on these events reads them all into the list index; stopping, it
	// saves the index in the data directory for the next start, as serve does.
	if _, err := st.Index.WaitReady(ctx); err != nil {
		return nil, err
	}
	loadedAll := time.Since(began)
	st.Close()
	results = append(results, benchResult{Phase: "restart to ready, NATS running", Ops: n, Value: ms(restart), Unit: "ms",
		Note: "start of the stack on a running NATS (setup, directory, doors, projector) to its first list answered with the views caught up"},
		benchResult{Phase: "list index read from the events", Ops: n, Value: ms(loadedAll), Unit: "ms",
			Note: "from that start until the list index holds every stored connection, read from the event stream (it starts once the views have caught up; lists read the views bucket until then)"})
	ns.Shutdown()
	ns.WaitForShutdown()

	// Then the whole process as serve runs it by default: the embedded server restores the store.
	stopProf = cfg.prof.cpu("restart-embedded")
	began = time.Now()
	st, restart, err = startReady(ctx, start, StartConfig{Data: data, Fsync: cfg.fsync, GroupCommit: cfg.groupCommit})
	stopProf()
	if err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	defer st.Close()
	results = append(results, benchResult{Phase: "restart to ready, embedded NATS", Ops: n, Value: ms(restart), Unit: "ms",
		Note: "start of the embedded server on the store (JetStream restores every stream) and of the stack, to its first list answered with the views caught up"})

	// The list index loads in the background; lists read the views bucket until it has.
	if _, err := st.Index.WaitReady(ctx); err != nil {
		return nil, err
	}
	results = append(results, benchResult{Phase: "list index from its snapshot", Ops: n, Value: ms(time.Since(began)), Unit: "ms",
		Note: "from the start with the embedded server until the list index holds every stored connection, read from the snapshot the previous start saved when it stopped"})

	// List latency over random entities.
	lists := min(2000, cfg.ops)
	lat := make([]time.Duration, lists)
	stopProf = cfg.prof.cpu("list")
	for i := range lat {
		ent := fmt.Sprintf("e%d", rand.IntN(e))
		t := time.Now()
		if _, err := st.Service.List(ctx, app.Principal{UserID: "bench", EntityID: ent}, app.ListQuery{Page: 1, PageSize: 30}); err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		lat[i] = time.Since(t)
	}
	stopProf()
	lr := benchResult{Phase: "list one entity's page", Ops: lists, Note: fmt.Sprintf("%d connections over %d entities (%.0f per entity, both directions)", n, e, 2*float64(n)/float64(e))}
	lr.P50Ms, lr.P99Ms = percentiles(lat)
	results = append(results, lr)

	settleMemory()
	cfg.prof.heap("serving")
	perConn, heapPerConn := float64(rss()-rssBase)/float64(n), float64(heapAlloc()-heapBase)/float64(n)
	results = append(results, benchResult{Phase: "memory per connection", Ops: n, Value: perConn, Unit: "B",
		Note: "growth of this process's resident memory, embedded server included, from before storing the connections to serving them (restarted, list index loaded, lists answered), per connection; meaningless for small counts"},
		benchResult{Phase: "live heap per connection", Ops: n, Value: heapPerConn, Unit: "B",
			Note: "growth of the Go heap's live objects (after a collection) over the same span: what the process holds; resident memory adds the heap's fragmentation"})
	// As-of reads after the memory is measured: the reads from the log load the server's
	// message blocks, which it keeps 10 s, and would count them as the service's.
	stopProf = cfg.prof.cpu("asof")
	asOf, accepted, err := benchAsOf(ctx, st, e, min(1000, cfg.ops), from, to)
	stopProf()
	if err != nil {
		return nil, fmt.Errorf("as-of reads: %w", err)
	}
	results = append(results, asOf...)

	if cfg.idleWait > 0 {
		// The server keeps what it read of its message blocks for a while (the blocks 10 s,
		// their per-subject state 2 minutes); idle, it lets go of them.
		bar := newBar(progress, int(cfg.idleWait.Seconds()), "idle, for the server's caches to expire (s)")
		for range int(cfg.idleWait.Seconds()) {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Second):
			}
			_ = bar.Add(1)
		}
		_ = bar.Close()
		settleMemory()
		cfg.prof.heap("idle")
		results = append(results, benchResult{Phase: "memory per connection, idle", Ops: n, Value: float64(rss()-rssBase) / float64(n), Unit: "B",
			Note: fmt.Sprintf("as memory per connection, after %v without requests", cfg.idleWait)},
			benchResult{Phase: "live heap per connection, idle", Ops: n, Value: float64(heapAlloc()-heapBase) / float64(n), Unit: "B",
				Note: fmt.Sprintf("as live heap per connection, after %v without requests", cfg.idleWait)})
		// An as-of read from the log now finds the server's message blocks unread lately.
		if len(accepted) > 0 {
			cold := min(50, len(accepted))
			lat, err := asOfFromLog(ctx, st, accepted, cold)
			if err != nil {
				return nil, fmt.Errorf("as-of reads after idling: %w", err)
			}
			r := benchResult{Phase: "as-of one connection from the log, idle server", Ops: cold,
				Note: fmt.Sprintf("as \"as-of one connection, from the log\", the first %d reads after %v without requests, when the server has let go of what it had read of its message blocks: a read of a block not in memory loads it whole (8 MB)", cold, cfg.idleWait)}
			r.P50Ms, r.P99Ms = percentiles(lat)
			results = append(results, r)
		}
	}

	// The command rate with n connections stored, against the empty store.
	next := pairsAfter(e, n)
	stopProf = cfg.prof.cpu("populated")
	l := runLoad(ctx, "entityconn in-process commands, populated", cfg, progress, func(ctx context.Context) error {
		_, err := request(ctx, st, next)
		return err
	})
	stopProf()
	if l.err != nil {
		return nil, l.err
	}
	r := l.result(0)
	r.Phase = fmt.Sprintf("in-process commands with %d stored", n)
	r.Ratio = r.OpsPerSec / emptyRate
	r.Note = "ratio to the in-process rate on an empty store"
	results = append(results, r)
	return results, nil
}

// startReady starts a stack and waits until it answers a list with its views caught up;
// it returns the stack and how long that took.
func startReady(ctx context.Context, start Start, scfg StartConfig) (*Stack, time.Duration, error) {
	scfg.LoadDir = func(ctx context.Context, dirs *natsjs.DirectoryStore) error {
		_, err := dirs.Load(ctx)
		return err
	}
	began := time.Now()
	st, err := start(ctx, scfg)
	if err != nil {
		return nil, 0, err
	}
	if err := st.Views.WaitCaughtUp(ctx); err != nil {
		st.Close()
		return nil, 0, err
	}
	if _, err := st.Service.List(ctx, app.Principal{UserID: "bench", EntityID: "e0"}, app.ListQuery{Page: 1, PageSize: 30}); err != nil {
		st.Close()
		return nil, 0, err
	}
	return st, time.Since(began), nil
}
