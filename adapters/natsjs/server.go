// Package natsjs keeps entityconn's state in NATS JetStream: the event store (stream
// ENTITYCONN_EVENTS), the projector that writes the views of connections and shared objects
// (KV bucket ENTITYCONN_VIEWS, which also holds the checkpoints and leases of the projector
// and of expiry), the idempotency records (KV ENTITYCONN_IDEMPOTENCY) and the directory (KV
// ENTITYCONN_DIRECTORY). It also runs the embedded NATS server.
package natsjs

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedOptions configures [StartEmbedded].
type EmbeddedOptions struct {
	// StoreDir is where JetStream keeps its files. Required.
	StoreDir string
	// Listen is the host:port of the client port other services connect to. "127.0.0.1:0"
	// or a port of -1 picks a free port (tests).
	Listen string
	// SyncAlways makes the server fsync every write before acknowledging it. Off, an
	// acknowledged write can be lost in a power failure (the server syncs every 2 minutes).
	SyncAlways bool
	// ServerName names the server in logs and monitoring; empty picks one.
	ServerName string
	// InProcessOnly starts the server without a client port: only this process reaches it,
	// through nats.InProcessServer (Listen is ignored). For commands that open the store
	// themselves, such as rebuild.
	InProcessOnly bool
	// Auth, when set, closes the server to anonymous clients. Without it any client that
	// reaches the port may do anything: for tests of the store only.
	Auth *EmbeddedAuth
	// Lock is the lock of StoreDir when the caller has taken it already ([LockStore]), to
	// write files of its own there first; StartEmbedded takes it otherwise. Either way the
	// server owns it from then on.
	Lock *StoreLock
}

// EmbeddedAuth is how the embedded server authenticates clients (contract §5a). The service
// signs in as User with Password, the only user the server knows itself; it may do anything.
// Every other client is authorised by auth callout: the server asks on $SYS.REQ.USER.AUTH,
// and trusts the answers signed by the account key CalloutIssuer (a public key). The caller
// serves those requests on the service's connection (package natsauth); until it does, only
// the service can connect.
type EmbeddedAuth struct {
	User          string
	Password      string
	CalloutIssuer string
}

// StartEmbedded starts a single NATS server with JetStream in this process and waits until
// it accepts connections. The caller shuts it down with Shutdown and may wait with
// WaitForShutdown.
//
// One server at a time opens a store: StartEmbedded first takes the exclusive lock of
// StoreDir ([LockStore], unless o.Lock holds it already), and fails with a
// [*StoreInUseError] naming the holder's process id when another process (or another server
// of this one) has it. The lock is released once the server has shut down (when
// WaitForShutdown returns, or just after), or at once if it fails to start; the kernel
// releases it if the process dies.
//
// It also returns an error if the address is malformed, one wrapping [ErrListen] (and the
// operating system's error, such as syscall.EADDRINUSE) at once if it cannot listen on it,
// and one if the server stops on another fatal error or does not become ready within 10
// seconds.
func StartEmbedded(o EmbeddedOptions) (_ *server.Server, err error) {
	lock := o.Lock
	defer func() {
		if err != nil && lock != nil {
			lock.Release()
		}
	}()
	if o.StoreDir == "" {
		return nil, errors.New("natsjs: embedded server needs a store directory")
	}
	if lock == nil {
		if lock, err = LockStore(o.StoreDir); err != nil {
			return nil, err
		}
	} else if !sameDir(lock.Dir(), o.StoreDir) {
		return nil, fmt.Errorf("natsjs: embedded server on %s given the lock of %s", o.StoreDir, lock.Dir())
	}
	host, port, err := splitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("natsjs: nats listen address %q: %w", o.Listen, err)
	}
	if !o.InProcessOnly && port > 0 {
		// The server would only log this (its accept loop's "fatal" error) and never become
		// ready: try the address first, for an error that says why.
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("%w on %s: %w", ErrListen, o.Listen, err)
		}
		ln.Close()
	}
	opts := &server.Options{
		ServerName: o.ServerName,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		SyncAlways: o.SyncAlways,
		NoSigs:     true,
		NoLog:      true,
		// Commands and events are small; 1 MiB bounds what a client can make us buffer.
		MaxPayload: 1 << 20,
		DontListen: o.InProcessOnly,
	}
	if a := o.Auth; a != nil {
		if a.User == "" || a.Password == "" || a.CalloutIssuer == "" {
			return nil, errors.New("natsjs: embedded server auth needs a user, a password and a callout issuer")
		}
		opts.Users = []*server.User{{Username: a.User, Password: a.Password}}
		opts.AuthCallout = &server.AuthCallout{Issuer: a.CalloutIssuer, Account: server.DEFAULT_GLOBAL_ACCOUNT, AuthUsers: []string{a.User}}
		// A callout answer costs a bcrypt comparison; leave room for a few in a row.
		opts.AuthTimeout = 5
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsjs: embedded server: %w", err)
	}
	// The server reports what stops its start (an address taken since it was tried, JetStream
	// that cannot start) only to its logger: this one passes it on.
	fatal := &fatalLogger{errs: make(chan string, 1)}
	s.SetLogger(fatal, false, false)
	go s.Start()
	for deadline := time.Now().Add(10 * time.Second); !s.ReadyForConnections(50 * time.Millisecond); {
		stop := func(err error) (*server.Server, error) {
			s.Shutdown()
			s.WaitForShutdown()
			return nil, err
		}
		select {
		case msg := <-fatal.errs:
			return stop(fmt.Errorf("natsjs: embedded server on %s: %s", o.Listen, msg))
		default:
		}
		if time.Now().After(deadline) {
			return stop(fmt.Errorf("natsjs: embedded server on %s did not become ready within 10s", o.Listen))
		}
	}
	// From now on the lock is the server's: a server of this process that starts on the
	// same store while this one shuts down waits for it ([LockStore]).
	lock.setStopping(func() bool { return !s.Running() })
	go func() {
		s.WaitForShutdown()
		lock.Release()
	}()
	return s, nil
}

// ErrListen is returned, wrapped, by [StartEmbedded] when the server cannot listen on its
// client address: another process has it, say.
var ErrListen = errors.New("natsjs: embedded server cannot listen")

// fatalLogger is the embedded server's logger: it keeps the first fatal error and drops the
// rest.
type fatalLogger struct{ errs chan string }

func (l *fatalLogger) Fatalf(format string, v ...any) {
	select {
	case l.errs <- fmt.Sprintf(format, v...):
	default:
	}
}

func (*fatalLogger) Noticef(string, ...any) {}
func (*fatalLogger) Warnf(string, ...any)   {}
func (*fatalLogger) Errorf(string, ...any)  {}
func (*fatalLogger) Debugf(string, ...any)  {}
func (*fatalLogger) Tracef(string, ...any)  {}

// sameDir reports whether a and b name the same directory.
func sameDir(a, b string) bool {
	if a == b {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

func splitHostPort(addr string) (string, int, error) {
	if addr == "" {
		return "127.0.0.1", -1, nil
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number", p)
	}
	if port == 0 {
		port = -1 // nats-server's "random port"
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}
