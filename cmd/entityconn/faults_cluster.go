package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/entityconn/entityconn/adapters/natsauth"
)

// child is one process of the fault test (a NATS node or an entityconn replica), started
// again and again with the same arguments; its output goes to one log file.
type child struct {
	name    string
	argv    []string
	env     []string
	logPath string
	// onExit is called (in its own goroutine) when the process exits without the runner
	// having asked for it.
	onExit func(c *child, err error)

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	expected bool // the runner killed or stopped it
	paused   bool // SIGSTOPped
	starts   int
}

// start runs the process; it must not be running.
func (c *child) start() error {
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		select {
		case <-c.done:
		default:
			_ = logf.Close()
			return nil // already running (restarted by its supervisor meanwhile)
		}
	}
	c.starts++
	fmt.Fprintf(logf, "\n==== faults: start #%d of %s at %s: %s\n", c.starts, c.name, time.Now().UTC().Format(time.RFC3339Nano), strings.Join(c.argv, " "))
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("start %s: %w", c.name, err)
	}
	done := make(chan struct{})
	c.cmd, c.done, c.expected, c.paused = cmd, done, false, false
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logf, "==== faults: %s exited at %s: %v\n", c.name, time.Now().UTC().Format(time.RFC3339Nano), err)
		_ = logf.Close()
		c.mu.Lock()
		expected := c.expected || c.cmd != cmd
		c.mu.Unlock()
		close(done)
		if !expected && c.onExit != nil {
			c.onExit(c, err)
		}
	}()
	return nil
}

// running reports whether the process is alive (stopped counts as alive).
func (c *child) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.expected = true
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// term sends SIGTERM and waits up to timeout for the process to exit, then kills it. It
// returns the exit error (nil for status 0) or an error saying it had to be killed.
func (c *child) term(timeout time.Duration) error {
	c.mu.Lock()
	cmd, done, paused := c.cmd, c.done, c.paused
	c.expected = true
	c.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if paused {
		_ = pause(cmd.Process, false)
	}
	_ = terminate(cmd.Process)
	select {
	case <-done:
		if cmd.ProcessState != nil && !cmd.ProcessState.Success() {
			return fmt.Errorf("%s exited with %v after SIGTERM", c.name, cmd.ProcessState)
		}
		return nil
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not exit within %v of SIGTERM: killed", c.name, timeout)
	}
}

// setPaused stops (SIGSTOP) or continues (SIGCONT) the process.
func (c *child) setPaused(stop bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return errors.New(c.name + " is not running")
	}
	c.paused = stop
	return pause(c.cmd.Process, stop)
}

// cluster is the system under test: three NATS nodes whose routes go through a mesh of
// forwarders, and the entityconn replicas.
type cluster struct {
	work    string
	verbose bool
	out     io.Writer

	nodes       []*child
	clientAddrs []string
	monitorURLs []string
	mesh        *mesh

	replicas []*child
	httpURLs []string
	ready    []bool // ready since its last start

	env     map[string]string // the replicas' NATS identity (natsauth.NewServerConfig)
	dirFile string

	mu              sync.Mutex
	supervise       bool
	startupRestarts int // replicas that exited before they were ready
	replicaCrashes  int // replicas that exited unasked after they were ready
	nodeCrashes     int // nodes that exited unasked
	notes           []string
}

// clusterOptions configures newCluster.
type clusterOptions struct {
	work       string
	natsServer string // a nats-server binary; empty: this binary's faults-node mode
	replicas   int
	dirFile    string
	verbose    bool
	out        io.Writer
	logLevel   string
}

// freePorts returns n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// parseEnvLines reads NAME=value lines.
func parseEnvLines(s string) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

