package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/entityconn/entityconn/adapters/app"
	"github.com/entityconn/entityconn/adapters/directoryfile"
	"github.com/entityconn/entityconn/adapters/httpapi"
	"github.com/entityconn/entityconn/adapters/natsapi"
	"github.com/entityconn/entityconn/adapters/natsauth"
	"github.com/entityconn/entityconn/adapters/natsbatch"
	"github.com/entityconn/entityconn/adapters/natscmd"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/adapters/telemetry"
	"github.com/entityconn/entityconn/adapters/webui"
	"github.com/entityconn/entityconn/cmd/entityconn/internal/cli"
	"github.com/entityconn/entityconn/domain"
	"github.com/entityconn/entityconn/events"
)

// serveConfig is the configuration of "entityconn serve" (contract §2).
type serveConfig struct {
	Data       string
	HTTP       string
	NATSListen string
	NATSURL    string
	// NATSURLFromEnv is true when NATSURL comes from the variable NATS_URL, not the flag:
	// exported for the nats CLI, say, it makes serve use that NATS instead of its own.
	NATSURLFromEnv bool
	Directory      string
	PendingTTL     time.Duration
	Replicas       int
	// GatherLeaders keeps the leaders of entityconn's streams on one NATS server
	// ([natsjs.Leaders]); it matters only with --replicas above 1.
	GatherLeaders bool
	Fsync         bool
	// NoGroupCommit sends each append of a command's event on its own (a measurement's
	// baseline); by default appends that wait together are one batch ([natsjs.GroupCommit]).
	NoGroupCommit bool
	LogLevel      slog.Level
	BaseURL       string
	ExtNATS       externalNATS
}

// groupCommit returns how writes are committed in groups (decision 32). A server of one
// replica stages each atomic batch in a file store that it syncs to disk whatever its own
// setting: group commit pays on the embedded server only when it syncs every write anyway
// (--fsync, the default), and on a cluster (--replicas above 1), which stages batches in
// memory; an external server of one replica may not sync, so there it is off.
func (c *serveConfig) groupCommit() natsjs.GroupCommit {
	embedded := c.NATSURL == ""
	if c.NoGroupCommit || embedded && !c.Fsync || !embedded && c.Replicas <= 1 {
		return natsjs.GroupCommit{MaxBatch: 1}
	}
	if !embedded {
		return natsbatch.ClusterGroupCommit
	}
	return natsbatch.DefaultGroupCommit
}

