package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"

	"github.com/entityconn/entityconn/adapters/natsauth"
	"github.com/entityconn/entityconn/adapters/natsjs"
	"github.com/entityconn/entityconn/cmd/entityconn/internal/cli"
)

const rebuildUsage = `  rebuild      throw the Outbound and Inbound views away and project every event again,
               with a progress bar; stop entityconn serve first
               (--data DIR for the embedded server's store, or --nats-url URL with
               the service's identity: --nats-user/--nats-password or --nats-creds)
`

// runRebuild is "entityconn rebuild": it rebuilds the views from the event stream.
func runRebuild(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := envOr(getenv)
	data := fs.String("data", env("ENTITYCONN_DATA", "./data"), "store dir of the embedded NATS server (env ENTITYCONN_DATA)")
	url := fs.String("nats-url", env("NATS_URL", ""), "rebuild on this external NATS instead (env NATS_URL)")
	var ext externalNATS
	ext.register(fs, env, false)
	if code, ok := cli.ParseFlags(fs, args, stderr); !ok {
		return code
	}
	if *url != "" && !flagGiven(fs, "nats-url") {
		// Exported for the nats CLI, NATS_URL would otherwise send the rebuild to another
		// NATS than the store in --data without a word.
		fmt.Fprintf(stderr, "entityconn rebuild: NATS %s (from the environment variable NATS_URL, instead of the embedded server's store in %s: unset NATS_URL to rebuild that one)\n", *url, *data)
	}
	n, elapsed, err := rebuild(ctx, *data, *url, ext, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn rebuild: %v\n", err)
		return 1
	}
	rate := 0.0
	if elapsed > 0 {
		rate = float64(n) / elapsed.Seconds()
	}
	fmt.Fprintf(stdout, "rebuilt the views from %d events in %s (%.0f events/s)\n", n, elapsed.Round(time.Millisecond), rate)
	return 0
}

// rebuild connects to NATS (starting the embedded server on data unless url is given) and
// rebuilds the views, drawing a progress bar on progress.
func rebuild(ctx context.Context, data, url string, ext externalNATS, progress io.Writer) (uint64, time.Duration, error) {
	opts := append([]nats.Option{nats.Name("entityconn rebuild")}, ext.options()...)
	if url == "" {
		if _, err := os.Stat(data); err != nil {
			return 0, 0, fmt.Errorf("data dir: %w", err)
		}
		ns, id, err := natsauth.StartEmbedded(data, natsjs.EmbeddedOptions{InProcessOnly: true, SyncAlways: true, ServerName: "entityconn-rebuild"})
		if inUse := (*natsjs.StoreInUseError)(nil); errors.As(err, &inUse) {
			return 0, 0, fmt.Errorf("data directory %s is in use by another entityconn (%s): stop serve first", data, holder(inUse))
		}
		if err != nil {
			return 0, 0, err
		}
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		url = ns.ClientURL()
		opts = append(opts, nats.InProcessServer(ns), nats.UserInfo(id.User, id.Password))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, 0, err
	}
	info, err := js.Stream(ctx, "KV_"+natsjs.BucketViews)
	if err != nil {
		return 0, 0, fmt.Errorf("no views bucket: has entityconn serve ever run here? (%w)", err)
	}
	res, err := natsjs.Setup(ctx, js, info.CachedInfo().Config.Replicas)
	if err != nil {
		return 0, 0, err
	}
	var bar *progressbar.ProgressBar
	start := time.Now()
	n, err := natsjs.Rebuild(ctx, res, slog.New(slog.DiscardHandler), func(done, total uint64) {
		if bar == nil {
			bar = progressbar.NewOptions64(int64(total), progressbar.OptionSetWriter(progress),
				progressbar.OptionSetDescription("rebuilding views"), progressbar.OptionShowCount(),
				progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"),
				progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetVisibility(cli.IsTerminal(progress)))
		}
		_ = bar.Set64(int64(done))
	})
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(progress)
	}
	return n, time.Since(start), err
}

// flagGiven reports whether the flag name was on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
