package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/entityconn/entityconn/cmd/entityconn/internal/cli"
)

const faultsUsage = `
  faults       Jepsen-style test: a 3-node NATS cluster and 2 replicas as child processes,
               commands on every door while nodes are killed, paused and partitioned and
               replicas killed; then checks that nothing acknowledged was lost, nothing
               was applied twice and the views converged (run "entityconn faults -h")
`

// The fault kinds of "entityconn faults".
const (
	faultNodeKill       = "node-kill"
	faultNodeStop       = "node-stop"
	faultReplicaKill    = "replica-kill"
	faultPartition      = "partition"
	faultRollingRestart = "rolling-restart"
)

var faultKinds = []string{faultNodeKill, faultNodeStop, faultReplicaKill, faultPartition, faultRollingRestart}

// faultsConfig is the configuration of "entityconn faults".
type faultsConfig struct {
	Duration   time.Duration
	Warmup     time.Duration
	Every      time.Duration
	Faults     []string
	Workers    int
	Entities   int
	Seed       uint64
	Work       string
	Keep       bool
	NATSServer string
	Verbose    bool
	LogLevel   string
}

func runFaults(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("faults", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := faultsConfig{}
	var kinds string
	var rolling bool
	cli.DurationVar(fs, &cfg.Duration, "duration", 45*time.Second, "how long faults are applied (after a healthy warm-up)")
	cli.DurationVar(fs, &cfg.Warmup, "warmup", 15*time.Second, "healthy load before the first fault, to measure healthy throughput (a short one measures it noisily)")
	cli.DurationVar(fs, &cfg.Every, "every", 5*time.Second, "a fault starts this often (one at a time: each is healed before the next)")
	fs.StringVar(&kinds, "faults", strings.Join(faultKinds[:4], ","), "comma-separated fault kinds: "+strings.Join(faultKinds, ", "))
	fs.BoolVar(&rolling, "rolling-restart", false, "add rolling-restart to the fault kinds: the replicas restarted one at a time with SIGTERM, each ready before the next")
	fs.IntVar(&cfg.Workers, "workers", 24, "concurrent clients, spread round-robin over REST, NATS request/reply and durable commands")
	fs.IntVar(&cfg.Entities, "entities", 12, "entities of the generated directory (besides the root)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the fault schedule and the workload; 0: a random one (printed)")
	fs.StringVar(&cfg.Work, "work", "", "work directory (configs, stores, logs, the command log); default: a new temporary directory, removed after a passing run")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the work directory after a passing run")
	fs.StringVar(&cfg.NATSServer, "nats-server", "", "run the NATS nodes with this nats-server binary instead of this program's internal node mode")
	fs.StringVar(&cfg.LogLevel, "log-level", "warn", "--log-level of the replicas (their logs are in the work directory)")
	fs.BoolVar(&cfg.Verbose, "verbose", false, "log every fault step, the routes of a partitioned node and the processes' restarts")
	if code, ok := cli.ParseFlags(fs, args, stderr); !ok {
		return code
	}
	for _, k := range strings.Split(kinds, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if !slices.Contains(faultKinds, k) {
			fmt.Fprintf(stderr, "entityconn faults: unknown fault kind %q (known: %s)\n", k, strings.Join(faultKinds, ", "))
			return 2
		}
		if !slices.Contains(cfg.Faults, k) {
			cfg.Faults = append(cfg.Faults, k)
		}
	}
	if rolling && !slices.Contains(cfg.Faults, faultRollingRestart) {
		cfg.Faults = append(cfg.Faults, faultRollingRestart)
	}
	switch {
	case cfg.Workers < 1 || cfg.Entities < 2 || cfg.Duration <= 0 || cfg.Every <= 0:
		fmt.Fprintln(stderr, "entityconn faults: --workers ≥ 1, --entities ≥ 2, --duration and --every > 0")
		return 2
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()%1_000_000_000 + 1
	}
	temp := cfg.Work == ""
	if temp {
		dir, err := os.MkdirTemp("", "entityconn-faults-")
		if err != nil {
			fmt.Fprintf(stderr, "entityconn faults: %v\n", err)
			return 1
		}
		cfg.Work = dir
	} else if err := os.MkdirAll(cfg.Work, 0o700); err != nil {
		fmt.Fprintf(stderr, "entityconn faults: %v\n", err)
		return 1
	}
	cfg.Work, _ = filepath.Abs(cfg.Work)
	fmt.Fprintf(stdout, "entityconn faults: seed %d, %v of faults (%s) every %v, %d workers, %d entities\nwork directory %s\n",
		cfg.Seed, cfg.Duration, strings.Join(cfg.Faults, ","), cfg.Every, cfg.Workers, cfg.Entities, cfg.Work)
	ok, err := faultRun(ctx, cfg, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn faults: %v\n", err)
	}
	if ok && temp && !cfg.Keep {
		_ = os.RemoveAll(cfg.Work)
	} else {
		fmt.Fprintf(stdout, "kept: %s (logs n1..n3.log, r1..r2.log, commands.jsonl, report.txt)\n", cfg.Work)
	}
	if !ok || err != nil {
		return 1
	}
	return 0
}

// faultStats counts what the scheduler did.
type faultStats struct {
	mu      sync.Mutex
	applied map[string]int
	leaks   int // partitions during which the isolated node still had routes
}

func (s *faultStats) inc(kind string) {
	s.mu.Lock()
	s.applied[kind]++
	s.mu.Unlock()
}

func (s *faultStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	total := 0
	for _, k := range faultKinds {
		if n := s.applied[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
			total += n
		}
	}
	if total == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

// faultRun runs the whole test and reports whether every check passed.
func faultRun(ctx context.Context, cfg faultsConfig, stdout io.Writer) (bool, error) {
	begin := time.Now()
	out := &lockedWriter{w: stdout}
	say := func(format string, args ...any) {
		fmt.Fprintf(out, "%6.1fs  "+format+"\n", append([]any{time.Since(begin).Seconds()}, args...)...)
	}
	dir := newFaultsDirectory(cfg.Entities)
	dirFile := filepath.Join(cfg.Work, "directory.yaml")
	if err := os.WriteFile(dirFile, []byte(dir.yaml()), 0o600); err != nil {
		return false, err
	}
	cl, err := newCluster(clusterOptions{work: cfg.Work, natsServer: cfg.NATSServer, replicas: 2, dirFile: dirFile, verbose: cfg.Verbose, out: out, logLevel: cfg.LogLevel})
	if err != nil {
		return false, err
	}
	defer cl.stopAll()
	if err := cl.startNodes(ctx); err != nil {
		return false, err
	}
	say("NATS cluster up (%s)", cl.natsURL())
	for i := range cl.replicas {
		if err := cl.startReplica(i); err != nil {
			return false, err
		}
	}
	for i := range cl.replicas {
		if err := cl.waitReady(ctx, i, 120*time.Second); err != nil {
			return false, err
		}
	}
	say("replicas ready (%s)", strings.Join(cl.httpURLs, ", "))

	w, err := newWorkload(dir, cl, filepath.Join(cfg.Work, "commands.jsonl"))
	if err != nil {
		return false, err
	}
	defer w.close()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	if err := w.connect(loadCtx); err != nil {
		return false, err
	}
	var workers sync.WaitGroup
	for i := range cfg.Workers {
		workers.Go(func() { w.run(loadCtx, i, cfg.Seed) })
	}
	stats := &faultStats{applied: map[string]int{}}
	phase := "warm-up"
	var phaseMu sync.Mutex
	progressDone := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-progressDone:
				return
			case <-t.C:
				phaseMu.Lock()
				p := phase
				phaseMu.Unlock()
				say("%-8s acked %d, refused %d, in retry %d, indeterminate %d, 500s %d, faults %s",
					p, w.acked.Load(), w.refused.Load(), w.inRetry.Load(), w.indet.Load(), w.errs500.Load(), stats)
			}
		}
	}()
	setPhase := func(p string) { phaseMu.Lock(); phase = p; phaseMu.Unlock() }

	warmStart := time.Now()
	sleepCtx(ctx, cfg.Warmup)
	faultStart := time.Now()
	setPhase("faults")
	sched := &scheduler{cl: cl, rng: rand.New(rand.NewPCG(cfg.Seed, 0xfa175)), stats: stats, say: say, verbose: cfg.Verbose}
	next := faultStart
	var windows []faultWindow
	for ctx.Err() == nil && time.Since(faultStart) < cfg.Duration {
		sleepCtx(ctx, time.Until(next))
		if time.Since(faultStart) >= cfg.Duration {
			break
		}
		kind := cfg.Faults[sched.rng.IntN(len(cfg.Faults))]
		began := time.Now()
		sched.apply(ctx, kind)
		next = next.Add(cfg.Every)
		if now := time.Now(); next.Before(now.Add(time.Second)) {
			next = now.Add(time.Second)
		}
		// A fault's window runs from its start to the next one's: it includes the time the
		// cluster takes to recover from it.
		to := next
		if end := faultStart.Add(cfg.Duration); end.Before(to) {
			to = end
		}
		windows = append(windows, faultWindow{kind: kind, from: began, to: to})
	}
	faultEnd := time.Now()
	setPhase("healing")
	if err := cl.healAll(ctx); err != nil {
		say("healing: %v", err)
	}
	upAt := time.Now()
	say("healed: all nodes up, no partition, replicas ready")
	// Healed means the cluster is healthy again, not only its processes: every stream has a
	// leader and current replicas (the nodes' /healthz). Until then no command can be
	// appended, so there is nothing for the views to converge to; the convergence is
	// measured from here, and the wait is reported beside it.
	if waited, err := cl.waitHealthy(ctx, 60*time.Second); err != nil {
		say("the cluster is not healthy %v after healing: %v", waited.Round(time.Millisecond), err)
	} else {
		say("the cluster is healthy %v later: every stream has a leader and current replicas", waited.Round(time.Millisecond))
	}
	healedAt := time.Now()
	// From here on, how far the readers of the log are, every 100 ms: once the last command
	// is answered, the first sample at the log's end is when they converged.
	readers := &readerSamples{}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() { defer close(sampled); readers.run(sampleCtx, cl) }()
	defer stopSampling()
	setPhase("draining")
	w.stopNew.Store(true)
	workers.Wait()
	close(progressDone)
	// The last answer, not the workers' end: a worker may still be backing off.
	drained := time.Duration(0)
	for _, r := range w.records() {
		drained = max(drained, r.End.Sub(healedAt))
	}
	say("load stopped: %d commands", len(w.records()))
	if ctx.Err() != nil {
		return false, ctx.Err()
	}

	// Checks.
	js, err := jetstream.New(w.svc)
	if err != nil {
		return false, err
	}
	log := &eventLog{js: js}
	var rep checkReport
	var mismatches []string
	converged := time.Duration(-1)
	checkDeadline := time.Now().Add(60 * time.Second)
	// When the readers reach the log's end: each replica's /metrics, polled every 100 ms,
	// says how far its projector and its list index have read. The full check below (views
	// bucket and lists against the fold of the log) takes seconds; it confirms what they
	// show then, and the convergence time is this one when it does.
	caughtUp := time.Duration(-1)
	if err := log.catchUp(ctx); err == nil {
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
			if at, ok := readers.reached(log.last); ok {
				caughtUp = at.Sub(healedAt)
				break
			}
			sleepCtx(ctx, 100*time.Millisecond)
		}
	}
	stopSampling()
	<-sampled
	var checkTook time.Duration // the last check's: how fine the convergence time is
	firstCheck := true
	for {
		checkStart := time.Now()
		mismatches = nil
		if err := log.catchUp(ctx); err != nil {
			mismatches = append(mismatches, err.Error())
		}
		rep = checkHistory(w.records(), log.evs)
		kv, err := readKV(ctx, js)
		if err != nil {
			mismatches = append(mismatches, "reading ENTITYCONN_VIEWS: "+err.Error())
		} else {
			mismatches = append(mismatches, compareKV(rep.Expected, kv)...)
		}
		if len(mismatches) == 0 { // the lists only once the views are right: they cost more
			mismatches = append(mismatches, w.compareLists(ctx, dir.entities, rep.Expected)...)
		}
		checkTook = time.Since(checkStart)
		if len(mismatches) == 0 {
			converged = time.Since(healedAt)
			if firstCheck && caughtUp >= 0 {
				converged = caughtUp // nothing changed in between: no command was running
			}
			break
		}
		firstCheck = false
		if time.Now().After(checkDeadline) || ctx.Err() != nil {
			break
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}

	// Report.
	var report strings.Builder
	healthy := rate(w.ackedBetween(warmStart, faultStart), faultStart.Sub(warmStart))
	during := rate(w.ackedBetween(faultStart, faultEnd), faultEnd.Sub(faultStart))
	conv := "-"
	if converged >= 0 {
		conv = fmt.Sprintf("%.1f", converged.Seconds())
	}
	fmt.Fprintf(&report, "acked %d, lost %d, unexpected %d, duplicate %d, indeterminate %d, view mismatches %d, converged in %s s\n",
		rep.Acked, rep.Lost, rep.Unexpected, rep.Duplicate, rep.Indeterminate, len(mismatches), conv)
	ratio := 0.0
	if healthy > 0 {
		ratio = during / healthy
	}
	cl.mu.Lock()
	fmt.Fprintf(&report, "  500s %d, 409 in-progress answers %d, refused %d, events %d\n", w.errs500.Load(), w.conf409.Load(), w.refused.Load(), len(log.evs))
	fmt.Fprintf(&report, "  throughput: healthy %.1f acked/s, during faults %.1f acked/s (ratio %.2f)\n", healthy, during, ratio)
	if len(windows) > 0 && healthy > 0 {
		fmt.Fprintf(&report, "  throughput by fault (from its start to the next one's), ratio to healthy:")
		for _, k := range sortedKinds(windows) {
			n, d := 0, time.Duration(0)
			for _, fw := range windows {
				if fw.kind == k && fw.to.After(fw.from) {
					n += w.ackedBetween(fw.from, fw.to)
					d += fw.to.Sub(fw.from)
				}
			}
			fmt.Fprintf(&report, " %s %.2f", k, rate(n, d)/healthy)
		}
		fmt.Fprintln(&report)
	}
	if converged >= 0 {
		how := "the first full check of the views and lists found them equal to the log"
		if converged != caughtUp {
			how = "a later full check found the views and lists equal to the log"
		}
		fmt.Fprintf(&report, "  after healing (the processes were up %.1f s before the cluster was healthy): the last command answered in %.1f s; the projector and both list indexes at the log's end %s; %s (a check takes %.1f s)\n",
			healedAt.Sub(upAt).Seconds(), drained.Seconds(), seconds(caughtUp), how, checkTook.Seconds())
	}
	fmt.Fprintf(&report, "  faults applied: %s; partitions with routes left: %d\n", stats, stats.leaks)
	fmt.Fprintf(&report, "  replica restarts at start-up %d, replica exits after ready %d, node exits unasked %d\n", cl.startupRestarts, cl.replicaCrashes, cl.nodeCrashes)
	notes := slices.Clone(cl.notes)
	cl.mu.Unlock()
	for _, b := range w.bodies500 {
		fmt.Fprintf(&report, "  500: %s\n", b)
	}
	for _, n := range notes {
		fmt.Fprintf(&report, "  note: %s\n", n)
	}
	details := append(slices.Clone(rep.Details), mismatches...)
	// The worst first: the terminal shows the first few, report.txt has them all.
	slices.SortStableFunc(details, func(a, b string) int { return cmp.Compare(severity(a), severity(b)) })
	const shown = 25
	for i, d := range details {
		if i == shown {
			fmt.Fprintf(&report, "  ... %d more in report.txt\n", len(details)-shown)
			break
		}
		fmt.Fprintf(&report, "  %s\n", d)
	}
	fmt.Fprint(out, report.String())
	full := report.String() + "\nall findings:\n  " + strings.Join(details, "\n  ") + "\n"
	_ = os.WriteFile(filepath.Join(cfg.Work, "report.txt"), []byte(full), 0o600)
	fmt.Fprintf(out, "logs: %s\n", strings.Join(cl.logPaths(), " "))

	ok := rep.Lost == 0 && rep.Unexpected == 0 && rep.Duplicate == 0 && rep.Indeterminate == 0 &&
		len(mismatches) == 0 && w.errs500.Load() == 0 && converged >= 0
	return ok, nil
}

