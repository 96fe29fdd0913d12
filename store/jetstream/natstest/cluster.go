// Package natstest runs an embedded NATS JetStream cluster for tests: n
// servers in this process on 127.0.0.1, each with its own store directory
// and fsync before every acknowledgement (sync_interval: always), as
// Parley's cluster mode is documented to run.
package natstest

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is an embedded JetStream cluster. Its methods are safe for
// concurrent use.
type Cluster struct {
	tb   testing.TB
	mu   sync.Mutex // guards servers
	opts []*server.Options
	// servers[i] is nil while server i is stopped.
	servers []*server.Server
}

// Start starts an n-server cluster, waits until it has a meta leader and
// every server is current, and shuts it down at tb's cleanup.
func Start(tb testing.TB, n int) *Cluster {
	tb.Helper()
	ports := freePorts(tb, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]))
	}
	c := &Cluster{tb: tb, servers: make([]*server.Server, n)}
	dir := tb.TempDir()
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("nats-%d", i+1),
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			SyncAlways: true,
			Cluster:    server.ClusterOpts{Name: "parley", Host: "127.0.0.1", Port: ports[n+i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
			NoLog:      true,
			NoSigs:     true,
		}
		c.opts = append(c.opts, o)
	}
	for i := range n {
		c.Restart(i)
	}
	tb.Cleanup(c.Shutdown)
	c.WaitReady()
	return c
}

// freePorts returns n loopback ports free a moment ago: the cluster ports
// must be known to every server's routes before any starts.
func freePorts(tb testing.TB, n int) []int {
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// URLs are the client URLs of every server, running or not.
func (c *Cluster) URLs() []string {
	var urls []string
	for _, o := range c.opts {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return urls
}

// Server returns server i (nil while stopped).
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[i]
}

// StoreDir is server i's store directory.
func (c *Cluster) StoreDir(i int) string { return c.opts[i].StoreDir }

// Kill stops server i at once, without lame duck mode.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	s := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Restart starts server i again (or for the first time) on its store.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	o := *c.opts[i]
	s, err := server.NewServer(&o)
	if err != nil {
		c.tb.Fatalf("nats server %d: %v", i+1, err)
	}
	go s.Start()
	if !s.ReadyForConnections(time.Minute) {
		c.tb.Fatalf("nats server %d not ready", i+1)
	}
	c.mu.Lock()
	c.servers[i] = s
	c.mu.Unlock()
}

// WaitReady waits until a meta leader is elected and every running server
// is current.
func (c *Cluster) WaitReady() {
	c.tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		leader, current := false, true
		c.mu.Lock()
		for _, s := range c.servers {
			if s == nil {
				continue
			}
			leader = leader || s.JetStreamIsLeader()
			current = current && s.JetStreamIsCurrent()
		}
		c.mu.Unlock()
		if leader && current {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("nats cluster not ready after 2 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StreamLeader returns the index of the server leading stream (-1: none).
func (c *Cluster) StreamLeader(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.servers {
		if s != nil && s.JetStreamIsStreamLeader("$G", stream) {
			return i
		}
	}
	return -1
}

// Shutdown stops every server. It is safe to call more than once.
func (c *Cluster) Shutdown() {
	for i := range c.servers {
		c.Kill(i)
	}
}

// JetStream connects a client to the cluster's first server for the rest
// of the test (closed at cleanup) and returns its JetStream context.
func (c *Cluster) JetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(c.URLs()[0])
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}
