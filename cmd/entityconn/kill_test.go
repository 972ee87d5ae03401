package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run the real program in a child process (the test binary itself, with
// ENTITYCONN_TEST_MAIN set), so that it can be killed with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("ENTITYCONN_TEST_MAIN") == "1" {
		var args []string
		if err := json.Unmarshal([]byte(os.Getenv("ENTITYCONN_TEST_ARGS")), &args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, args, os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// startChild runs "entityconn serve" in a child process and returns its HTTP base URL once
// it is ready (/readyz answers 200).
func startChild(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd, out := childCmd(t, append([]string{"serve", "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--log-level", "warn"}, args...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	exited := make(chan struct{}) // closed when its stdout closes: it has exited
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := httpLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case base := <-found:
		if err := waitReady(base, 30*time.Second, exited); err != nil {
			t.Fatalf("child: %v", err)
		}
		return cmd, base
	case <-exited:
		t.Fatal("child exited before listening")
	case <-time.After(30 * time.Second):
		t.Fatal("child did not start listening within 30s")
	}
	return nil, ""
}

// childCmd returns the command that runs "entityconn args..." in a child process (the test
// binary, see TestMain), and a pipe of its stdout.
func childCmd(t *testing.T, args ...string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	enc, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ENTITYCONN_TEST_MAIN=1", "ENTITYCONN_TEST_ARGS="+string(enc))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	return cmd, out
}

// TestKillAndRestart kills the service with SIGKILL while requests are in flight and
// restarts it on the same data dir: every acknowledged request is still there, in the store
// and in the views.
func TestKillAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	var dir strings.Builder
	dir.WriteString("tenant: acme\nentities:\n  - {id: root, name: Root}\n")
	access := "[{entity: root, role: admin}"
	for i := range 30 {
		fmt.Fprintf(&dir, "  - {id: e%d, name: E%d, parent: root}\n", i, i)
		access += fmt.Sprintf(", {entity: e%d, role: admin}", i)
	}
	dir.WriteString("users:\n  - {id: root, clientId: root, clientSecret: root-secret, access: " + access + "]}\n")
	dirFile := writeDirectory(t, dir.String())
	data := t.TempDir()

	child, base := startChild(t, "--data", data, "--directory", dirFile)
	s := &service{t: t, base: base}
	tok := s.token("root")

	var mu sync.Mutex
	acked := map[string]string{} // connection id → source
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 30 {
		wg.Go(func() {
			src := fmt.Sprintf("e%d", w)
			for i := range 30 {
				select {
				case <-stop:
					return
				default:
				}
				if i == w {
					continue
				}
				r, err := tryCall(base, tok, src, fmt.Sprintf(`{"targetEntityId":"e%d"}`, i))
				if err != nil {
					return // the child is gone
				}
				if r.Status == 200 {
					mu.Lock()
					acked[str(r.Body["id"])] = src
					mu.Unlock()
				}
			}
		})
	}
	eventually(t, "some requests acknowledged", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 100 })
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	close(stop)
	wg.Wait()
	t.Logf("%d requests acknowledged before SIGKILL", len(acked))

	s2 := startService(t, "--data", data, "--directory", dirFile)
	tok = s2.token("root")
	for id, src := range acked {
		eventually(t, "acknowledged request "+id+" in the views", func() bool {
			r := s2.call("GET", "/v1/entity-connections?type=outbound&pageSize=300", tok, src, "")
			for _, it := range r.Body["entityConnections"].([]any) {
				if str(it.(map[string]any)["id"]) == id {
					return true
				}
			}
			return false
		})
		if r := s2.call("GET", "/v1/entity-connections/"+id, tok, src, ""); r.Status != 200 || r.Body["status"] != "Pending" {
			t.Errorf("acknowledged request %s after restart: %d %s", id, r.Status, r.Raw)
		}
	}
}

// TestSIGTERMDrains stops the service with SIGTERM while requests are in flight: it exits 0,
// and every request it acknowledged is there after a restart.
func TestSIGTERMDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dirFile := writeDirectory(t, testDirectory)
	data := t.TempDir()
	child, base := startChild(t, "--data", data, "--directory", dirFile)
	s := &service{t: t, base: base}
	tok := s.token("root")
	var mu sync.Mutex
	acked := map[string]string{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			src := []string{"global", "eu", "us"}[w%3]
			for i := 0; ; i++ {
				// request and cancel in a loop: a stream of commands on one pair
				tgt := []string{"eu", "us", "global"}[w%3]
				r, err := tryCall(base, tok, src, `{"targetEntityId":"`+tgt+`"}`)
				if err != nil {
					return
				}
				if r.Status == 200 {
					mu.Lock()
					acked[str(r.Body["id"])] = src
					mu.Unlock()
					req, _ := http.NewRequest("PUT", base+"/v1/entity-connections/"+str(r.Body["id"])+"/cancel", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					req.Header.Set("Zuora-Entity-Ids", src)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						return
					}
					resp.Body.Close()
				}
			}
		})
	}
	eventually(t, "requests acknowledged", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 20 })
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := child.Wait()
	wg.Wait()
	if err != nil {
		t.Errorf("after SIGTERM the service exited with %v, want status 0", err)
	}
	s2 := startService(t, "--data", data, "--directory", dirFile)
	tok = s2.token("root")
	for id, src := range acked {
		if r := s2.call("GET", "/v1/entity-connections/"+id, tok, src, ""); r.Status != 200 {
			t.Errorf("acknowledged request %s after SIGTERM and restart: %d %s", id, r.Status, r.Raw)
		}
	}
}