// faultWindow is when a fault and the recovery from it ran.
type faultWindow struct {
	kind     string
	from, to time.Time
}

func sortedKinds(ws []faultWindow) []string {
	var kinds []string
	for _, w := range ws {
		if !slices.Contains(kinds, w.kind) {
			kinds = append(kinds, w.kind)
		}
	}
	slices.Sort(kinds)
	return kinds
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// logPaths lists the processes' log files.
func (c *cluster) logPaths() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.logPath)
	}
	for _, r := range c.replicas {
		out = append(out, r.logPath)
	}
	return out
}

// healAll undoes every fault: no partition, no paused node, every node and replica running,
// a meta leader, every replica ready.
func (c *cluster) healAll(ctx context.Context) error {
	c.mesh.HealAll()
	for _, n := range c.nodes {
		n.mu.Lock()
		paused := n.paused
		n.mu.Unlock()
		if paused {
			_ = n.setPaused(false)
		}
		if !n.running() {
			if err := n.start(); err != nil {
				return err
			}
		}
	}
	if err := c.waitMetaLeader(ctx, 60*time.Second); err != nil {
		return err
	}
	for i, r := range c.replicas {
		if !r.running() {
			if err := c.startReplica(i); err != nil {
				return err
			}
		}
	}
	for i := range c.replicas {
		if err := c.waitReady(ctx, i, 120*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// scheduler applies faults, one at a time.
type scheduler struct {
	cl      *cluster
	rng     *rand.Rand
	stats   *faultStats
	say     func(string, ...any)
	verbose bool
}

// between returns a random duration in [lo, hi].
func (s *scheduler) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))
}

