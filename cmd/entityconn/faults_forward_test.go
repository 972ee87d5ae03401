package main

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if _, err := c.Write(append(sc.Bytes(), '\n')); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line over c and reads the echo.
func roundTrip(c net.Conn, r *bufio.Reader) error {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err := r.ReadString('\n')
	return err
}

func TestForwarderPartition(t *testing.T) {
	f, err := newForwarder(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := net.Dial("tcp", f.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if err := roundTrip(c, r); err != nil {
		t.Fatalf("through the healed forwarder: %v", err)
	}
	if f.Active() != 1 {
		t.Errorf("active connections = %d, want 1", f.Active())
	}

	f.SetBlocked(true)
	if err := roundTrip(c, r); err == nil {
		t.Fatal("a connection relayed before the partition still works during it")
	}
	if f.Active() != 0 {
		t.Errorf("active connections during the partition = %d, want 0", f.Active())
	}
	// New connections are accepted and closed at once.
	c2, err := net.Dial("tcp", f.Addr())
	if err == nil {
		if err := roundTrip(c2, bufio.NewReader(c2)); err == nil {
			t.Fatal("a new connection works during the partition")
		}
		c2.Close()
	}

	f.SetBlocked(false)
	c3, err := net.Dial("tcp", f.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if err := roundTrip(c3, bufio.NewReader(c3)); err != nil {
		t.Fatalf("after healing: %v", err)
	}
}

func TestMeshIsolatesOneNode(t *testing.T) {
	addrs := []string{echoServer(t), echoServer(t), echoServer(t)}
	m, err := newMesh(addrs)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if len(m.Routes(0)) != 2 {
		t.Fatalf("node 0 has routes %v, want 2", m.Routes(0))
	}
	works := func(i, j int) bool {
		c, err := net.Dial("tcp", m.fw[i][j].Addr())
		if err != nil {
			return false
		}
		defer c.Close()
		return roundTrip(c, bufio.NewReader(c)) == nil
	}
	m.Isolate(1, true)
	for i := range 3 {
		for j := range 3 {
			if i == j {
				continue
			}
			if want := i != 1 && j != 1; works(i, j) != want {
				t.Errorf("link %d→%d works = %v during node 1's partition, want %v", i, j, !want, want)
			}
		}
	}
	m.HealAll()
	if !works(0, 1) || !works(1, 2) {
		t.Error("links of node 1 do not work after healing")
	}
}