// newCluster writes the nodes' configuration and prepares (without starting) the processes.
func newCluster(o clusterOptions) (*cluster, error) {
	const nodes = 3
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	auth, envLines, err := natsauth.NewServerConfig()
	if err != nil {
		return nil, err
	}
	// Per node: client, cluster, monitor and a dead advertise port; per replica: HTTP.
	ports, err := freePorts(4*nodes + o.replicas)
	if err != nil {
		return nil, err
	}
	c := &cluster{work: o.work, verbose: o.verbose, out: o.out, env: parseEnvLines(envLines), dirFile: o.dirFile, supervise: true}
	clusterAddrs := make([]string, nodes)
	for i := range nodes {
		clusterAddrs[i] = fmt.Sprintf("127.0.0.1:%d", ports[4*i+1])
	}
	if c.mesh, err = newMesh(clusterAddrs); err != nil {
		return nil, err
	}
	for i := range nodes {
		name := fmt.Sprintf("n%d", i+1)
		c.clientAddrs = append(c.clientAddrs, fmt.Sprintf("127.0.0.1:%d", ports[4*i]))
		c.monitorURLs = append(c.monitorURLs, fmt.Sprintf("http://127.0.0.1:%d", ports[4*i+2]))
		var routes []string
		for _, r := range c.mesh.Routes(i) {
			routes = append(routes, "    nats-route://"+r)
		}
		// The advertised route address is a port nothing listens on: a node learns its
		// peers' addresses from their INFO (gossip, implicit routes) and would otherwise
		// dial them directly, around the forwarders, and survive a partition.
		conf := fmt.Sprintf(`# NATS node %[1]s of "entityconn faults" (generated).
server_name: %[1]s
listen: %[2]s
http: 127.0.0.1:%[3]d
jetstream {
  store_dir: %[4]q
  sync_interval: always
}
cluster {
  name: entityconn-faults
  listen: %[5]s
  advertise: "127.0.0.1:%[6]d"
  routes: [
%[7]s
  ]
}
%[8]s`, name, c.clientAddrs[i], ports[4*i+2], filepath.Join(o.work, name), clusterAddrs[i], ports[4*i+3], strings.Join(routes, "\n"), auth)
		confPath := filepath.Join(o.work, name+".conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			return nil, err
		}
		argv := []string{exe, "faults-node", "-c", confPath}
		if o.natsServer != "" {
			argv = []string{o.natsServer, "-c", confPath}
		}
		n := &child{name: name, argv: argv, env: os.Environ(), logPath: filepath.Join(o.work, name+".log")}
		n.onExit = c.nodeExited
		c.nodes = append(c.nodes, n)
	}
	env := os.Environ()
	for k, v := range c.env {
		env = append(env, k+"="+v)
	}
	for i := range o.replicas {
		name := fmt.Sprintf("r%d", i+1)
		addr := fmt.Sprintf("127.0.0.1:%d", ports[4*nodes+i])
		c.httpURLs = append(c.httpURLs, "http://"+addr)
		r := &child{name: name, env: env, logPath: filepath.Join(o.work, name+".log"), argv: []string{exe, "serve",
			"--nats-url", c.natsURL(), "--replicas", "3", "--directory", o.dirFile, "--pending-ttl", "0",
			"--http", addr, "--data", filepath.Join(o.work, name), "--log-level", o.logLevel}}
		r.onExit = c.replicaExited
		c.replicas = append(c.replicas, r)
		c.ready = append(c.ready, false)
	}
	return c, nil
}

// natsURL lists the client URLs of every node.
func (c *cluster) natsURL() string {
	var urls []string
	for _, a := range c.clientAddrs {
		urls = append(urls, "nats://"+a)
	}
	return strings.Join(urls, ",")
}