// serveFlags declares serve's flags, each defaulting to its environment variable.
func serveFlags(getenv func(string) string, stderr io.Writer) (*flag.FlagSet, *serveConfig, *[]error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &serveConfig{}
	var errs []error
	env := envOr(getenv)
	fs.StringVar(&cfg.Data, "data", env("ENTITYCONN_DATA", "./data"), "store dir of the embedded NATS server (env ENTITYCONN_DATA)")
	fs.StringVar(&cfg.HTTP, "http", env("ENTITYCONN_HTTP_ADDR", "127.0.0.1:8080"), "address of the REST API, web page, /metrics, /healthz, /readyz (env ENTITYCONN_HTTP_ADDR)")
	fs.StringVar(&cfg.NATSListen, "nats-listen", env("ENTITYCONN_NATS_LISTEN", "127.0.0.1:4222"), "client address of the embedded NATS server, for other services (env ENTITYCONN_NATS_LISTEN)")
	fs.StringVar(&cfg.NATSURL, "nats-url", env("NATS_URL", ""), "use this external NATS (cluster) instead of the embedded server (env NATS_URL)")
	fs.StringVar(&cfg.Directory, "directory", env("ENTITYCONN_DIRECTORY", ""), "YAML directory file imported at start and on SIGHUP; empty: the built-in demo (env ENTITYCONN_DIRECTORY)")
	// value parses the variable of a flag; a bad value is reported, naming the variable,
	// unless the flag is given too (it wins).
	value := func(flagName, name, def string, parse func(string) error) {
		if v := env(name, def); v != def {
			if err := parse(v); err != nil {
				errs = append(errs, envError{flag: flagName, err: fmt.Errorf("%s is %q: %w", name, v, err)})
			}
		}
	}
	cfg.PendingTTL = 168 * time.Hour
	value("pending-ttl", "ENTITYCONN_PENDING_TTL", "168h", func(v string) (err error) { cfg.PendingTTL, err = cli.ParseDuration(v); return err })
	cli.DurationVar(fs, &cfg.PendingTTL, "pending-ttl", cfg.PendingTTL, "pending requests older than this expire, such as 168h (7 days) or 30m; 0 = never (env ENTITYCONN_PENDING_TTL)")
	cfg.Replicas = 1
	value("replicas", "ENTITYCONN_REPLICAS", "1", func(v string) (err error) { cfg.Replicas, err = cli.ParseInt(v); return err })
	fs.IntVar(&cfg.Replicas, "replicas", cfg.Replicas, "replicas of the streams and buckets it creates (env ENTITYCONN_REPLICAS)")
	fs.BoolVar(&cfg.GatherLeaders, "gather-leaders", true, "with --replicas above 1: keep the leaders of entityconn's streams on one NATS server, so that losing another server stalls no command")
	cfg.Fsync = true
	value("fsync", "ENTITYCONN_FSYNC", "true", func(v string) (err error) { cfg.Fsync, err = cli.ParseBool(v); return err })
	cli.BoolVar(fs, &cfg.Fsync, "fsync", cfg.Fsync, "embedded server: fsync every write before acknowledging it (env ENTITYCONN_FSYNC: true or false)")
	cfg.LogLevel = slog.LevelInfo
	value("log-level", "ENTITYCONN_LOG_LEVEL", "info", func(v string) (err error) { cfg.LogLevel, err = cli.ParseLevel(v); return err })
	cli.LevelVar(fs, &cfg.LogLevel, "log-level", cfg.LogLevel, cli.LogLevels+" (env ENTITYCONN_LOG_LEVEL)")
	fs.StringVar(&cfg.BaseURL, "base-url", env("ENTITYCONN_BASE_URL", ""), "public URL of the REST API, e.g. https://api.example.com, for absolute nextPage links; empty: relative links (env ENTITYCONN_BASE_URL)")
	cfg.ExtNATS.register(fs, env, true)
	return fs, cfg, &errs
}

// envError is a bad value of the environment variable of a flag.
type envError struct {
	flag string
	err  error
}

func (e envError) Error() string { return e.err.Error() }
func (e envError) Unwrap() error { return e.err }

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, cfg, envErrs := serveFlags(getenv, stderr)
	// The flag package prints the usage after a bad flag too: there the list of flags would
	// bury the reason, so it is printed for -h only.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "usage: entityconn serve [flags]\n\nFlags (a flag given wins over its environment variable):")
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintln(stderr, `run "entityconn serve -h" for the flags`)
		return 2
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	cfg.NATSURLFromEnv = cfg.NATSURL != "" && !given["nats-url"]
	*envErrs = slices.DeleteFunc(*envErrs, func(err error) bool {
		var e envError
		return errors.As(err, &e) && given[e.flag]
	})
	if cfg.BaseURL != "" {
		base, err := httpapi.CheckBaseURL(cfg.BaseURL)
		if err != nil {
			*envErrs = append(*envErrs, fmt.Errorf("--base-url (ENTITYCONN_BASE_URL): %w", err))
		}
		cfg.BaseURL = base
	}
	if cfg.NATSURL == "" && cfg.ExtNATS.set() {
		*envErrs = append(*envErrs, errors.New("--nats-creds, --nats-user, --nats-password, --nats-tls-*, the auth callout seed and --nats-system-* are for an external NATS: give --nats-url too (the embedded server's identity is kept in --data)"))
	}
	if err := cfg.ExtNATS.check(); err != nil {
		*envErrs = append(*envErrs, err)
	}
	if cfg.NATSURL == "" && cfg.Replicas > 1 {
		*envErrs = append(*envErrs, fmt.Errorf("--replicas %d: the embedded NATS server is a single server and keeps one copy of each stream: use --replicas 1, or --nats-url with a JetStream cluster of at least %d servers", cfg.Replicas, cfg.Replicas))
	}
	if len(*envErrs) > 0 || fs.NArg() > 0 || cfg.Replicas < 1 || cfg.PendingTTL < 0 {
		for _, err := range *envErrs {
			fmt.Fprintf(stderr, "entityconn serve: %v\n", err)
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "entityconn serve: unexpected arguments %q\n", fs.Args())
		}
		if cfg.Replicas < 1 {
			fmt.Fprintln(stderr, "entityconn serve: --replicas must be 1 or more")
		}
		if cfg.PendingTTL < 0 {
			fmt.Fprintln(stderr, "entityconn serve: --pending-ttl must not be negative")
		}
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if err := serve(ctx, cfg, log, stdout); err != nil {
		fmt.Fprintf(stderr, "entityconn serve: %v\n", err)
		return 1
	}
	return 0
}

