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
	"time"

	"github.com/entityconn/entityconn/cmd/entityconn/internal/cli"
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
	groupCommit bool
	connections int
	entities    int
	idleWait    time.Duration
	prof        profiler
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
	cli.DurationVar(fs, &cfg.lagFor, "lag-duration", 5*time.Second, "how long the projection-lag phase runs")
	fs.StringVar(&cfg.natsURL, "nats-url", getenv("NATS_URL"), "measure on this NATS instead of an embedded server (creates and deletes a BENCH_RAW stream; entityconn's own streams must be empty)")
	fs.BoolVar(&cfg.fsync, "fsync", true, "embedded server: fsync every write, as serve does by default")
	fs.BoolVar(&cfg.groupCommit, "group-commit", true, "store the events of commands that wait together as one batch, as serve does; false: each on its own")
	fs.IntVar(&cfg.connections, "connections", 1_000_000, "connections stored for the scale phases (rebuild, restart, list, memory, populated rate); 0 skips them")
	fs.IntVar(&cfg.entities, "entities", 10_000, "entities the stored connections are spread over")
	cli.DurationVar(fs, &cfg.idleWait, "idle-wait", 130*time.Second, "after the scale phases' lists, wait this long without requests and measure memory again (the server's caches of its message blocks expire after 2 minutes); 0 skips it")
	cfg.prof.warn = stderr
	fs.StringVar(&cfg.prof.dir, "profile-dir", "", "write CPU profiles of the in-process and HTTP phases and the scale phases, and heap profiles of the process serving the stored connections (serving, and idle after --idle-wait), into this directory")
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