func (c *cluster) logf(format string, args ...any) {
	if c.verbose {
		fmt.Fprintf(c.out, "  [%s] "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
}

// note records something worth reporting at the end.
func (c *cluster) note(format string, args ...any) {
	c.mu.Lock()
	c.notes = append(c.notes, fmt.Sprintf(format, args...))
	c.mu.Unlock()
	c.logf(format, args...)
}

func (c *cluster) supervising() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.supervise
}

// nodeExited restarts a node that exited unasked.
func (c *cluster) nodeExited(n *child, err error) {
	if !c.supervising() {
		return
	}
	c.mu.Lock()
	c.nodeCrashes++
	c.mu.Unlock()
	c.note("node %s exited unasked (%v): restarted", n.name, err)
	time.Sleep(time.Second)
	if c.supervising() && !n.running() {
		if err := n.start(); err != nil {
			c.note("restarting %s: %v", n.name, err)
		}
	}
}

// replicaExited restarts a replica that exited unasked, counting whether it had been ready.
func (c *cluster) replicaExited(r *child, err error) {
	if !c.supervising() {
		return
	}
	i := c.replicaIndex(r)
	c.mu.Lock()
	wasReady := c.ready[i]
	c.ready[i] = false
	if wasReady {
		c.replicaCrashes++
	} else {
		c.startupRestarts++
	}
	c.mu.Unlock()
	if wasReady {
		c.note("replica %s exited unasked after it was ready (%v): restarted; see %s", r.name, err, r.logPath)
	} else {
		c.logf("replica %s exited during start-up (%v): restarted", r.name, err)
	}
	time.Sleep(time.Second)
	if c.supervising() && !r.running() {
		if err := r.start(); err != nil {
			c.note("restarting %s: %v", r.name, err)
		}
	}
}

func (c *cluster) replicaIndex(r *child) int {
	for i, x := range c.replicas {
		if x == r {
			return i
		}
	}
	return -1
}

// startNodes starts every node and waits until the cluster has a JetStream meta leader.
func (c *cluster) startNodes(ctx context.Context) error {
	for _, n := range c.nodes {
		if err := n.start(); err != nil {
			return err
		}
	}
	return c.waitMetaLeader(ctx, 60*time.Second)
}

// jsz reads a node's /jsz.
func jsz(ctx context.Context, monitorURL string) (leader string, size int, err error) {
	var out struct {
		Meta *struct {
			Leader string `json:"leader"`
			Size   int    `json:"cluster_size"`
		} `json:"meta_cluster"`
	}
	if err := getJSON(ctx, monitorURL+"/jsz", &out); err != nil {
		return "", 0, err
	}
	if out.Meta == nil {
		return "", 0, nil
	}
	return out.Meta.Leader, out.Meta.Size, nil
}

// routes reads a node's number of routes from /routez.
func routes(ctx context.Context, monitorURL string) (int, error) {
	var out struct {
		NumRoutes int `json:"num_routes"`
	}
	err := getJSON(ctx, monitorURL+"/routez", &out)
	return out.NumRoutes, err
}

func getJSON(ctx context.Context, url string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// waitMetaLeader waits until every running, not paused node knows the same JetStream meta
// leader.
func (c *cluster) waitMetaLeader(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		leaders := map[string]bool{}
		ok := true
		for i := range c.nodes {
			l, _, err := jsz(ctx, c.monitorURLs[i])
			if err != nil || l == "" {
				ok = false
				last = fmt.Sprintf("n%d: leader %q, %v", i+1, l, err)
				break
			}
			leaders[l] = true
		}
		if ok && len(leaders) == 1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no JetStream meta leader agreed within %v (%s)", timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startReplica starts replica i; waitReady waits for its /readyz.
func (c *cluster) startReplica(i int) error {
	c.mu.Lock()
	c.ready[i] = false
	c.mu.Unlock()
	return c.replicas[i].start()
}

// waitReady polls replica i's /readyz until it answers 200.
func (c *cluster) waitReady(ctx context.Context, i int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		req, _ := http.NewRequestWithContext(rctx, "GET", c.httpURLs[i]+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				c.mu.Lock()
				c.ready[i] = true
				c.mu.Unlock()
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replica r%d not ready within %v (see %s)", i+1, timeout, c.replicas[i].logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stopAll stops everything: replicas first (SIGTERM), then the nodes, then the forwarders.
func (c *cluster) stopAll() {
	c.mu.Lock()
	c.supervise = false
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range c.replicas {
		if r.running() {
			wg.Go(func() { _ = r.term(10 * time.Second) })
		}
	}
	wg.Wait()
	for _, n := range c.nodes {
		if n.running() {
			wg.Go(func() { _ = n.term(10 * time.Second) })
		}
	}
	wg.Wait()
	c.mesh.Close()
}

// randomSecret returns a client secret for the generated directory.
func randomSecret() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// faultsDirectory is the generated directory: the root entity, n entities below it, one
// admin per entity (client id = user id) with access to every other entity (as user), so
// that any entity may request a connection to any other.
type faultsDirectory struct {
	entities []string
	admin    map[string]string // entity → its admin's user id
	secret   map[string]string // user id → secret
}

func newFaultsDirectory(n int) *faultsDirectory {
	d := &faultsDirectory{admin: map[string]string{}, secret: map[string]string{}}
	for i := range n {
		e := fmt.Sprintf("e%02d", i+1)
		d.entities = append(d.entities, e)
		d.admin[e] = "admin-" + e
		d.secret["admin-"+e] = randomSecret()
	}
	return d
}

// yaml renders the directory file (adapters/directoryfile's format).
func (d *faultsDirectory) yaml() string {
	var b strings.Builder
	b.WriteString("# Directory of \"entityconn faults\" (generated).\ntenant: faults\nentities:\n  - {id: global, name: Faults Global}\n")
	for _, e := range d.entities {
		fmt.Fprintf(&b, "  - {id: %s, name: Entity %s, parent: global}\n", e, e)
	}
	b.WriteString("users:\n")
	for _, e := range d.entities {
		u := d.admin[e]
		fmt.Fprintf(&b, "  - id: %s\n    name: Admin of %s\n    clientId: %s\n    clientSecret: %s\n    access:\n      - {entity: %s, role: admin}\n",
			u, e, u, d.secret[u], e)
		for _, o := range d.entities {
			if o != e {
				fmt.Fprintf(&b, "      - {entity: %s, role: user}\n", o)
			}
		}
	}
	return b.String()
}