// apply applies one fault of kind and heals it before returning.
func (s *scheduler) apply(ctx context.Context, kind string) {
	cl := s.cl
	// One fault at a time means the cluster has recovered from the last one: a node that
	// restarted is current again on every stream before another node fails. Otherwise two
	// of three replicas of a stream are down at once, which no R3 stream survives.
	if waited, err := cl.waitHealthy(ctx, 60*time.Second); err != nil {
		s.say("the cluster is not healthy %v after the last fault (%v); applying the next one anyway", waited.Round(time.Millisecond), err)
	} else if s.verbose && waited > time.Second {
		s.say("the cluster recovered from the last fault in %v", waited.Round(time.Millisecond))
	}
	s.stats.inc(kind)
	switch kind {
	case faultNodeKill:
		i := s.rng.IntN(len(cl.nodes))
		d := s.between(time.Second, 3*time.Second)
		s.say("fault: SIGKILL node n%d, restart in %v", i+1, d.Round(time.Millisecond))
		cl.nodes[i].kill()
		sleepCtx(ctx, d)
		if err := cl.nodes[i].start(); err != nil {
			s.say("restarting n%d: %v", i+1, err)
		}
		cl.waitNodeUp(ctx, i, 30*time.Second)
	case faultNodeStop:
		i := s.rng.IntN(len(cl.nodes))
		d := s.between(2*time.Second, 5*time.Second)
		s.say("fault: SIGSTOP node n%d for %v", i+1, d.Round(time.Millisecond))
		if err := cl.nodes[i].setPaused(true); err != nil {
			s.say("SIGSTOP n%d: %v", i+1, err)
		}
		sleepCtx(ctx, d)
		_ = cl.nodes[i].setPaused(false)
	case faultReplicaKill:
		i := s.rng.IntN(len(cl.replicas))
		d := s.between(time.Second, 2*time.Second)
		s.say("fault: SIGKILL replica r%d, restart in %v", i+1, d.Round(time.Millisecond))
		cl.replicas[i].kill()
		sleepCtx(ctx, d)
		if err := cl.startReplica(i); err != nil {
			s.say("restarting r%d: %v", i+1, err)
		}
		// Bounded, so that the fault phase keeps its length; the healing waits longer.
		if err := cl.waitReady(ctx, i, 30*time.Second); err != nil {
			cl.note("after replica-kill: %v", err)
		}
	case faultPartition:
		i := s.rng.IntN(len(cl.nodes))
		d := s.between(4500*time.Millisecond, 5500*time.Millisecond)
		s.say("fault: partition node n%d from the others for %v", i+1, d.Round(time.Millisecond))
		cl.mesh.Isolate(i, true)
		sleepCtx(ctx, 1500*time.Millisecond)
		n, err := routes(ctx, cl.monitorURLs[i])
		if err != nil || n > 0 {
			s.stats.mu.Lock()
			s.stats.leaks++
			s.stats.mu.Unlock()
			cl.note("partition of n%d: it still has %d routes (%v): the partition leaks", i+1, n, err)
		}
		if s.verbose {
			var others []string
			for j := range cl.nodes {
				if j != i {
					m, _ := routes(ctx, cl.monitorURLs[j])
					others = append(others, fmt.Sprintf("n%d %d", j+1, m))
				}
			}
			cl.logf("partition: n%d has %d routes (/routez); %s", i+1, n, strings.Join(others, ", "))
		}
		sleepCtx(ctx, d-1500*time.Millisecond)
		cl.mesh.Isolate(i, false)
		cl.logf("partition of n%d healed", i+1)
	case faultRollingRestart:
		s.say("fault: rolling restart of the replicas (SIGTERM, restart, ready, next)")
		for i, r := range cl.replicas {
			at := time.Now()
			if err := r.term(30 * time.Second); err != nil {
				cl.note("rolling restart: %v", err)
			}
			if err := cl.startReplica(i); err != nil {
				s.say("restarting r%d: %v", i+1, err)
			}
			if err := cl.waitReady(ctx, i, 30*time.Second); err != nil {
				cl.note("rolling restart: %v", err)
			}
			cl.logf("rolling restart: r%d ready again after %v", i+1, time.Since(at).Round(time.Millisecond))
		}
	}
}