// serve runs the service until ctx ends, then drains in-flight requests and stops. It opens
// the embedded server's store first (one process per data directory) and listens on every
// address before it prints anything, so that a start that fails prints nothing but why;
// then it answers /healthz while it waits for NATS (see [stack.build]); the API answers once
// the stack is ready.
func serve(ctx context.Context, cfg *serveConfig, log *slog.Logger, stdout io.Writer) error {
	out := &lockedWriter{w: stdout}
	st := &stack{log: log}
	defer st.Close() // after the HTTP server has drained (deferred calls run last first)
	if err := st.open(cfg); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return listenError("--http", "ENTITYCONN_HTTP_ADDR", cfg.HTTP, err)
	}
	if st.embedded != nil {
		fmt.Fprintf(out, "NATS (embedded, JetStream in %s) listening on %s\n", cfg.Data, st.url)
	} else {
		fmt.Fprintf(out, "NATS: %s\n", cfg.natsURLSource())
	}
	status := &startStatus{}
	g := &gate{status: status}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(out, "HTTP listening on http://%s\n", ln.Addr())
	defer func() {
		if g.handler.Load() != nil {
			log.Info("shutting down: draining in-flight requests")
		}
		drain, cancelDrain := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancelDrain()
		if err := srv.Shutdown(drain); err != nil {
			log.Warn("http shutdown", "err", err)
		}
	}()

	// Until the stack is ready, a failed Serve ends the start too.
	startCtx, stopStart := context.WithCancel(ctx)
	defer stopStart()
	serveFailed := make(chan error, 1)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case err := <-served:
			serveFailed <- err
			stopStart()
		case <-startCtx.Done():
		}
	}()
	w := &waiter{ctx: startCtx, log: log, status: status, cfg: cfg}
	err = st.build(cfg, func(ctx context.Context, dirs *natsjs.DirectoryStore) error {
		return loadDirectory(ctx, cfg, dirs, out)
	}, w)
	stopStart()
	<-watched
	select {
	case err := <-serveFailed:
		return fmt.Errorf("http: %w", err)
	default:
	}
	switch {
	case err != nil && ctx.Err() != nil:
		log.Info("stopped before it was ready", "status", status.String())
		return nil
	case err != nil:
		return err
	}
	if cfg.Directory != "" {
		st.background("directory reload", func(ctx context.Context) error { return reloadOnHUP(ctx, cfg, st.dirs, log) })
	}
	srv.RegisterOnShutdown(st.api.CloseStreams)
	g.open(st.api)
	log.Info("entityconn ready", "http", ln.Addr().String(), "nats", st.url, "pendingTTL", cfg.PendingTTL, "replicas", cfg.Replicas)

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("http: %w", err)
	}
	return nil
}

