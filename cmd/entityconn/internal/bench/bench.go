// Package bench is "entityconn bench": it measures, in one run, raw JetStream conditional
// appends and entityconn's commands at the same concurrency (in process, over HTTP, NATS
// request/reply and the durable door), the durable outcome latency and the projection lag;
// then, with many connections stored, a raw ordered read against a rebuild of the views,
// restart to ready, list latency, memory per connection and the command rate. It starts
// the stacks it measures through [Start], which the command's wiring provides.
package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/natsclient"
	"github.com/entityconn/entityconn/adapters/natscmd"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/cmd/entityconn/internal/cli"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// benchConfig is the configuration of "entityconn bench".
type benchConfig struct {
	quick       bool
	json        bool
	concurrency int
	ops         int
	lagFor      time.Duration
	natsURL     string
	fsync       bool
	connections int
	entities    int
	idleWait    time.Duration
	prof        profiler
}

// benchResult is one line of the bench table.
type benchResult struct {
	Phase       string  `json:"phase"`
	Concurrency int     `json:"concurrency,omitempty"`
	Ops         int     `json:"ops"`
	OpsPerSec   float64 `json:"opsPerSec,omitempty"`
	P50Ms       float64 `json:"p50Ms"`
	P99Ms       float64 `json:"p99Ms"`
	// Ratio is OpsPerSec over the raw conditional append rate of the same run (or, where
	// the note says so, another rate of the same run).
	Ratio float64 `json:"ratio,omitempty"`
	// Value and Unit are a phase's single figure, such as a time or a size.
	Value float64 `json:"value,omitempty"`
	Unit  string  `json:"unit,omitempty"`
	Note  string  `json:"note,omitempty"`
}

// Run is "entityconn bench": it parses args, runs every phase on stacks that start starts,
// prints the results on stdout (a table, or JSON with --json) and the progress on stderr,
// and returns the exit status: 2 for a usage error, 1 when a phase fails.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, start Start) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg benchConfig
	fs.BoolVar(&cfg.quick, "quick", false, "a run of well under a minute, for CI's smoke test")
	fs.BoolVar(&cfg.json, "json", false, "print the results as JSON")
	fs.IntVar(&cfg.concurrency, "concurrency", 64, "concurrent writers or clients in every phase")
	fs.IntVar(&cfg.ops, "ops", 20000, "operations per throughput phase")
	fs.DurationVar(&cfg.lagFor, "lag-duration", 5*time.Second, "how long the projection-lag phase runs")
	fs.StringVar(&cfg.natsURL, "nats-url", getenv("NATS_URL"), "measure on this NATS instead of an embedded server (creates and deletes a BENCH_RAW stream; entityconn's own streams must be empty)")
	fs.BoolVar(&cfg.fsync, "fsync", true, "embedded server: fsync every write, as serve does by default")
	fs.IntVar(&cfg.connections, "connections", 1_000_000, "connections stored for the scale phases (rebuild, restart, list, memory, populated rate); 0 skips them")
	fs.IntVar(&cfg.entities, "entities", 10_000, "entities the stored connections are spread over")
	fs.DurationVar(&cfg.idleWait, "idle-wait", 130*time.Second, "after the scale phases' lists, wait this long without requests and measure memory again (the server's caches of its message blocks expire after 2 minutes); 0 skips it")
	cfg.prof.warn = stderr
	fs.StringVar(&cfg.prof.dir, "profile-dir", "", "write CPU profiles of the in-process phase and the scale phases, and heap profiles of the process serving the stored connections (serving, and idle after --idle-wait), into this directory")
	if code, ok := cli.ParseFlags(fs, args, stderr); !ok {
		return code
	}
	if cfg.quick {
		cfg.ops, cfg.lagFor = min(cfg.ops, 1000), min(cfg.lagFor, time.Second)
		cfg.connections, cfg.entities = min(cfg.connections, 5000), min(cfg.entities, 500)
		cfg.idleWait = 0
	}
	if cfg.connections > 0 && (cfg.entities < 2 || cfg.connections+cfg.ops*2 > cfg.entities*(cfg.entities-1)) {
		fmt.Fprintln(stderr, "entityconn bench: --entities too few for --connections distinct pairs")
		return 2
	}
	if cfg.concurrency < 1 || cfg.ops < cfg.concurrency {
		fmt.Fprintln(stderr, "entityconn bench: need --concurrency ≥ 1 and --ops ≥ --concurrency")
		return 2
	}
	results, err := bench(ctx, cfg, start, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn bench: %v\n", err)
		return 1
	}
	if cfg.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(results)
		return 0
	}
	printBench(stdout, results)
	return 0
}

