package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/natsjs"
)

// runChild runs "entityconn args..." in a child process and returns its exit status, its
// stdout and stderr and how long it ran; it kills it after within.
func runChild(t *testing.T, within time.Duration, args ...string) (code int, stdout, stderr string, took time.Duration) {
	t.Helper()
	cmd, out := childCmd(t, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(within, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	outb, _ := io.ReadAll(out)
	_ = cmd.Wait()
	return cmd.ProcessState.ExitCode(), string(outb), errb.String(), time.Since(began)
}

// TestOneServePerDataDirectory starts serve on a data directory, then a second serve and a
// rebuild on the same one: each exits at once, naming the first's process id, and the first
// goes on serving; what it acknowledged is there after a restart.
func TestOneServePerDataDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dirFile := writeDirectory(t, testDirectory)
	data := t.TempDir()
	first, base := startChild(t, "--data", data, "--directory", dirFile)
	s := &service{t: t, base: base}
	root := s.token("root")
	id := str(must(t, s.call("POST", "/v1/entity-connections", root, "global", `{"targetEntityId":"eu"}`), 200).Body["id"])
	pid := strconv.Itoa(first.Process.Pid)
	if got := lockHolder(t, data); got != pid {
		t.Errorf("lock file names pid %q, want the serve's %s", got, pid)
	}

	for _, c := range []struct {
		args   []string
		advice string
	}{
		{[]string{"serve", "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--data", data, "--directory", dirFile}, "stop it first, or give this one another --data"},
		{[]string{"rebuild", "--data", data}, "stop serve first"},
	} {
		code, stdout, stderr, took := runChild(t, 30*time.Second, c.args...)
		want := "data directory " + data + " is in use by another entityconn (pid " + pid + "): " + c.advice
		if code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("%s on a directory in use: exit %d, stderr %q; want non-zero and %q", c.args[0], code, stderr, want)
		}
		if took > 15*time.Second {
			t.Errorf("%s on a directory in use took %v to exit, want at once", c.args[0], took)
		}
		if strings.Contains(stdout, "listening") {
			t.Errorf("%s on a directory in use started listening:\n%s", c.args[0], stdout)
		}
	}

	// The first one still serves, and did not lose what it acknowledged.
	must(t, s.call("GET", "/v1/entity-connections/"+id, root, "global", ""), 200)
	second := must(t, s.call("POST", "/v1/entity-connections", root, "eu", `{"targetEntityId":"us"}`), 200)
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v, want exit status 0", err)
	}

	again := startService(t, "--data", data, "--directory", dirFile)
	root = again.token("root")
	for _, c := range []struct{ id, entity string }{{id, "global"}, {str(second.Body["id"]), "eu"}} {
		if r := again.call("GET", "/v1/entity-connections/"+c.id, root, c.entity, ""); r.Status != 200 || r.Body["status"] != "Pending" {
			t.Errorf("acknowledged request %s after the restart: %d %s", c.id, r.Status, r.Raw)
		}
	}
}

// TestRestartAfterTheHolderIsKilled: a serve killed with SIGKILL leaves its lock file, naming
// a process that is gone; the kernel has released the lock, so a new serve starts there.
func TestRestartAfterTheHolderIsKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dirFile := writeDirectory(t, testDirectory)
	data := t.TempDir()
	child, _ := startChild(t, "--data", data, "--directory", dirFile)
	if got, want := lockHolder(t, data), strconv.Itoa(child.Process.Pid); got != want {
		t.Fatalf("lock file names pid %q, want the child's %s", got, want)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	s := startService(t, "--data", data, "--directory", dirFile)
	must(t, s.call("GET", "/v1/entities", s.token("root"), "global", ""), 200)
	if got, want := lockHolder(t, data), strconv.Itoa(os.Getpid()); got != want {
		t.Errorf("lock file names pid %q after the restart, want %s", got, want)
	}
}

func lockHolder(t *testing.T, data string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, natsjs.LockFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
