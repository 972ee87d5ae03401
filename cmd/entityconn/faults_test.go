package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// errors500 is the line below the summary that counts 500 answers.
var errors500 = regexp.MustCompile(`(?m)^  500s (\d+),`)

// summaryLine is the one line "entityconn faults" sums its checks up with.
var summaryLine = regexp.MustCompile(`(?m)^acked (\d+), lost (\d+), unexpected (\d+), duplicate (\d+), indeterminate (\d+), view mismatches (\d+), converged in ([0-9.]+|-) s$`)

// TestFaults runs "entityconn faults" for 40 s of faults: a 3-node NATS cluster and two
// replicas as child processes, nodes killed, paused and partitioned, replicas killed, load
// on every door. It builds the program without the race detector (children built with it
// would be far too slow on a small machine), runs it, and wants the rules kept: nothing
// lost, unexpected or duplicated, no view mismatch, no 500, and views that converge. Commands
// left without an answer after 30 s of retries (indeterminate) are logged, not failed: on a
// 2-core machine running the other packages' race tests at the same time, a fault's cluster
// recovery can outlast a client's retries; the long runs report them.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a fault test of over a minute")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "entityconn")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	work := filepath.Join(dir, "work")
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "faults", "--duration", "40s", "--warmup", "5s", "--work", work)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("entityconn faults took %v", time.Since(start).Round(time.Second))
	m := summaryLine.FindStringSubmatch(out.String())
	e500 := errors500.FindStringSubmatch(out.String())
	if m == nil || e500 == nil || m[2] != "0" || m[3] != "0" || m[4] != "0" || m[6] != "0" || m[7] == "-" || e500[1] != "0" {
		t.Errorf("entityconn faults: %v\n%s", err, out.String())
		for _, name := range []string{"r1.log", "r2.log", "n1.log", "n2.log", "n3.log"} {
			t.Logf("tail of %s:\n%s", name, tail(filepath.Join(work, name), 25))
		}
		return
	}
	if m[5] != "0" {
		t.Logf("%s\n%s", m[0], out.String())
		return
	}
	t.Log(m[0])
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
