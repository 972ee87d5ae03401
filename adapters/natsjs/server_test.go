package natsjs_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/entityconn/entityconn/adapters/natsjs"
)

// A client address in use fails the start at once with ErrListen and the system's reason,
// and leaves the store unlocked for the next try.
func TestStartEmbeddedOnAnAddressInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	began := time.Now()
	ns, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: dir, Listen: taken.Addr().String()})
	if err == nil {
		ns.Shutdown()
		t.Fatalf("StartEmbedded on %s, which is in use, succeeded", taken.Addr())
	}
	if !errors.Is(err, natsjs.ErrListen) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("StartEmbedded on an address in use: %v, want ErrListen and EADDRINUSE", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("StartEmbedded on an address in use took %v to fail, want at once", took)
	}
	again, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("StartEmbedded on the same store after the failure: %v", err)
	}
	again.Shutdown()
	again.WaitForShutdown()
}
