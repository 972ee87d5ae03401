package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/nats-io/nats-server/v2/server"
)

// runFaultsNode is the hidden "faults-node" mode: a NATS server as nats-server's main runs
// it (its flags, such as -c <config file>; its signal handling: SIGTERM and SIGINT stop it),
// so that "entityconn faults" can run the nodes of its cluster as child processes it can
// kill, without a nats-server binary.
func runFaultsNode(_ context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("faults-node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts, err := server.ConfigureOptions(fs, args, server.PrintServerAndExit, fs.Usage, server.PrintTLSHelpAndDie)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn faults-node: %v\n", err)
		return 2
	}
	s, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintf(stderr, "entityconn faults-node: %v\n", err)
		return 1
	}
	s.ConfigureLogger()
	// server.Run starts the server and handles SIGINT/SIGTERM (shutdown, exit) as
	// nats-server does.
	if err := server.Run(s); err != nil {
		fmt.Fprintf(stderr, "entityconn faults-node: %v\n", err)
		return 1
	}
	s.WaitForShutdown()
	return 0
}