// waitHealthy waits until every node's /healthz is ok (JetStream up, and every stream and
// consumer it holds current) and every replica is ready, and returns how long it waited.
func (c *cluster) waitHealthy(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		var err error
		for i := range c.monitorURLs {
			var v struct{}
			if err = getJSON(ctx, c.monitorURLs[i]+"/healthz", &v); err != nil {
				break
			}
		}
		if err == nil {
			for i := range c.httpURLs {
				if err = c.waitReady(ctx, i, 0); err != nil {
					break
				}
			}
		}
		if err == nil || time.Since(start) > timeout || ctx.Err() != nil {
			return time.Since(start), err
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
}

// waitNodeUp waits until node i's monitoring port answers.
func (c *cluster) waitNodeUp(ctx context.Context, i int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var v struct{}
		if getJSON(ctx, c.monitorURLs[i]+"/varz", &v) == nil {
			c.logf("node n%d up again", i+1)
			return
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
	c.note("node n%d not up %v after its restart", i+1, timeout)
}

// severity orders findings for the terminal: duplicates and notes first, then lost,
// unexpected and indeterminate commands, view mismatches, and last the findings that only
// say an event carries no correlation id (one per event when a door does not set it).
func severity(finding string) int {
	switch {
	case strings.HasPrefix(finding, "duplicate"), strings.HasPrefix(finding, "note"):
		return 0
	case strings.Contains(finding, "without a correlation id") || strings.Contains(finding, "has no correlation id"):
		return 9
	case strings.HasPrefix(finding, "lost"):
		return 1
	case strings.HasPrefix(finding, "unexpected"):
		return 2
	case strings.HasPrefix(finding, "indeterminate"):
		return 3
	}
	return 4
}

// seconds formats d as "after S s" from healing, or "never seen" for a negative d.
func seconds(d time.Duration) string {
	if d < 0 {
		return "never seen"
	}
	return fmt.Sprintf("%.1f s after healing", d.Seconds())
}

// readerSamples records how far the readers of the log are: the projector of some replica
// (the one holding the projection) and the list index of every replica, as their /metrics
// say. A sample's sequence is the least of them.
type readerSamples struct {
	mu      sync.Mutex
	samples []readerSample
}

type readerSample struct {
	at  time.Time
	seq uint64
}

// run samples every 100 ms until ctx ends.
func (r *readerSamples) run(ctx context.Context, c *cluster) {
	for ctx.Err() == nil {
		at := time.Now()
		if seq, ok := c.readersAt(ctx); ok {
			r.mu.Lock()
			r.samples = append(r.samples, readerSample{at, seq})
			r.mu.Unlock()
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
}

// reached returns the time of the first sample at or beyond end.
func (r *readerSamples) reached(end uint64) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.samples {
		if s.seq >= end {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// readersAt returns the least stream sequence the readers of the log have reached.
func (c *cluster) readersAt(ctx context.Context) (uint64, bool) {
	projector, least := 0.0, math.Inf(1)
	for _, u := range c.httpURLs {
		m, err := scrape(ctx, u+"/metrics", "entityconn_projector_sequence", "entityconn_list_index_sequence")
		if err != nil {
			return 0, false
		}
		least = min(least, m["entityconn_list_index_sequence"])
		projector = max(projector, m["entityconn_projector_sequence"])
	}
	return uint64(min(least, projector)), true
}

// scrape reads the values of the named unlabelled metrics from a Prometheus text page.
func scrape(ctx context.Context, url string, names ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if ok && slices.Contains(names, name) {
			if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
				out[name] = v
			}
		}
	}
	return out, nil
}
