package main

import (
	"context"
	"log/slog"

	"github.com/entityconn/entityconn/cmd/entityconn/internal/bench"
)

// startBenchStack starts the stack that "entityconn bench" measures: serve's, logging
// nothing, with one replica and the embedded server (when cfg names no NATS) on a loopback
// port of its own.
func startBenchStack(ctx context.Context, cfg bench.StartConfig) (*bench.Stack, error) {
	scfg := &serveConfig{Data: cfg.Data, NATSListen: "127.0.0.1:0", NATSURL: cfg.NATSURL, Replicas: 1, Fsync: cfg.Fsync, NoGroupCommit: !cfg.GroupCommit}
	st, err := start(ctx, scfg, slog.New(slog.DiscardHandler), cfg.LoadDir)
	if err != nil {
		return nil, err
	}
	return &bench.Stack{URL: st.url, Embedded: st.embedded != nil, NATS: st.nc, ServiceOptions: st.serviceOptions(),
		Resources: st.res, Store: st.store, Service: st.svc, API: st.api, Views: st.views, Index: st.index, Close: st.Close}, nil
}
