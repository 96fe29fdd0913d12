package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/stream"
	"github.com/parleychat/parley/stream/natsrelay/natstest"
)

// TestClusterPresenceThroughNginx: the documented nginx site, with two
// Parley nodes sharing NATS for the live relay as its upstreams (round
// robin, as a load balancer without affinity spreads clients): a person
// whose stream landed on one node is in the presence of the other, typing
// sent through nginx reaches both, and a person who leaves is gone from
// both.
func TestClusterPresenceThroughNginx(t *testing.T) {
	c := natstest.Start(t, 2)
	srvs, _ := mustStartRelayedServers(t, c, 2, "node-a", "node-b")
	host := func(s *testServer) string { return strings.TrimPrefix(s.URL(), "http://") }
	px := mustStartNginx(t, host(srvs[0])+";\n    server "+host(srvs[1]), time.Minute)

	alice := px.openLiveOn(t, "/api/rooms/r/events?author=alice", "node-a-")
	bob := px.openLiveOn(t, "/api/rooms/r/events?author=bob", "node-b-")
	for !strings.Contains(alice.nextOf(t, "presence").Data, bob.hello.Connection) {
		// until alice's stream, on node-a, is told of bob's, on node-b
	}
	// Two answers in a row come from the two nodes: both must show both.
	both := func(p stream.Presence) bool {
		return hasPerson(p, "alice", alice.hello.Connection) && hasPerson(p, "bob", bob.hello.Connection)
	}
	waitFor(t, func() bool { return both(px.presenceOf(t, "r")) && both(px.presenceOf(t, "r")) })

	for range 2 { // one lands on each node
		resp := px.do(t, http.MethodPost, "/api/rooms/r/typing", `{"author":"carol"}`)
		if resp.status != http.StatusNoContent {
			t.Fatalf("typing through nginx: got %d %s", resp.status, resp.body)
		}
		for _, l := range []*liveStream{alice, bob} {
			if e := l.nextOf(t, "typing"); !strings.Contains(e.Data, `"author":"carol"`) {
				t.Fatalf("got %s, want carol typing", e.Data)
			}
		}
	}

	bob.stop()
	gone := func(p stream.Presence) bool {
		return hasPerson(p, "alice", alice.hello.Connection) && !strings.Contains(names(p), "bob")
	}
	waitFor(t, func() bool { return gone(px.presenceOf(t, "r")) && gone(px.presenceOf(t, "r")) })
}

// openLiveOn opens streams of path through nginx until one lands on the
// node whose connection ids start with prefix, and returns it. A stream of
// room "probe" goes first: round robin then sends the next request to the
// other node, so few streams of path open elsewhere.
func (px *proxy) openLiveOn(tb testing.TB, path, prefix string) *liveStream {
	tb.Helper()
	for range 20 {
		probe := px.openLive(tb, "/api/rooms/probe/events")
		probe.stop()
		if strings.HasPrefix(probe.hello.Connection, prefix) {
			continue
		}
		l := px.openLive(tb, path)
		if strings.HasPrefix(l.hello.Connection, prefix) {
			return l
		}
		l.stop()
	}
	tb.Fatalf("no stream of %s landed on %s in 20 tries", path, prefix)
	return nil
}

// openLive opens a stream through nginx and reads its hello.
func (px *proxy) openLive(tb testing.TB, path string) *liveStream {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, px.url+path, nil)
	resp, err := px.client.Do(req)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		resp.Body.Close()
		tb.Fatalf("GET %s through nginx: got %d", path, resp.StatusCode)
	}
	stop := func() { cancel(); resp.Body.Close() }
	tb.Cleanup(stop)
	l := &liveStream{events: make(chan stream.Event, 1<<12), stop: stop}
	go func() {
		defer close(l.events)
		r := stream.NewReader(resp.Body, 1<<20)
		for {
			e, err := r.Next()
			if err != nil {
				return
			}
			l.events <- e
		}
	}()
	if h := l.next(tb); h.Type != "hello" || json.Unmarshal([]byte(h.Data), &l.hello) != nil {
		tb.Fatalf("first event through nginx: got %+v, want a hello", h)
	}
	return l
}

// do sends a request with a JSON body (if any) through nginx.
func (px *proxy) do(tb testing.TB, method, path, body string) response {
	tb.Helper()
	req, _ := http.NewRequest(method, px.url+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := px.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// presenceOf answers GET /api/rooms/ROOM/presence through nginx.
func (px *proxy) presenceOf(tb testing.TB, room string) stream.Presence {
	tb.Helper()
	resp := px.do(tb, http.MethodGet, "/api/rooms/"+room+"/presence", "")
	var p stream.Presence
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &p) != nil {
		tb.Fatalf("presence of %s through nginx: got %d %s", room, resp.status, resp.body)
	}
	return p
}
