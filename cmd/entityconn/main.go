// Command entityconn runs the entity connection service and talks to it.
//
//	entityconn serve        run the service (embedded NATS, demo directory by default)
//	entityconn request ...  client subcommands for the REST API
//
// Run "entityconn help" for the full usage.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/entityconn/entityconn/cmd/entityconn/internal/bench"
	"github.com/entityconn/entityconn/cmd/entityconn/internal/cli"
)

func main() {
	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: entityconn <command> [flags] [arguments]

Service:
  serve        run the service: REST API and web page, projector, expiry, embedded NATS
               (run "entityconn serve -h" for its flags and environment variables)

  bench        measure commands/s against raw JetStream in the same run
               (run "entityconn bench -h" for its flags)

  version      print the version of entityconn (also --version)
` + faultsUsage + rebuildUsage + watchUsage + natsAuthUsage + `
Clients of the REST API (ENTITYCONN_URL, ENTITYCONN_CLIENT_ID, ENTITYCONN_CLIENT_SECRET):
`

// run is the whole program behind main: it returns the exit status. Tests call it with
// their own arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage+clientUsage)
		return 2
	}
	switch sub := args[0]; sub {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "rebuild":
		return runRebuild(ctx, args[1:], getenv, stdout, stderr)
	case "watch":
		return runWatch(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		return bench.Run(ctx, args[1:], getenv, stdout, stderr, startBenchStack)
	case "faults":
		return runFaults(ctx, args[1:], getenv, stdout, stderr)
	case "faults-node": // internal: a NATS node of "entityconn faults", not in the usage
		return runFaultsNode(ctx, args[1:], stderr)
	case "nats-context":
		return runNATSContext(ctx, args[1:], getenv, stdout, stderr)
	case "nats-permissions":
		return runNATSPermissions(ctx, args[1:], getenv, stdout, stderr)
	case "nats-server-config":
		return runNATSServerConfig(ctx, args[1:], getenv, stdout, stderr)
	case "request", "accept", "deny", "cancel", "disconnect", "list", "get", "share", "unshare", "shared", "settings":
		return runClient(ctx, sub, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage+clientUsage)
		return 0
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, cli.Version("entityconn"))
		return 0
	default:
		fmt.Fprintf(stderr, "entityconn: unknown command %q", sub)
		if guess, ok := cli.Suggest(sub, commands); ok {
			fmt.Fprintf(stderr, ": did you mean %q?", guess)
		}
		fmt.Fprintln(stderr, "\nrun \"entityconn help\" for the commands")
		return 2
	}
}

// commands are the subcommands run knows, for a "did you mean" after an unknown one.
var commands = []string{"serve", "rebuild", "watch", "bench", "faults", "nats-context", "nats-permissions", "nats-server-config",
	"request", "accept", "deny", "cancel", "disconnect", "list", "get", "share", "unshare", "shared", "settings",
	"help", "--help", "version", "--version"}
