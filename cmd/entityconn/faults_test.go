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

// summaryLine is the one line "entityconn faults" sums its checks up with.
var summaryLine = regexp.MustCompile(`(?m)^acked (\d+), lost (\d+), unexpected (\d+), duplicate (\d+), indeterminate (\d+), view mismatches (\d+), converged in ([0-9.]+|-) s$`)

// TestFaults runs "entityconn faults" for 40 s of faults: a 3-node NATS cluster and two
// replicas as child processes, nodes killed, paused and partitioned, replicas killed, load
// on every door. It builds the program without the race detector (children built with it
// would be far too slow on a small machine), runs it, and wants exit status 0 and a summary
// line with nothing lost, unexpected, duplicated, indeterminate or mismatched.
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
	cmd := exec.CommandContext(ctx, bin, "faults", "--duration", "40s", "--work", work)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("entityconn faults took %v", time.Since(start).Round(time.Second))
	m := summaryLine.FindStringSubmatch(out.String())
	if err != nil || m == nil || m[2] != "0" || m[3] != "0" || m[4] != "0" || m[5] != "0" || m[6] != "0" || m[7] == "-" {
		t.Errorf("entityconn faults: %v\n%s", err, out.String())
		for _, name := range []string{"r1.log", "r2.log", "n1.log", "n2.log", "n3.log"} {
			t.Logf("tail of %s:\n%s", name, tail(filepath.Join(work, name), 25))
		}
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
