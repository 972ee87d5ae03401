package main

import (
	"testing"

	"github.com/entityconn/entityconn/adapters/natsbatch"
	"github.com/entityconn/entityconn/adapters/natsjs"
)

// Group commit is on where it pays (decision 32): the embedded server syncing every write
// (groups of 16 or more), or a cluster (groups of 2 or more); off on an embedded server that
// does not sync, on an external server of one replica, and when asked.
func TestGroupCommitWhereItPays(t *testing.T) {
	off := natsjs.GroupCommit{MaxBatch: 1}
	cases := []struct {
		name string
		cfg  serveConfig
		want natsjs.GroupCommit
	}{
		{"embedded, fsync", serveConfig{Fsync: true, Replicas: 1}, natsbatch.DefaultGroupCommit},
		{"embedded, no fsync", serveConfig{Fsync: false, Replicas: 1}, off},
		{"cluster", serveConfig{NATSURL: "nats://127.0.0.1:4222", Replicas: 3}, natsbatch.ClusterGroupCommit},
		{"external, one replica", serveConfig{NATSURL: "nats://127.0.0.1:4222", Replicas: 1, Fsync: true}, off},
		{"turned off", serveConfig{Fsync: true, Replicas: 1, NoGroupCommit: true}, off},
	}
	for _, c := range cases {
		if got := c.cfg.groupCommit(); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
