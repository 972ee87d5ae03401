// Package natsjstest starts real NATS servers for tests: an embedded single server, or a
// cluster of embedded servers on loopback. Every server listens on a random port and keeps
// its store in a test temp dir; everything is shut down when the test ends.
package natsjstest

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Single starts one embedded JetStream server and returns it with its client URL.
func Single(t testing.TB) (*server.Server, string) {
	t.Helper()
	s := start(t, &server.Options{
		ServerName: "single",
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoSigs:     true,
		NoLog:      true,
	})
	return s, s.ClientURL()
}

// Cluster starts n embedded JetStream servers routed into one cluster on loopback, waits
// until JetStream has a meta leader, and returns the servers with a client URL listing all
// of them.
func Cluster(t testing.TB, n int) ([]*server.Server, string) {
	t.Helper()
	opts := make([]*server.Options, n)
	for i := range opts {
		opts[i] = &server.Options{ServerName: fmt.Sprintf("n%d", i+1), JetStream: true}
	}
	return cluster(t, opts, nil)
}

// ClusterAt is [Cluster] with the servers' client ports given (one per server, such as
// [FreePorts] reserves): a test can point a client at a cluster before it exists.
func ClusterAt(t testing.TB, clientPorts []int) ([]*server.Server, string) {
	t.Helper()
	opts := make([]*server.Options, len(clientPorts))
	for i := range opts {
		opts[i] = &server.Options{ServerName: fmt.Sprintf("n%d", i+1), JetStream: true}
	}
	return cluster(t, opts, clientPorts)
}

// URL returns the client URL listing 127.0.0.1 on each of ports.
func URL(ports []int) string {
	urls := make([]string, len(ports))
	for i, p := range ports {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", p)
	}
	return strings.Join(urls, ",")
}

// ClusterFromFiles starts one embedded server per nats-server configuration file (such as
// deploy/nats/n1.conf, includes followed), routed into one cluster on loopback: everything
// the files say holds (authorization, accounts, JetStream settings) but the addresses, which
// become random loopback ports (monitoring off), the store directories (test temp dirs) and
// the routes (to each other). It waits for a JetStream meta leader and returns the servers
// with a client URL listing all of them.
func ClusterFromFiles(t testing.TB, files ...string) ([]*server.Server, string) {
	t.Helper()
	opts := make([]*server.Options, len(files))
	for i, f := range files {
		o, err := server.ProcessConfigFile(f)
		if err != nil {
			t.Fatalf("natsjstest: %s: %v", f, err)
		}
		opts[i] = o
	}
	return cluster(t, opts, nil)
}

// cluster starts the servers of opts as one cluster on loopback (see ClusterFromFiles), on
// the given client ports (nil: random ones).
func cluster(t testing.TB, opts []*server.Options, clientPorts []int) ([]*server.Server, string) {
	t.Helper()
	n := len(opts)
	var ports []int // of the routes: not one of clientPorts
	for _, p := range FreePorts(t, n+len(clientPorts)) {
		if len(ports) < n && !slices.Contains(clientPorts, p) {
			ports = append(ports, p)
		}
	}
	routes := make([]string, n)
	for i, p := range ports {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	var servers []*server.Server
	url := ""
	for i, o := range opts {
		o.Host, o.Port, o.HTTPPort, o.HTTPHost = "127.0.0.1", -1, 0, ""
		if clientPorts != nil {
			o.Port = clientPorts[i]
		}
		o.StoreDir = t.TempDir()
		o.NoSigs, o.NoLog = true, os.Getenv("NATSJSTEST_LOG") == ""
		name := o.Cluster.Name
		if name == "" {
			name = "test"
		}
		o.Cluster = server.ClusterOpts{Name: name, Host: "127.0.0.1", Port: ports[i]}
		o.Routes = server.RoutesFromStr(joinRoutes(routes))
		s := start(t, o)
		servers = append(servers, s)
		if url != "" {
			url += ","
		}
		url += s.ClientURL()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ready := true
		for _, s := range servers {
			if !s.JetStreamIsCurrent() {
				ready = false
			}
		}
		if ready && hasMetaLeader(servers) && peersOnline(servers) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("natsjstest: cluster of %d did not elect a JetStream meta leader with every peer online (%d online)", n, peersOnline(servers))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return servers, url
}

func hasMetaLeader(servers []*server.Server) bool {
	for _, s := range servers {
		if s.JetStreamIsLeader() {
			return true
		}
	}
	return false
}

func joinRoutes(rs []string) string {
	out := ""
	for i, r := range rs {
		if i > 0 {
			out += ","
		}
		out += r
	}
	return out
}

func start(t testing.TB, o *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatalf("natsjstest: %v", err)
	}
	if !o.NoLog {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("natsjstest: server did not become ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// FreePorts returns n TCP ports on 127.0.0.1 that were free a moment ago.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		_, p, _ := net.SplitHostPort(l.Addr().String())
		port, _ := strconv.Atoi(p)
		ports = append(ports, port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// Connect connects to url and closes the connection when the test ends.
func Connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.MaxReconnects(-1)}, opts...)...)
	if err != nil {
		t.Fatalf("natsjstest: connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// EnvFile reads an environment file of NAME=value lines (such as deploy/entityconn.env, a
// docker compose env_file), skipping comments and blank lines.
func EnvFile(t testing.TB, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = v
		}
	}
	return env
}

// peersOnline returns how many servers the JetStream meta leader sees online with their
// statistics: until it sees every one, placing a replicated stream may fail with "no suitable
// peers for placement, peer offline".
func peersOnline(servers []*server.Server) int {
	for _, s := range servers {
		if s.JetStreamIsLeader() {
			return len(s.JetStreamClusterPeers())
		}
	}
	return 0
}