// stack is a running entityconn: NATS (embedded or external), its JetStream resources, the
// directory, the service, the projector and expiry in the background, and the HTTP handler
// (not listening). Close stops it all, background work first.
type stack struct {
	url      string
	natsOpts []nats.Option // of the service's connections
	// embedded is the embedded NATS server (nil with --nats-url), identity the service's own
	// identity on it, and authorizer what answers its auth callout.
	embedded   *server.Server
	identity   natsauth.Identity
	authorizer *natsauth.Authorizer
	kicker     natsauth.Kicker // closes the connections of users whose rights change
	external   externalNATS    // how the service signs in to an external NATS
	nc         *nats.Conn
	res        *natsjs.Resources
	store      *natsjs.Store
	dirs       *natsjs.DirectoryStore
	views      *natsjs.Views
	index      *natsjs.ListIndex
	// snapshot is where the list index is saved on Close and read at start ("": nowhere).
	snapshot string
	svc      *app.Service
	exec     *natsapi.Executor
	metrics  *telemetry.Metrics
	api      *httpapi.Server
	log      *slog.Logger

	bg      context.Context
	stopBG  context.CancelFunc
	wg      sync.WaitGroup
	doors   []func() // stopped first: their commands in flight may wait for the views
	closers []func()
}

// start builds a stack from cfg, waiting for NATS as serve does (without a deadline but
// ctx's). loadDir puts a directory into the directory store.
func start(ctx context.Context, cfg *serveConfig, log *slog.Logger, loadDir func(context.Context, *natsjs.DirectoryStore) error) (st *stack, err error) {
	st = &stack{log: log}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	if err := st.open(cfg); err != nil {
		return st, err
	}
	return st, st.build(cfg, loadDir, &waiter{ctx: ctx, log: log, status: &startStatus{}, cfg: cfg})
}

// open starts the embedded NATS server on cfg.Data unless cfg names an external NATS. It
// takes the data directory's lock first: it fails at once, naming the holder's process id,
// when another entityconn has the directory, and naming --nats-listen when it cannot listen
// there.
func (st *stack) open(cfg *serveConfig) error {
	st.external = cfg.ExtNATS
	st.natsOpts = append([]nats.Option{nats.Name("entityconn"), nats.MaxReconnects(-1),
		// A server that stops answering (a stopped process, a paused VM, a partition that
		// keeps the TCP connection) is left after three pings a second apart go unanswered: every request on a connection
		// to it would wait for its timeout, and the client keeps the connection while its
		// pings are not overdue (nats.go's default: 2 minutes, twice).
		nats.PingInterval(time.Second), nats.MaxPingsOutstanding(3), nats.ReconnectWait(250 * time.Millisecond),
	}, cfg.ExtNATS.options()...)
	st.url = cfg.NATSURL
	if st.url != "" {
		return nil
	}
	ns, id, err := natsauth.StartEmbedded(cfg.Data, natsjs.EmbeddedOptions{Listen: cfg.NATSListen, SyncAlways: cfg.Fsync, ServerName: "entityconn"})
	if err != nil {
		if inUse := (*natsjs.StoreInUseError)(nil); errors.As(err, &inUse) {
			return fmt.Errorf("data directory %s is in use by another entityconn (%s): stop it first, or give this one another --data", cfg.Data, holder(inUse))
		}
		if errors.Is(err, natsjs.ErrListen) {
			return listenError("--nats-listen", "ENTITYCONN_NATS_LISTEN", cfg.NATSListen, err)
		}
		return err
	}
	st.closers = append(st.closers, func() { ns.Shutdown(); ns.WaitForShutdown() })
	st.url, st.embedded, st.identity = ns.ClientURL(), ns, id
	st.natsOpts = append(st.natsOpts, nats.InProcessServer(ns), nats.UserInfo(id.User, id.Password))
	return nil
}

// natsURLSource names the external NATS of cfg and where its URL comes from.
func (cfg *serveConfig) natsURLSource() string {
	if cfg.NATSURLFromEnv {
		return cfg.NATSURL + " (from the environment variable NATS_URL, instead of the embedded server: unset NATS_URL to run the embedded one)"
	}
	return cfg.NATSURL + " (--nats-url)"
}

