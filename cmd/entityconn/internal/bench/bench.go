package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/domain"
)

// bench runs every phase on one server and returns the results in order.
func bench(ctx context.Context, cfg benchConfig, start Start, progress io.Writer) ([]benchResult, error) {
	// Every command requests a new pair: enough for two throughput phases and a lag phase of
	// up to 200,000 commands.
	pairs := cfg.ops*2 + 200_000
	entities := 2
	for entities*(entities-1) < pairs {
		entities++
	}
	data, err := os.MkdirTemp("", "entityconn-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	st, err := start(ctx, StartConfig{Data: data, NATSURL: cfg.natsURL, Fsync: cfg.fsync, GroupCommit: cfg.groupCommit, LoadDir: func(ctx context.Context, dirs *natsjs.DirectoryStore) error {
		_, _, err := dirs.Import(ctx, []byte(benchDirectory(entities)))
		return err
	}})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if n, err := st.Resources.Events.Info(ctx); err != nil || n.State.Msgs > 0 {
		return nil, fmt.Errorf("the event stream must be empty for a benchmark (err %v)", err)
	}
	next := pairSource(entities)
	var results []benchResult

	raw, err := benchRaw(ctx, st.NATS, cfg, progress)
	if err != nil {
		return nil, fmt.Errorf("raw appends: %w", err)
	}
	if cfg.fsync && cfg.natsURL == "" {
		raw.Note = "also the disk: every write synced"
	}
	results = append(results, raw)
	if !cfg.fsync || cfg.natsURL != "" {
		disk, err := benchDisk(ctx, cfg, progress)
		if err != nil {
			return nil, fmt.Errorf("the disk: %w", err)
		}
		disk.Note = "an embedded server of its own that syncs every write, whatever --fsync: how fast this disk is"
		results = append(results, disk)
	}

	stopProf := cfg.prof.cpu("in-process")
	g0 := groupStats(st)
	inproc := runLoad(ctx, "entityconn in-process commands", cfg, progress, func(ctx context.Context) error {
		_, err := request(ctx, st, next)
		return err
	})
	stopProf()
	if inproc.err != nil {
		return nil, inproc.err
	}
	r := inproc.result(raw.OpsPerSec)
	r.Note = groupNote(g0, groupStats(st))
	results = append(results, r)

	shares, err := benchShares(ctx, st, cfg, progress, next, r.OpsPerSec)
	if err != nil {
		return nil, fmt.Errorf("share commands: %w", err)
	}
	results = append(results, shares)

	stopProf = cfg.prof.cpu("http")
	httpRes, err := benchHTTP(ctx, st, cfg, progress, next)
	stopProf()
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	results = append(results, httpRes.result(raw.OpsPerSec))

	natsRes, err := benchNATS(ctx, st, cfg, progress, next)
	if err != nil {
		return nil, fmt.Errorf("nats request/reply: %w", err)
	}
	results = append(results, natsRes.result(raw.OpsPerSec))

	durable, err := benchDurable(ctx, st, cfg, progress, next)
	if err != nil {
		return nil, fmt.Errorf("durable commands: %w", err)
	}
	results = append(results, durable.result(raw.OpsPerSec))
	outcome, err := benchOutcomeLatency(ctx, st, cfg, durable.opsPerSec()/2, next)
	if err != nil {
		return nil, fmt.Errorf("durable outcome latency: %w", err)
	}
	results = append(results, outcome)

	lag, err := benchLag(ctx, st, cfg, inproc.opsPerSec()/2, next)
	if err != nil {
		return nil, fmt.Errorf("projection lag: %w", err)
	}
	results = append(results, lag)
	st.Close()

	if cfg.connections > 0 && cfg.natsURL == "" {
		scale, err := benchScale(ctx, cfg, start, inproc.opsPerSec(), progress)
		if err != nil {
			return nil, fmt.Errorf("scale: %w", err)
		}
		results = append(results, scale...)
	}
	return results, nil
}

// benchDirectory returns a directory of n entities and one user, "bench", admin of all.
func benchDirectory(n int) string {
	var b strings.Builder
	b.WriteString("tenant: bench\nentities:\n  - {id: e0, name: E0}\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "  - {id: e%d, name: E%d, parent: e0}\n", i, i)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("bench-secret"), bcrypt.MinCost)
	fmt.Fprintf(&b, "users:\n  - id: bench\n    clientId: bench\n    clientSecretHash: '%s'\n    access:\n", hash)
	for i := range n {
		fmt.Fprintf(&b, "      - {entity: e%d, role: admin}\n", i)
	}
	// The NATS phases' client: a service user, which sends commands as bench. bench itself
	// could not sign in to NATS: its permissions would name thousands of entities.
	fmt.Fprintf(&b, "  - id: bench-svc\n    clientId: bench-svc\n    clientSecretHash: '%s'\n    service: true\n", hash)
	return b.String()
}

// request has st's service execute, in process, a request by user bench for the next pair.
func request(ctx context.Context, st *Stack, next func() (string, string)) (app.Result, error) {
	src, tgt := next()
	return st.Service.Execute(ctx, app.Principal{UserID: "bench", EntityID: src}, app.CommandID{}, domain.RequestConnection{Target: tgt})
}

// pairSource hands out distinct ordered pairs of n entities (pairOf from 0 on), safe for
// concurrent use.
func pairSource(n int) func() (string, string) { return pairsAfter(n, 0) }

// pairOf returns the k-th pair of populate's sequence over e entities: every source in turn,
// each time to the next target, so that pairs never repeat below e*(e-1).
func pairOf(k, e int) (string, string) {
	src := k % e
	off := k/e%(e-1) + 1
	return "e" + strconv.Itoa(src), "e" + strconv.Itoa((src+off)%e)
}

// pairsAfter hands out the pairs of pairOf over e entities after the first n, safe for
// concurrent use.
func pairsAfter(e, n int) func() (string, string) {
	var k atomic.Int64
	k.Store(int64(n))
	return func() (string, string) { return pairOf(int(k.Add(1)-1), e) }
}

// groupStats returns what the stack's group commit has done so far.
func groupStats(st *Stack) natsjs.GroupStats {
	if st.Store == nil {
		return natsjs.GroupStats{}
	}
	return st.Store.GroupStats()
}

// groupNote says what group commit did between two of its counts.
func groupNote(before, after natsjs.GroupStats) string {
	appends, batches, batched := after.Writes-before.Writes, after.Batches-before.Batches, after.Batched-before.Batched
	if appends == 0 {
		return "group commit off"
	}
	note := fmt.Sprintf("group commit: %.0f%% of the appends in batches", 100*float64(batched)/float64(appends))
	if batches > 0 {
		note += fmt.Sprintf(" of %.1f on average, committed in %.1f ms on average", float64(batched)/float64(batches),
			float64((after.Committing-before.Committing).Microseconds())/1000/float64(batches))
	}
	if refused := after.Refused - before.Refused; refused > 0 {
		note += fmt.Sprintf(", %d batches refused and sent again append by append", refused)
	}
	return note
}