func printBench(w io.Writer, results []benchResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tconcurrency\tops\tops/s\tp50 ms\tp99 ms\tratio\tfigure\t")
	for _, r := range results {
		c, rate, ratio, p50, p99, value := "", "", "", "", "", ""
		if r.Concurrency > 0 {
			c = fmt.Sprint(r.Concurrency)
		}
		if r.OpsPerSec > 0 {
			rate = fmt.Sprintf("%.0f", r.OpsPerSec)
		}
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		if r.P50Ms > 0 || r.P99Ms > 0 {
			p50, p99 = fmt.Sprintf("%.2f", r.P50Ms), fmt.Sprintf("%.2f", r.P99Ms)
		}
		if r.Unit != "" {
			value = fmt.Sprintf("%.0f %s", r.Value, r.Unit)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", r.Phase, c, r.Ops, rate, p50, p99, ratio, value)
	}
	_ = tw.Flush()
	for _, r := range results {
		if r.Note != "" {
			fmt.Fprintf(w, "%s: %s\n", r.Phase, r.Note)
		}
	}
}

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
	st, err := start(ctx, StartConfig{Data: data, NATSURL: cfg.natsURL, Fsync: cfg.fsync, LoadDir: func(ctx context.Context, dirs *natsjs.DirectoryStore) error {
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

	raw, err := benchRaw(ctx, st, cfg, progress)
	if err != nil {
		return nil, fmt.Errorf("raw appends: %w", err)
	}
	results = append(results, raw)

	stopProf := cfg.prof.cpu("in-process")
	inproc := runLoad(ctx, "entityconn in-process commands", cfg, progress, func(ctx context.Context) error {
		src, tgt := next()
		_, err := st.Service.Execute(ctx, app.Principal{UserID: "bench", EntityID: src}, app.CommandID{}, domain.RequestConnection{Target: tgt})
		return err
	})
	stopProf()
	if inproc.err != nil {
		return nil, inproc.err
	}
	results = append(results, inproc.result(raw.OpsPerSec))

	httpRes, err := benchHTTP(ctx, st, cfg, progress, next)
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

// pairSource hands out distinct ordered pairs of n entities (pairOf from 0 on), safe for
// concurrent use.
func pairSource(n int) func() (string, string) { return pairsAfter(n, 0) }

// load is the outcome of one throughput phase.
type load struct {
	name      string
	c         int
	latencies []time.Duration
	elapsed   time.Duration
	err       error
}

func (l load) opsPerSec() float64 { return float64(len(l.latencies)) / l.elapsed.Seconds() }

func (l load) result(raw float64) benchResult {
	r := benchResult{Phase: l.name, Concurrency: l.c, Ops: len(l.latencies), OpsPerSec: l.opsPerSec()}
	r.P50Ms, r.P99Ms = percentiles(l.latencies)
	if raw > 0 && l.name != "raw" {
		r.Ratio = r.OpsPerSec / raw
	}
	return r
}

// runLoad runs op cfg.ops times on cfg.concurrency goroutines and measures each call.
func runLoad(ctx context.Context, name string, cfg benchConfig, progress io.Writer, op func(context.Context) error) load {
	bar := progressbar.NewOptions(cfg.ops, progressbar.OptionSetWriter(progress), progressbar.OptionSetDescription(name),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(), progressbar.OptionSetVisibility(cli.IsTerminal(progress)))
	defer bar.Close()
	lat := make([]time.Duration, cfg.ops)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.ops || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := op(ctx); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat[i] = time.Since(t)
				_ = bar.Add(1)
			}
		})
	}
	wg.Wait()
	l := load{name: name, c: cfg.concurrency, latencies: lat, elapsed: time.Since(start)}
	if err, _ := firstErr.Load().(error); err != nil {
		l.err = fmt.Errorf("%s: %w", name, err)
	} else if ctx.Err() != nil {
		l.err = ctx.Err()
	}
	return l
}