// listenError says why serve cannot listen on addr, given with flag (or the variable env),
// and what to do.
func listenError(flag, env, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s %s: the address is in use, by another entityconn serve or another server: stop it, or give %s (or %s) another address, such as 127.0.0.1:0 for any free port", flag, addr, flag, env)
	}
	return fmt.Errorf("%s %s: cannot listen there: %w: give %s (or %s) another address", flag, addr, err, flag, env)
}

// holder names the process of a store lock: "pid 1234".
func holder(e *natsjs.StoreInUseError) string {
	if e.PID > 0 {
		return "pid " + strconv.Itoa(e.PID)
	}
	return "pid unknown"
}

// Attempt timeouts of the steps of [stack.build]: a step that takes longer is tried again
// (what it created stays).
const (
	connectAttempt = 30 * time.Second
	setupAttempt   = 20 * time.Second
	// Importing hashes every new secret with bcrypt (tens of milliseconds each): a large
	// directory may take a while, so this step has more time than the others.
	directoryAttempt = 5 * time.Minute
)

// build connects to NATS (st.open's) and builds the rest of the stack on it. Every step that
// needs NATS is tried until it succeeds (w.do): a cluster that is forming, a stream without
// a leader or servers that cannot be reached yet are waited out, with a warning that says
// why; only what no wait can cure (refused credentials, --replicas that the servers cannot
// have, a bad directory file, w's context ending) ends it with an error.
func (st *stack) build(cfg *serveConfig, loadDir func(context.Context, *natsjs.DirectoryStore) error, w *waiter) error {
	log := st.log
	natsOpts := st.natsOpts
	at := "NATS at " + st.url
	if st.embedded == nil {
		at = "NATS at " + cfg.natsURLSource()
	}
	err := w.do(step{name: at, each: connectAttempt}, func(context.Context) (err error) {
		st.nc, err = nats.Connect(st.url, natsOpts...)
		return err
	})
	if err != nil {
		return err
	}
	st.closers = append(st.closers, st.nc.Close)
	js, err := jetstream.New(st.nc)
	if err != nil {
		return err
	}
	err = w.do(step{name: "the event stream and buckets", each: setupAttempt}, func(ctx context.Context) (err error) {
		st.res, err = natsjs.Setup(ctx, js, cfg.Replicas)
		return err
	})
	if err != nil {
		return err
	}
	st.dirs = natsjs.NewDirectoryStore(st.res, log)
	err = w.do(step{name: "the directory", each: directoryAttempt}, func(ctx context.Context) error {
		if err := loadDir(ctx, st.dirs); err != nil {
			if isFileProblem(err) {
				return permanent(err)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := st.authorize(cfg, natsOpts, log, w); err != nil {
		return err
	}
	var key []byte
	err = w.do(step{name: "the token signing key", each: setupAttempt}, func(ctx context.Context) (err error) {
		key, err = st.dirs.SigningKey(ctx)
		return err
	})
	if err != nil {
		return err
	}
	// The projector, and what follows its progress, read and write on a connection of their
	// own: on a shared one their messages would queue behind the event appends, which the
	// server stores (and syncs to disk) one at a time per connection.
	var projNC *nats.Conn
	err = w.do(step{name: "NATS at " + st.url + " (the projector's connection)", each: connectAttempt}, func(context.Context) (err error) {
		projNC, err = nats.Connect(st.url, append(natsOpts, nats.Name("entityconn-projector"))...)
		return err
	})
	if err != nil {
		return err
	}
	st.closers = append(st.closers, projNC.Close)
	projJS, err := jetstream.New(projNC)
	if err != nil {
		return err
	}
	var projRes *natsjs.Resources
	err = w.do(step{name: "the event stream and buckets (the projector's connection)", each: setupAttempt}, func(ctx context.Context) (err error) {
		projRes, err = natsjs.Bind(ctx, projJS)
		return err
	})
	if err != nil {
		return err
	}
	st.metrics = telemetry.New()
	st.views = natsjs.NewViews(projRes, log)
	st.index = natsjs.NewListIndex(projRes, log)
	if st.snapshot = indexSnapshotPath(cfg); st.snapshot != "" {
		snapCtx, cancel := context.WithTimeout(w.ctx, setupAttempt)
		switch err := st.index.LoadSnapshot(snapCtx, st.snapshot); {
		case err == nil:
			log.Info("list index snapshot read", "file", st.snapshot, "sequence", st.index.Sequence())
		case !errors.Is(err, fs.ErrNotExist):
			log.Warn("list index snapshot not used: the index reads the whole event stream", "err", err)
		}
		cancel()
	}
	st.metrics.ListIndex(st.index.Sequence) // after the snapshot: it replaces the index
	group := cfg.groupCommit()
	st.store = natsjs.NewStore(st.res, natsjs.WithGroupCommit(group))
	st.svc = app.New(app.Config{
		Store: st.store, Views: st.views, Index: st.index, Directory: st.dirs,
		Outcomes: natsjs.NewOutcomesGrouped(st.res, group), PendingTTL: cfg.PendingTTL, Metrics: st.metrics, Log: log,
	})

	// The NATS request/reply door.
	st.exec = &natsapi.Executor{Service: st.svc}
	var micro *natsapi.Server
	err = w.do(step{name: "the NATS request/reply door", each: setupAttempt}, func(context.Context) (err error) {
		micro, err = natsapi.Start(st.nc, st.exec, log)
		return err
	})
	if err != nil {
		return err
	}
	st.doors = append(st.doors, micro.Stop)
	// The durable command door (Watermill on JetStream).
	var door *natscmd.Door
	err = w.do(step{name: "the durable command door", each: setupAttempt}, func(ctx context.Context) (err error) {
		door, err = natscmd.Start(ctx, st.nc, st.exec, natscmd.Config{Replicas: cfg.Replicas, Log: log, GroupCommit: group})
		return err
	})
	if err != nil {
		return err
	}
	st.doors = append(st.doors, door.Stop)

	// The leaders gather before the work starts, so that the first moves stall nothing.
	var leaders *natsjs.Leaders
	if cfg.Replicas > 1 && cfg.GatherLeaders {
		leaders = &natsjs.Leaders{
			JS: st.res.JS,
			Streams: []string{events.Stream, "KV_" + natsjs.BucketIdempotency, "KV_" + natsjs.BucketViews,
				natscmd.StreamCommands, natscmd.StreamOutcomes},
			Consumers: []natsjs.ConsumerRef{{Stream: natscmd.StreamCommands, Name: natscmd.ConsumerName}},
			Log:       log,
		}
		sctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
		leaders.Settle(sctx)
		cancel()
	}

	// Background work stops on Close, which serve calls after the HTTP server has drained.
	st.bg, st.stopBG = context.WithCancel(context.WithoutCancel(w.ctx))
	st.background("views", st.views.Run)
	// Without a snapshot the list index reads the whole event stream: it starts once the
	// views have caught up, so that it does not slow down getting ready (lists read the views
	// bucket until it has loaded). From a snapshot it reads only what came after, at once.
	fromSnapshot := st.index.Sequence() > 0
	st.background("list index", func(ctx context.Context) error {
		if !fromSnapshot {
			if err := st.views.WaitCaughtUp(ctx); err != nil {
				return err
			}
		}
		return st.index.Run(ctx)
	})
	st.background("directory", st.dirs.Run)
	if st.authorizer != nil {
		guard := natsauth.NewConsumerGuard(st.dirs, st.res.JS, log)
		st.background("consumer guard", func(ctx context.Context) error { return guard.Run(ctx, st.nc) })
	}
	if st.authorizer != nil && st.kicker != nil {
		st.background("NATS rights", func(ctx context.Context) error {
			return st.authorizer.Follow(ctx, st.kicker, time.Second)
		})
	}
	if leaders != nil {
		st.background("leader placement", func(ctx context.Context) error { leaders.Run(ctx); return nil })
	}
	holder := instanceID(cfg)
	st.background("projector", natsjs.NewProjector(projRes, holder, log, st.metrics).Run)
	feed := natsjs.NewExpiryFeed(st.res, holder, log)
	st.background("expiry", func(ctx context.Context) error { return st.svc.RunExpiry(ctx, feed) })

	st.api = httpapi.New(httpapi.Config{
		Service: st.svc, Tokens: httpapi.NewTokens(key, nil), Directory: st.dirs,
		Metrics: st.metrics, Log: log, UI: webui.Handler(), BaseURL: cfg.BaseURL,
		Ready: func(ctx context.Context) error {
			if !st.nc.IsConnected() {
				return errors.New("not connected to NATS")
			}
			if st.dirs.Current() == nil {
				return errors.New("no directory loaded")
			}
			_, err := st.res.Events.Info(ctx)
			return err
		},
	})
	return nil
}

// authorize makes the service sign directory users in to NATS from now on: it answers the
// auth callout of the embedded server, or of an external NATS configured to trust the key of
// --auth-callout-key, and closes the connections of users whose rights change (on an
// external NATS, through the system account user of --nats-system-user). What needs NATS
// waits for it (w).
func (st *stack) authorize(cfg *serveConfig, natsOpts []nats.Option, log *slog.Logger, w *waiter) error {
	id := st.identity
	switch {
	case st.embedded != nil:
		st.kicker = natsauth.ServerKicker{Server: st.embedded}
	case cfg.ExtNATS.CalloutSeedFile != "" || cfg.ExtNATS.CalloutSeed != "":
		seed, err := cfg.ExtNATS.calloutSeed()
		if err != nil {
			return err
		}
		id.CalloutSeed = seed
		if x := cfg.ExtNATS; x.SystemUser != "" {
			opts := append(slices.Clone(natsOpts), nats.Name("entityconn-system"), nats.UserInfo(x.SystemUser, x.SystemPassword))
			var sys *nats.Conn
			err := w.do(step{name: "NATS at " + st.url + " as the system user " + x.SystemUser, each: connectAttempt,
				creds: "--nats-system-user and --nats-system-password (NATS_SYSTEM_USER, NATS_SYSTEM_PASSWORD)"},
				func(context.Context) (err error) {
					sys, err = nats.Connect(st.url, opts...)
					return err
				})
			if err != nil {
				return err
			}
			st.closers = append(st.closers, sys.Close)
			st.kicker = natsauth.SystemKicker{NC: sys, Wait: 500 * time.Millisecond}
		} else {
			log.Warn("no --nats-system-user: a revoked grant applies to NATS connections made after it, not to those open")
		}
	default:
		return nil // the operator authorises NATS users (entityconn nats-permissions)
	}
	auth, err := natsauth.NewAuthorizer(st.dirs, id, "", log)
	if err != nil {
		return err
	}
	err = w.do(step{name: "the auth callout subscription", each: setupAttempt}, func(context.Context) error {
		_, err := auth.Serve(st.nc)
		return err
	})
	if err != nil {
		return err
	}
	st.authorizer = auth
	return nil
}

// serviceOptions are the options of a connection of the service's own identity to st's NATS.
func (st *stack) serviceOptions() []nats.Option {
	if st.embedded == nil {
		return st.external.options()
	}
	return []nats.Option{nats.UserInfo(st.identity.User, st.identity.Password)}
}

// indexSnapshotPath is where serve keeps its list index between runs: in the data
// directory, when there is one (the embedded server's; with --nats-url, only if it exists).
func indexSnapshotPath(cfg *serveConfig) string {
	if cfg.Data == "" {
		return ""
	}
	if fi, err := os.Stat(cfg.Data); err != nil || !fi.IsDir() {
		return ""
	}
	return filepath.Join(cfg.Data, "list-index.snapshot")
}

// background runs f until the stack closes, logging an early failure.
func (st *stack) background(name string, f func(context.Context) error) {
	st.wg.Go(func() {
		if err := f(st.bg); err != nil && st.bg.Err() == nil {
			st.log.Error("stopped", "task", name, "err", err)
		}
	})
}

// Close stops the doors (waiting for their commands in flight), the background work, then NATS.
func (st *stack) Close() {
	for i := len(st.doors) - 1; i >= 0; i-- {
		st.doors[i]()
	}
	st.doors = nil
	if st.stopBG != nil {
		st.stopBG()
	}
	st.wg.Wait()
	if st.index != nil && st.snapshot != "" {
		if saved, err := st.index.SaveSnapshot(st.snapshot); err != nil {
			st.log.Warn("list index not saved", "err", err)
		} else if saved {
			st.log.Info("list index saved", "file", st.snapshot, "sequence", st.index.Sequence())
		}
	}
	for i := len(st.closers) - 1; i >= 0; i-- {
		st.closers[i]()
	}
	st.closers = nil
}

// loadDirectory imports the --directory file, or uses the stored directory, or imports the
// demo directory when there is none; the demo's credentials are printed.
func loadDirectory(ctx context.Context, cfg *serveConfig, dirs *natsjs.DirectoryStore, out io.Writer) error {
	if cfg.Directory != "" {
		data, err := os.ReadFile(cfg.Directory)
		if err != nil {
			return fmt.Errorf("directory: %w", err)
		}
		d, changed, err := dirs.Import(ctx, data)
		if err != nil {
			return fmt.Errorf("directory %s refused: %w", cfg.Directory, err)
		}
		fmt.Fprintf(out, "Directory %s: tenant %s, %d entities, %d users (%s)\n", cfg.Directory, d.Tenant(), len(d.Entities()), len(d.Users()), map[bool]string{true: "imported", false: "unchanged"}[changed])
		return nil
	}
	d, err := dirs.Load(ctx)
	switch {
	case errors.Is(err, natsjs.ErrNoDirectory):
		if d, _, err = dirs.Import(ctx, directoryfile.Demo()); err != nil {
			return fmt.Errorf("demo directory: %w", err)
		}
	case err != nil:
		return err
	}
	if !isDemo(d) {
		fmt.Fprintf(out, "Directory (stored in NATS): tenant %s, %d entities, %d users\n", d.Tenant(), len(d.Entities()), len(d.Users()))
		return nil
	}
	fmt.Fprintln(out, "Demo directory (tenant acme). Its secrets are public: for trying entityconn out only.")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CLIENT ID\tCLIENT SECRET\tACCESS")
	for _, c := range directoryfile.DemoCredentials() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.ClientID, c.Secret, c.Access)
	}
	return tw.Flush()
}

// isDemo reports whether d holds the demo's clients with the demo's secrets, so that the
// printed credentials are ones that work.
func isDemo(d *domain.Directory) bool {
	creds := directoryfile.DemoCredentials()
	if len(d.Users()) != len(creds) {
		return false
	}
	for _, c := range creds {
		u, ok := d.UserByClientID(c.ClientID)
		if !ok || bcrypt.CompareHashAndPassword([]byte(u.SecretHash), []byte(c.Secret)) != nil {
			return false
		}
	}
	return true
}

// reloadOnHUP re-imports the directory file on SIGHUP.
func reloadOnHUP(ctx context.Context, cfg *serveConfig, dirs *natsjs.DirectoryStore, log *slog.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-hup:
			data, err := os.ReadFile(cfg.Directory)
			if err == nil {
				_, _, err = dirs.Import(ctx, data)
			}
			if err != nil {
				log.Error("directory reload refused; the previous directory stays", "file", cfg.Directory, "err", err)
				continue
			}
			log.Info("directory reloaded", "file", cfg.Directory)
		}
	}
}

// instanceID names this process in the projector's lease. With the embedded server it is
// kept in the data directory, so that a process restarted after a crash takes its lease back
// at once; with an external NATS every process is new.
func instanceID(cfg *serveConfig) string {
	if cfg.NATSURL != "" {
		return uuid.NewString()
	}
	path := filepath.Join(cfg.Data, "entityconn-instance-id")
	if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return string(bytes.TrimSpace(b))
	}
	id := uuid.NewString()
	_ = os.WriteFile(path, []byte(id+"\n"), 0o640)
	return id
}

// lockedWriter serialises writes from several goroutines (to stdout, by serve and faults).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
