package api_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/stream"
	"github.com/parleychat/parley/stream/natsrelay/natstest"
)

// BenchmarkClusterLiveFanout: node A's relay sends typing notices, or
// presence facts (a connection opens, then closes), for room r; nodes B and
// C each hold 250 streams of r over loopback HTTP, and an operation ends
// when every one of the 500 streams has every event it brings (a typing
// event; a join and a leave). Three NATS servers, one per node, routed to
// each other, all in this process with the clients, on the same cores.
// Reported: events written to the streams per second, across the nodes.
// The sender is the relay itself (what a hub gives it), so the figure is
// the relay, NATS, and the receiving hubs' fan-out, not A's HTTP.
// "typing-one-by-one" waits for each notice to reach all 500 streams
// before it sends the next: its time per operation is the latency to the
// last stream, the hubs' flush interval (10 ms) included. "…-same-node"
// is its baseline: the 500 streams are on node A itself, so the notice
// never crosses NATS to reach them.
func BenchmarkClusterLiveFanout(b *testing.B) {
	for _, tc := range []struct {
		name, kind string
		oneByOne   bool
		sameNode   bool
	}{
		{"typing", "typing", false, false},
		{"presence", "presence", false, false},
		{"typing-one-by-one", "typing", true, false},
		{"typing-one-by-one-same-node", "typing", true, true},
	} {
		b.Run(tc.name, func(b *testing.B) { benchClusterFanout(b, tc.kind, 500, tc.oneByOne, tc.sameNode) })
	}
}

func benchClusterFanout(b *testing.B, kind string, streams int, oneByOne, sameNode bool) {
	c := natstest.Start(b, 3)
	var srvs []*testServer
	var rns []*relayNode
	for i, node := range []string{"node-a", "node-b", "node-c"} {
		rn, set := mustJoinRelay(b, c, i, node)
		srvs = append(srvs, mustStartServer(b, set, func(srv *api.Server) { srv.PresenceGrace = 0 }))
		rns = append(rns, rn)
	}
	waitHeard(b, rns...)
	transport := &http.Transport{MaxIdleConnsPerHost: streams + 10, DisableCompression: true}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport}
	receivers := srvs[1:]
	if sameNode {
		receivers = srvs[:1]
	}
	var clients []*fanoutClient
	for i := range streams {
		s := receivers[i%len(receivers)]
		clients = append(clients, startFanoutClient(b, hc, s.URL()+"/api/rooms/r/events", kind))
	}
	per := int64(1) // events each stream gets per operation
	if kind == "presence" {
		per = 2
	}
	sender := rns[0].relay
	b.ResetTimer()
	start := time.Now()
	for n := range b.N {
		if kind == "typing" {
			sender.Broadcast(stream.Ephemeral{Type: stream.TypeTyping, Room: "r", From: stream.Who{Key: "a:t", Name: "t"}, ExpiresInMS: 5000})
			if oneByOne {
				waitFanout(b, clients, int64(n+1))
			}
			continue
		}
		conn := stream.Conn{ID: "node-a-" + strconv.Itoa(n+1), Epoch: uint64(n + 1), Who: stream.Who{Key: "a:p" + strconv.Itoa(n%100), Name: "p" + strconv.Itoa(n%100)}, Rooms: []string{"r"}}
		sender.Connection(conn)
		conn.Closed = true
		sender.Connection(conn)
	}
	waitFanout(b, clients, per*int64(b.N))
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(per*int64(b.N)*int64(len(clients)))/elapsed.Seconds(), "events/s")
	var slow float64
	for _, s := range srvs {
		slow += s.scrape(b)["parley_stream_slow_consumer_disconnects_total"]
	}
	b.ReportMetric(slow, "slow-consumers")
}

// waitFanout waits until every client has want events.
func waitFanout(tb testing.TB, clients []*fanoutClient, want int64) {
	deadline := time.Now().Add(time.Minute + time.Duration(want)*time.Millisecond)
	for _, cl := range clients {
		for cl.got.Load() < want {
			if time.Now().After(deadline) {
				tb.Fatalf("a stream has %d of %d events", cl.got.Load(), want)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// fanoutClient counts the events of one kind a stream brings: for
// presence, those about the benchmark's people (the streams themselves are
// anonymous).
type fanoutClient struct {
	got atomic.Int64
}

// startFanoutClient opens a stream and returns once it is live; it is
// closed at cleanup.
func startFanoutClient(tb testing.TB, hc *http.Client, url, kind string) *fanoutClient {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		cancel()
		tb.Fatalf("stream: %v", err)
	}
	cl := &fanoutClient{}
	live := make(chan struct{})
	var once sync.Once
	go func() {
		defer resp.Body.Close()
		r := stream.NewReader(resp.Body, 1<<20)
		for {
			e, err := r.Next()
			if err != nil {
				return
			}
			switch {
			case e.Type == "live":
				once.Do(func() { close(live) })
			case e.Type == kind && (kind != "presence" || strings.Contains(e.Data, `"name":"p`)):
				cl.got.Add(1)
			}
		}
	}()
	tb.Cleanup(cancel)
	select {
	case <-live:
	case <-time.After(time.Minute):
		tb.Fatal("a stream was not live within a minute")
	}
	return cl
}