// benchRaw measures raw JetStream: conditional appends of event-sized messages, each writer
// to fresh subjects with an expected last subject sequence of 0, on a stream configured like
// the event stream.
func benchRaw(ctx context.Context, st *Stack, cfg benchConfig, progress io.Writer) (benchResult, error) {
	js, err := jetstream.New(st.NATS)
	if err != nil {
		return benchResult{}, err
	}
	sc := natsjs.EventStreamConfig(1)
	sc.Name, sc.Subjects, sc.DenyDelete, sc.DenyPurge, sc.Description = "BENCH_RAW", []string{"bench.raw.>"}, false, false, "entityconn bench: raw appends (deleted after the run)"
	sc.SubjectTransform, sc.RePublish = nil, nil
	s, err := js.CreateOrUpdateStream(ctx, sc)
	if err != nil {
		return benchResult{}, err
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), s.CachedInfo().Config.Name) }()
	body, _ := events.Encode(events.Event{EventID: "8a0c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d", Type: events.TypeConnectionRequested,
		ConnectionID: "1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b", SourceEntityID: "e12", TargetEntityID: "e345",
		ActorUserID: "bench", ActorEntityID: "e12", OccurredAt: time.Now().UTC()})
	var n atomic.Int64
	l := runLoad(ctx, "raw", cfg, progress, func(ctx context.Context) error {
		i := n.Add(1)
		subj := fmt.Sprintf("bench.raw.s%d.t%d", i%997, i)
		m := &nats.Msg{Subject: subj + ".ConnectionRequested", Data: body, Header: nats.Header{}}
		m.Header.Set(events.HeaderMsgID, fmt.Sprint("raw-", i))
		_, err := js.PublishMsg(ctx, m, jetstream.WithExpectLastSequenceForSubject(0, subj+".*"))
		return err
	})
	if l.err != nil {
		return benchResult{}, l.err
	}
	r := l.result(0)
	r.Phase = "raw JetStream conditional append"
	return r, nil
}

// benchHTTP measures POST /v1/entity-connections through a real HTTP listener.
func benchHTTP(ctx context.Context, st *Stack, cfg benchConfig, progress io.Writer, next func() (string, string)) (load, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return load{}, err
	}
	srv := &http.Server{Handler: st.API, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.concurrency, MaxConnsPerHost: cfg.concurrency}}
	resp, err := client.PostForm(base+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"bench"}, "client_secret": {"bench-secret"}})
	if err != nil {
		return load{}, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		return load{}, fmt.Errorf("token: %v (HTTP %d)", err, resp.StatusCode)
	}
	l := runLoad(ctx, "entityconn HTTP commands", cfg, progress, func(ctx context.Context) error {
		src, tgt := next()
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/entity-connections", strings.NewReader(`{"targetEntityId":"`+tgt+`"}`))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Zuora-Entity-Ids", src)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	})
	return l, l.err
}

