// Package natstest runs a NATS cluster inside a test process: core NATS
// servers on loopback ports, routed to each other, for tests of what rides
// NATS between Parley nodes. It is for tests only.
package natstest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Cluster is n NATS servers on 127.0.0.1, each routed to the others.
type Cluster struct {
	servers []*server.Server
}

// Start runs a cluster of n servers on random loopback ports and waits
// until a subscriber on each server hears a publisher on every other. The
// servers shut down at cleanup.
func Start(tb testing.TB, n int) *Cluster {
	tb.Helper()
	c := &Cluster{}
	tb.Cleanup(c.shutdown)
	var routes string
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("nats-%d", i+1),
			Host:       "127.0.0.1",
			Port:       -1,
			NoLog:      true,
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "parley-test", Host: "127.0.0.1", Port: -1},
		}
		if routes != "" {
			opts.Routes = server.RoutesFromStr(routes)
		}
		s, err := server.NewServer(opts)
		if err != nil {
			tb.Fatalf("nats server %d: %v", i+1, err)
		}
		s.Start()
		if !s.ReadyForConnections(time.Minute) {
			tb.Fatalf("nats server %d not ready within a minute", i+1)
		}
		c.servers = append(c.servers, s)
		if routes == "" {
			routes = "nats://" + s.ClusterAddr().String()
		}
	}
	c.waitRouted(tb)
	return c
}

// waitRouted waits until each server hears what every other is sent.
func (c *Cluster) waitRouted(tb testing.TB) {
	tb.Helper()
	for i := range c.servers {
		sub := c.Connect(tb, i)
		if _, err := sub.Subscribe(fmt.Sprintf("natstest.ready.%d", i), func(m *nats.Msg) { m.Respond(nil) }); err != nil {
			tb.Fatal(err)
		}
		sub.Flush()
		for j := range c.servers {
			if j == i {
				continue
			}
			pub := c.Connect(tb, j)
			deadline := time.Now().Add(time.Minute)
			for {
				if _, err := pub.Request(fmt.Sprintf("natstest.ready.%d", i), nil, time.Second); err == nil {
					break
				}
				if time.Now().After(deadline) {
					tb.Fatalf("nats server %d does not reach server %d within a minute", j+1, i+1)
				}
				time.Sleep(20 * time.Millisecond)
			}
			pub.Close()
		}
		sub.Close()
	}
}

// URL returns the client URL of server i.
func (c *Cluster) URL(i int) string { return c.servers[i].ClientURL() }

// URLs returns the client URLs of every server, comma-separated, as
// nats.Connect and `parley serve -cluster` take them.
func (c *Cluster) URLs() string {
	var urls []string
	for _, s := range c.servers {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

// Connect connects to server i; the connection closes at cleanup.
func (c *Cluster) Connect(tb testing.TB, i int) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(c.URL(i), nats.Name(fmt.Sprintf("natstest client of %d", i+1)))
	if err != nil {
		tb.Fatalf("connect to nats server %d: %v", i+1, err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// Shutdown stops server i.
func (c *Cluster) Shutdown(i int) {
	c.servers[i].Shutdown()
	c.servers[i].WaitForShutdown()
}

func (c *Cluster) shutdown() {
	for _, s := range c.servers {
		s.Shutdown()
	}
	for _, s := range c.servers {
		s.WaitForShutdown()
	}
}
