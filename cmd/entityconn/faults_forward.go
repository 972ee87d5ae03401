package main

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// forwarder relays TCP connections from a loopback listener to one target address: the
// route from one NATS node to another goes through it, so that the fault runner can cut
// that route (a partition) by closing what it relays and refusing new connections until it
// is healed.
type forwarder struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	blocked bool
	conns   map[net.Conn]struct{} // both ends of every relayed connection
	closed  bool
	wg      sync.WaitGroup
}

// newForwarder listens on a free loopback port and relays to target.
func newForwarder(target string) (*forwarder, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &forwarder{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

// Addr is the address the forwarder listens on.
func (f *forwarder) Addr() string { return f.ln.Addr().String() }

func (f *forwarder) serve() {
	defer f.wg.Done()
	for {
		in, err := f.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		f.wg.Add(1)
		go f.relay(in)
	}
}

// relay connects in to the target and copies both ways until either side ends or the
// forwarder blocks.
func (f *forwarder) relay(in net.Conn) {
	defer f.wg.Done()
	if f.isBlocked() {
		_ = in.Close()
		return
	}
	out, err := net.DialTimeout("tcp", f.target, 2*time.Second)
	if err != nil {
		_ = in.Close()
		return
	}
	f.mu.Lock()
	if f.blocked || f.closed {
		f.mu.Unlock()
		_ = in.Close()
		_ = out.Close()
		return
	}
	f.conns[in], f.conns[out] = struct{}{}, struct{}{}
	f.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	_ = in.Close()
	_ = out.Close()
	<-done
	f.mu.Lock()
	delete(f.conns, in)
	delete(f.conns, out)
	f.mu.Unlock()
}

func (f *forwarder) isBlocked() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocked || f.closed
}

// SetBlocked cuts (true) or heals (false) the link. Cutting closes every relayed connection
// at once; while cut, new connections are accepted and closed at once, like a peer that
// resets them.
func (f *forwarder) SetBlocked(b bool) {
	f.mu.Lock()
	f.blocked = b
	var cut []net.Conn
	if b {
		for c := range f.conns {
			cut = append(cut, c)
			delete(f.conns, c)
		}
	}
	f.mu.Unlock()
	for _, c := range cut {
		_ = c.Close()
	}
}

// Active returns the number of connections being relayed.
func (f *forwarder) Active() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns) / 2
}

// Close stops the forwarder and every connection it relays.
func (f *forwarder) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	_ = f.ln.Close()
	f.SetBlocked(true)
	f.wg.Wait()
}

// mesh holds one forwarder per ordered pair of nodes: fw[i][j] carries node i's route to
// node j. Partitioning node i cuts every link from and to it.
type mesh struct {
	n  int
	fw [][]*forwarder
}

// newMesh makes the forwarders to the cluster ports of n nodes.
func newMesh(clusterAddrs []string) (*mesh, error) {
	n := len(clusterAddrs)
	m := &mesh{n: n, fw: make([][]*forwarder, n)}
	for i := range n {
		m.fw[i] = make([]*forwarder, n)
		for j := range n {
			if i == j {
				continue
			}
			f, err := newForwarder(clusterAddrs[j])
			if err != nil {
				m.Close()
				return nil, err
			}
			m.fw[i][j] = f
		}
	}
	return m, nil
}

// Routes returns the route addresses node i dials: through the forwarders i→j.
func (m *mesh) Routes(i int) []string {
	var out []string
	for j, f := range m.fw[i] {
		if j != i {
			out = append(out, f.Addr())
		}
	}
	return out
}

// Isolate cuts (or heals, with false) every link of node i.
func (m *mesh) Isolate(i int, cut bool) {
	for j := range m.n {
		if j == i {
			continue
		}
		m.fw[i][j].SetBlocked(cut)
		m.fw[j][i].SetBlocked(cut)
	}
}

// HealAll heals every link.
func (m *mesh) HealAll() {
	for i := range m.n {
		for j := range m.n {
			if i != j {
				m.fw[i][j].SetBlocked(false)
			}
		}
	}
}

// Close stops every forwarder.
func (m *mesh) Close() {
	for i := range m.fw {
		for _, f := range m.fw[i] {
			if f != nil {
				f.Close()
			}
		}
	}
}