// benchNATS measures entityconn.api.bench.request through the NATS micro service, from a client
// connected over TCP like another service.
func benchNATS(ctx context.Context, st *Stack, cfg benchConfig, progress io.Writer, next func() (string, string)) (load, error) {
	var opts []nats.Option
	if st.Embedded {
		opts = natsclient.SignIn("bench-svc", "bench-secret", "bench-svc")
	}
	nc, err := nats.Connect(st.URL, opts...)
	if err != nil {
		return load{}, err
	}
	defer nc.Close()
	l := runLoad(ctx, "entityconn NATS request/reply commands", cfg, progress, func(ctx context.Context) error {
		src, tgt := next()
		body, _ := json.Marshal(natsapi.Request{EntityID: src, TargetEntityID: tgt})
		m, err := nc.RequestWithContext(ctx, natsapi.Subject("bench", "request"), body)
		if err != nil {
			return err
		}
		if code := m.Header.Get("Nats-Service-Error-Code"); code != "" {
			return fmt.Errorf("%s: %s", code, m.Header.Get("Nats-Service-Error"))
		}
		return nil
	})
	return l, l.err
}

// outcomeClock publishes durable commands and times each from publishing to its outcome.
type outcomeClock struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	sub *nats.Subscription

	mu      sync.Mutex
	sent    map[string]time.Time
	lats    []time.Duration
	refused error // the first error outcome
	arrived chan struct{}
}

// newOutcomeClock connects to st's NATS as the service itself, which may read every
// entity's outcomes.
func newOutcomeClock(st *Stack) (*outcomeClock, error) {
	nc, err := nats.Connect(st.URL, st.ServiceOptions...)
	if err != nil {
		return nil, err
	}
	c := &outcomeClock{nc: nc, sent: map[string]time.Time{}, arrived: make(chan struct{}, 1)}
	if c.js, err = jetstream.New(nc); err == nil {
		c.sub, err = nc.Subscribe(natscmd.OutcomePrefix+".>", c.outcome)
	}
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *outcomeClock) outcome(m *nats.Msg) {
	var o natscmd.Outcome
	if json.Unmarshal(m.Data, &o) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.sent[o.CommandID]
	if !ok {
		return
	}
	delete(c.sent, o.CommandID)
	c.lats = append(c.lats, time.Since(at))
	if !o.OK && o.Error != nil && c.refused == nil {
		c.refused = fmt.Errorf("outcome %d: %s", o.Error.Code, o.Error.Message)
	}
	select {
	case c.arrived <- struct{}{}:
	default:
	}
}

// publish sends a request from src to tgt under command id, noting the time.
func (c *outcomeClock) publish(ctx context.Context, id, src, tgt string) error {
	c.mu.Lock()
	c.sent[id] = time.Now()
	c.mu.Unlock()
	return natscmd.Publish(ctx, c.js, "bench", "RequestConnection", natsapi.Request{CommandID: id, EntityID: src, TargetEntityID: tgt})
}

