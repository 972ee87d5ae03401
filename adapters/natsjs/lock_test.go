package natsjs_test

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/natsjs"
)

// One embedded server at a time opens a store directory: a second one is refused with the
// holder's process id, and starts once the first has shut down.
func TestStartEmbeddedLocksItsStore(t *testing.T) {
	dir := t.TempDir()
	first, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Shutdown(); first.WaitForShutdown() })
	if pid := lockPID(t, dir); pid != os.Getpid() {
		t.Errorf("lock file names pid %d, want this process's %d", pid, os.Getpid())
	}

	second, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: dir, Listen: "127.0.0.1:0"})
	if err == nil {
		second.Shutdown()
		t.Fatal("a second embedded server started on a store in use")
	}
	var inUse *natsjs.StoreInUseError
	if !errors.Is(err, natsjs.ErrStoreInUse) || !errors.As(err, &inUse) || inUse.PID != os.Getpid() {
		t.Fatalf("second server on the same store: %v, want a StoreInUseError naming pid %d", err, os.Getpid())
	}
	if !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("error %q does not name the holder's pid", err)
	}

	// Once the first has shut down (its lock is released just after), the store is free.
	first.Shutdown()
	again, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start after the holder shut down: %v", err)
	}
	again.Shutdown()
	again.WaitForShutdown()
}

// A lock file left by a process that is gone (a dead pid in it, no kernel lock) blocks nobody.
func TestLockStoreTakesAStaleLockFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, natsjs.LockFile), []byte("999999999\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	l, err := natsjs.LockStore(dir)
	if err != nil {
		t.Fatalf("stale lock file: %v", err)
	}
	defer l.Release()
	if pid := lockPID(t, dir); pid != os.Getpid() {
		t.Errorf("lock file names pid %d, want %d", pid, os.Getpid())
	}
}

// The lock holds between processes, and the kernel releases it when its holder is killed.
func TestLockStoreBetweenProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	child.Env = append(os.Environ(), "NATSJS_LOCK_HELPER_DIR="+dir)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	locked := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "locked" {
				close(locked)
			}
		}
	}()
	select {
	case <-locked:
	case <-time.After(30 * time.Second):
		t.Fatal("the child did not take the lock")
	}

	_, err = natsjs.LockStore(dir)
	var inUse *natsjs.StoreInUseError
	if !errors.As(err, &inUse) || inUse.PID != child.Process.Pid {
		t.Fatalf("lock held by the child (pid %d): %v, want a StoreInUseError naming it", child.Process.Pid, err)
	}
	_, err = natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: dir, Listen: "127.0.0.1:0"})
	if !errors.Is(err, natsjs.ErrStoreInUse) {
		t.Fatalf("embedded server on the child's store: %v, want ErrStoreInUse", err)
	}

	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	l, err := natsjs.LockStore(dir)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	l.Release()
}

// TestLockHelperProcess is the child of TestLockStoreBetweenProcesses: it takes the lock and
// waits to be killed.
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv("NATSJS_LOCK_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	if _, err := natsjs.LockStore(dir); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("locked\n")
	time.Sleep(time.Minute)
}

func lockPID(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, natsjs.LockFile))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("lock file %q: %v", b, err)
	}
	return pid
}