// wait returns the latencies once every published command has its outcome, or an error
// after within.
func (c *outcomeClock) wait(ctx context.Context, within time.Duration) ([]time.Duration, error) {
	timeout := time.After(within)
	for {
		c.mu.Lock()
		left, lats, refused := len(c.sent), c.lats, c.refused
		c.mu.Unlock()
		switch {
		case refused != nil:
			return nil, refused
		case left == 0:
			return lats, nil
		}
		select {
		case <-c.arrived:
		case <-timeout:
			return nil, fmt.Errorf("%d outcomes still missing after %s", left, within)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *outcomeClock) close() {
	_ = c.sub.Unsubscribe()
	c.nc.Close()
}

// benchDurable publishes commands on ENTITYCONN_COMMANDS from cfg.concurrency publishers and
// measures, for each, the time from publishing to its outcome arriving; the rate is commands
// whose outcome arrived per second.
func benchDurable(ctx context.Context, st *Stack, cfg benchConfig, progress io.Writer, next func() (string, string)) (load, error) {
	c, err := newOutcomeClock(st)
	if err != nil {
		return load{}, err
	}
	defer c.close()
	var n atomic.Int64
	start := time.Now()
	pub := runLoad(ctx, "entityconn durable commands (publish)", cfg, progress, func(ctx context.Context) error {
		src, tgt := next()
		return c.publish(ctx, fmt.Sprintf("bench-%d", n.Add(1)), src, tgt)
	})
	if pub.err != nil {
		return load{}, pub.err
	}
	lats, err := c.wait(ctx, 2*time.Minute)
	if err != nil {
		return load{}, err
	}
	return load{name: "entityconn durable commands", c: cfg.concurrency, latencies: lats, elapsed: time.Since(start)}, nil
}

// benchOutcomeLatency publishes durable commands at rate per second for cfg.lagFor and
// measures the time from publishing each to its outcome arriving.
func benchOutcomeLatency(ctx context.Context, st *Stack, cfg benchConfig, rate float64, next func() (string, string)) (benchResult, error) {
	c, err := newOutcomeClock(st)
	if err != nil {
		return benchResult{}, err
	}
	defer c.close()
	tick := time.NewTicker(time.Duration(float64(time.Second) / max(rate, 1)))
	defer tick.Stop()
	deadline := time.Now().Add(cfg.lagFor)
	var wg sync.WaitGroup
	var failed atomic.Value
	for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		<-tick.C
		src, tgt := next()
		wg.Go(func() {
			if err := c.publish(ctx, fmt.Sprintf("lat-%d", i), src, tgt); err != nil {
				failed.CompareAndSwap(nil, err)
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return benchResult{}, err
	}
	lats, err := c.wait(ctx, time.Minute)
	if err != nil {
		return benchResult{}, err
	}
	r := benchResult{Phase: "durable outcome latency", Ops: len(lats), Note: fmt.Sprintf("published → outcome received, at %.0f commands/s (half the durable rate) for %s", rate, cfg.lagFor)}
	r.P50Ms, r.P99Ms = percentiles(lats)
	return r, nil
}

// benchLag sends commands at rate per second for cfg.lagFor and measures, for each, the
// time from its acknowledgement to the views including it.
func benchLag(ctx context.Context, st *Stack, cfg benchConfig, rate float64, next func() (string, string)) (benchResult, error) {
	if err := st.Views.WaitCaughtUp(ctx); err != nil {
		return benchResult{}, err
	}
	type ack struct {
		seq uint64
		at  time.Time
	}
	acks := make(chan ack, 1<<16)
	var lags []time.Duration
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		var pending []ack
		for {
			progress, changed := st.Views.Changed()
			now := time.Now()
			for {
				select {
				case a, ok := <-acks:
					if !ok {
						acks = nil
						break
					}
					pending = append(pending, a)
					continue
				default:
				}
				break
			}
			kept := pending[:0]
			for _, a := range pending {
				if a.seq <= progress {
					lags = append(lags, max(now.Sub(a.at), 0))
				} else {
					kept = append(kept, a)
				}
			}
			pending = kept
			if acks == nil && len(pending) == 0 {
				return
			}
			select {
			case <-changed:
			case <-time.After(time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
	}()
	interval := time.Duration(float64(time.Second) / max(rate, 1))
	tick := time.NewTicker(interval)
	deadline := time.Now().Add(cfg.lagFor)
	var wg sync.WaitGroup
	var failed atomic.Value
	sent := 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		<-tick.C
		sent++
		wg.Go(func() {
			src, tgt := next()
			res, err := st.Service.Execute(ctx, app.Principal{UserID: "bench", EntityID: src}, app.CommandID{}, domain.RequestConnection{Target: tgt})
			if err != nil {
				failed.CompareAndSwap(nil, err)
				return
			}
			acks <- ack{res.Sequence, time.Now()}
		})
	}
	tick.Stop()
	wg.Wait()
	close(acks)
	<-watched
	if err, _ := failed.Load().(error); err != nil {
		return benchResult{}, err
	}
	r := benchResult{Phase: "projection lag", Ops: len(lags), Note: fmt.Sprintf("acknowledged command → views include it, at %.0f commands/s (half the in-process rate) for %s", rate, cfg.lagFor)}
	r.P50Ms, r.P99Ms = percentiles(lags)
	return r, nil
}

func percentiles(ds []time.Duration) (p50, p99 float64) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 {
		return float64(s[min(int(q*float64(len(s))), len(s)-1)]) / float64(time.Millisecond)
	}
	return at(0.50), at(0.99)
}
