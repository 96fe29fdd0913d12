package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/stream"
	"github.com/parleychat/parley/stream/natsrelay"
	"github.com/parleychat/parley/stream/natsrelay/natstest"
)

// Live features across nodes (docs/live.md, "Cluster mode"): each test
// runs an embedded NATS cluster and real servers, each with its own bbolt
// file, whose hubs share presence, typing and call signals through a
// natsrelay.Relay. History is not shared here: only what is live is.

// relayNode is how a test node joins the relay: its node id and its own
// connection to NATS, which a test may close to make the node vanish.
type relayNode struct {
	relay *natsrelay.Relay
	nc    *nats.Conn
}

// mustJoinRelay opens a relay for node on its own connection to NATS
// server i of c, with short heartbeats so deaths are seen soon, and
// returns the server setting that puts the relay in a server.
func mustJoinRelay(tb testing.TB, c *natstest.Cluster, i int, node string) (*relayNode, func(*api.Server)) {
	tb.Helper()
	nc := c.Connect(tb, i)
	r := natsrelay.New(nc, node)
	r.Heartbeat, r.DeadAfter, r.Logger = 100*time.Millisecond, 5*time.Second, quietLogger()
	if err := r.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() }) // after the server's: cleanups run last first
	return &relayNode{relay: r, nc: nc}, func(srv *api.Server) {
		srv.Node, srv.Relay, srv.PresenceGrace = node, r, 300*time.Millisecond
	}
}

// mustStartRelayedServers starts one server per node name, server k on
// NATS server k of c (modulo its size), and waits until every relay hears
// every other.
func mustStartRelayedServers(tb testing.TB, c *natstest.Cluster, servers int, nodes ...string) ([]*testServer, []*relayNode) {
	tb.Helper()
	var out []*testServer
	var rns []*relayNode
	for k, node := range nodes {
		rn, set := mustJoinRelay(tb, c, k%servers, node)
		out = append(out, mustStartServer(tb, set))
		rns = append(rns, rn)
	}
	waitHeard(tb, rns...)
	return out, rns
}

// waitHeard waits until each relay hears every other.
func waitHeard(tb testing.TB, rns ...*relayNode) {
	tb.Helper()
	waitFor(tb, func() bool {
		for _, a := range rns {
			for _, b := range rns {
				if a != b && !slices.Contains(a.relay.Nodes(), b.relay.Node()) {
					return false
				}
			}
		}
		return true
	})
}

// hasPerson reports whether presence p lists name with connection conn.
func hasPerson(p stream.Presence, name, conn string) bool {
	return slices.ContainsFunc(p.People, func(person stream.Person) bool {
		return person.Name == name && slices.Contains(person.Connections, conn)
	})
}

// nextPresence skips events until a presence event of kind about name.
func (l *liveStream) nextPresence(tb testing.TB, kind, name string) stream.Event {
	tb.Helper()
	for {
		e := l.nextOf(tb, "presence")
		if strings.Contains(e.Data, `"kind":"`+kind+`"`) && strings.Contains(e.Data, `"name":"`+name+`"`) {
			return e
		}
	}
}

// TestClusterPresenceAcrossNodes: a person streaming from node A is in the
// presence of node B, on streams and at /presence; a node that starts late
// learns who is already there; when the stream closes, the person leaves
// every node after the grace period.
func TestClusterPresenceAcrossNodes(t *testing.T) {
	c := natstest.Start(t, 3)
	srvs, rns := mustStartRelayedServers(t, c, 3, "node-a", "node-b")
	a, b := srvs[0], srvs[1]

	bob := b.openLive(t, "/api/rooms/r/events?author=bob")
	bob.nextOf(t, "live")
	alice := a.openLive(t, "/api/events?rooms=r,s&author=alice")
	if !strings.HasPrefix(alice.hello.Connection, "node-a-") {
		t.Fatalf("alice's connection %s, want one of node-a", alice.hello.Connection)
	}
	if e := bob.nextPresence(t, "join", "alice"); !strings.Contains(e.Data, alice.hello.Connection) {
		t.Fatalf("bob got %s, want alice joining with %s", e.Data, alice.hello.Connection)
	}
	waitFor(t, func() bool { return hasPerson(b.presenceOf(t, "s"), "alice", alice.hello.Connection) })
	waitFor(t, func() bool { return hasPerson(a.presenceOf(t, "r"), "bob", bob.hello.Connection) })

	// A node that starts now learns from the others who is there.
	rnC, set := mustJoinRelay(t, c, 2, "node-c")
	late := mustStartServer(t, set)
	waitHeard(t, append(rns, rnC)...)
	waitFor(t, func() bool {
		p := late.presenceOf(t, "r")
		return hasPerson(p, "alice", alice.hello.Connection) && hasPerson(p, "bob", bob.hello.Connection)
	})
	carol := late.openLive(t, "/api/rooms/r/events?author=carol")
	roster := carol.nextOf(t, "presence")
	if !strings.Contains(roster.Data, `"kind":"roster"`) || !strings.Contains(roster.Data, alice.hello.Connection) {
		t.Fatalf("carol's first presence: got %s, want a roster with alice", roster.Data)
	}

	alice.stop()
	bob.nextPresence(t, "leave", "alice")
	carol.nextPresence(t, "leave", "alice")
	for _, s := range []*testServer{a, b, late} {
		waitFor(t, func() bool { return len(s.presenceOf(t, "s").People) == 0 })
		if p := s.presenceOf(t, "r"); !hasPerson(p, "bob", bob.hello.Connection) || slices.ContainsFunc(p.People, func(p stream.Person) bool { return p.Name == "alice" }) {
			t.Fatalf("presence of r after alice left: got %s, want bob and carol", names(p))
		}
	}
}

// TestClusterDeadNodeLeaves: when a node vanishes (its connection to NATS
// closes, its streams stay open), the people it held leave every other
// node after its silence and the grace period, the others stay, and a
// signal to its streams is 404.
func TestClusterDeadNodeLeaves(t *testing.T) {
	c := natstest.Start(t, 3)
	srvs, rns := mustStartRelayedServers(t, c, 3, "node-a", "node-b", "node-c")
	alice := srvs[0].openLive(t, "/api/rooms/r/events?author=alice")
	bob := srvs[1].openLive(t, "/api/rooms/r/events?author=bob")
	carol := srvs[2].openLive(t, "/api/rooms/r/events?author=carol")
	for _, s := range srvs {
		waitFor(t, func() bool {
			p := s.presenceOf(t, "r")
			return hasPerson(p, "alice", alice.hello.Connection) && hasPerson(p, "bob", bob.hello.Connection) && hasPerson(p, "carol", carol.hello.Connection)
		})
	}

	rns[0].nc.Close()
	bob.nextPresence(t, "leave", "alice")
	carol.nextPresence(t, "leave", "alice")
	for _, s := range srvs[1:] {
		waitFor(t, func() bool { return len(s.presenceOf(t, "r").People) == 2 })
		if p := s.presenceOf(t, "r"); !hasPerson(p, "bob", bob.hello.Connection) || !hasPerson(p, "carol", carol.hello.Connection) {
			t.Fatalf("presence after node-a died: got %s, want bob and carol", names(p))
		}
	}
	waitFor(t, func() bool { return slices.Equal(rns[1].relay.Nodes(), []string{"node-c"}) })
	// Nobody answers for node-a: a call to alice's stream finds her gone.
	ring := `{"author":"bob","from":"` + bob.hello.Connection + `","to":"` + alice.hello.Connection + `","kind":"ring"}`
	if resp := srvs[1].do(t, http.MethodPost, "/api/rooms/r/signal", "application/json", []byte(ring)); resp.status != http.StatusNotFound {
		t.Fatalf("signal to a dead node's stream: got %d %s, want 404", resp.status, resp.body)
	}
}

// TestClusterTyping: typing on node A reaches the room's streams on node B
// and A, but not the typist's own, and so does its end.
func TestClusterTyping(t *testing.T) {
	c := natstest.Start(t, 2)
	srvs, _ := mustStartRelayedServers(t, c, 2, "node-a", "node-b")
	a, b := srvs[0], srvs[1]
	alice := a.openLive(t, "/api/rooms/r/events?author=alice")
	carol := a.openLive(t, "/api/rooms/r/events?author=carol")
	bob := b.openLive(t, "/api/rooms/r/events?author=bob")
	waitFor(t, func() bool { return hasPerson(b.presenceOf(t, "r"), "alice", alice.hello.Connection) })

	typing := func(body string) {
		t.Helper()
		if resp := a.do(t, http.MethodPost, "/api/rooms/r/typing", "application/json", []byte(body)); resp.status != http.StatusNoContent {
			t.Fatalf("typing %s: got %d %s", body, resp.status, resp.body)
		}
	}
	typing(`{"author":"alice"}`)
	for _, l := range []*liveStream{bob, carol} {
		if e := l.nextOf(t, "typing"); e.Data != `{"room":"r","author":"alice","expires_in_ms":5000}` {
			t.Fatalf("got %s, want alice typing", e.Data)
		}
	}
	if p := b.presenceOf(t, "r"); len(p.Typing) != 1 || p.Typing[0].Author != "alice" {
		t.Fatalf("typing at node-b: got %+v, want alice", p.Typing)
	}
	typing(`{"author":"alice","stop":true}`)
	if e := bob.nextOf(t, "typing"); e.Data != `{"room":"r","author":"alice","expires_in_ms":0}` {
		t.Fatalf("got %s, want alice's typing to end", e.Data)
	}
	mark := a.post(t, "r", map[string]string{"author": "x", "text": "after the typing"}, http.StatusCreated)
	alice.noneBefore(t, "typing", mark.ID.String())
}

// TestClusterReadMarker: a person's read marker, moved through node B,
// reaches their stream on node A (their other device), and nobody else's.
func TestClusterReadMarker(t *testing.T) {
	c := natstest.Start(t, 2)
	srvs, _ := mustStartRelayedServers(t, c, 2, "node-a", "node-b")
	a, b := srvs[0], srvs[1]
	phone := a.openLive(t, "/api/rooms/r/events?author=alice")
	bob := a.openLive(t, "/api/rooms/r/events?author=bob")
	waitFor(t, func() bool { return hasPerson(b.presenceOf(t, "r"), "alice", phone.hello.Connection) })
	m := b.post(t, "r", map[string]string{"author": "x", "text": "read me"}, http.StatusCreated)
	if resp := b.do(t, http.MethodPut, "/api/rooms/r/read", "application/json", []byte(`{"author":"alice","id":"`+m.ID.String()+`"}`)); resp.status != http.StatusOK {
		t.Fatalf("PUT read on node-b: got %d %s", resp.status, resp.body)
	}
	if e := phone.nextOf(t, "read"); !e.NoID || e.Data != `{"room":"r","id":"`+m.ID.String()+`"}` {
		t.Fatalf("alice's stream on node-a: got %+v, want her marker", e)
	}
	mark := a.post(t, "r", map[string]string{"author": "x", "text": "after the marker"}, http.StatusCreated)
	bob.noneBefore(t, "read", mark.ID.String())
}

// TestClusterSignals: a signal from a connection on node A reaches the one
// connection it names on node B, nobody else; the answer comes back; a
// signal to a connection that closed, or of a node nobody hears, is 404.
func TestClusterSignals(t *testing.T) {
	c := natstest.Start(t, 2)
	srvs, _ := mustStartRelayedServers(t, c, 2, "node-a", "node-b")
	a, b := srvs[0], srvs[1]
	alice := a.openLive(t, "/api/events?rooms=r,other&author=alice")
	bob1 := b.openLive(t, "/api/rooms/r/events?author=bob")
	bob2 := b.openLive(t, "/api/rooms/r/events?author=bob")
	carol := b.openLive(t, "/api/rooms/r/events?author=carol")
	al, b1 := alice.hello.Connection, bob1.hello.Connection
	waitFor(t, func() bool { return hasPerson(a.presenceOf(t, "r"), "bob", b1) })

	signal := func(s *testServer, body string, want int) {
		t.Helper()
		resp := s.do(t, http.MethodPost, "/api/rooms/r/signal", "application/json", []byte(body))
		if resp.status != want {
			t.Fatalf("signal %s: got %d %s, want %d", body, resp.status, resp.body, want)
		}
		if want >= 400 {
			resp.errorMessage(t)
		}
	}
	signal(a, `{"author":"alice","from":"`+al+`","to":"`+b1+`","kind":"ring","payload":{"call":"c1"}}`, http.StatusNoContent)
	want := `{"room":"r","kind":"ring","from":"` + al + `","to":"` + b1 + `","author":"alice","guest":false,"payload":{"call":"c1"}}`
	if e := bob1.nextOf(t, "signal"); e.Data != want {
		t.Fatalf("bob's first tab got %s, want %s", e.Data, want)
	}
	mark := b.post(t, "r", map[string]string{"author": "x", "text": "after the ring"}, http.StatusCreated)
	bob2.noneBefore(t, "signal", mark.ID.String())
	carol.noneBefore(t, "signal", mark.ID.String())

	signal(b, `{"author":"bob","from":"`+b1+`","to":"`+al+`","kind":"accept","payload":{"call":"c1"}}`, http.StatusNoContent)
	if e := alice.nextOf(t, "signal"); !strings.Contains(e.Data, `"kind":"accept","from":"`+b1+`"`) {
		t.Fatalf("alice got %s, want bob's accept", e.Data)
	}

	// The recipient's node checks that its connection carries the room.
	if resp := a.do(t, http.MethodPost, "/api/rooms/other/signal", "application/json",
		[]byte(`{"author":"alice","from":"`+al+`","to":"`+b1+`","kind":"ring"}`)); resp.status != http.StatusNotFound {
		t.Fatalf("to a connection not in the room: got %d %s, want 404", resp.status, resp.body)
	}

	bob1.stop()
	ring := `{"author":"alice","from":"` + al + `","to":"` + b1 + `","kind":"ring"}`
	waitFor(t, func() bool {
		return a.do(t, http.MethodPost, "/api/rooms/r/signal", "application/json", []byte(ring)).status == http.StatusNotFound
	})
	signal(a, `{"author":"alice","from":"`+al+`","to":"node-z-1","kind":"ring"}`, http.StatusNotFound)
	signal(a, `{"author":"alice","from":"`+al+`","to":"`+fmt.Sprintf("node-b-%d", 999)+`","kind":"ring"}`, http.StatusNotFound)
}

// TestClusterLiveOfAPrivateRoomIsInvisible: under access control on every
// node, who is in a private room and who types there is relayed to every
// node, and each node shows it only to streams of people who may read the
// room: a member on node B sees it, another user on node B never does.
func TestClusterLiveOfAPrivateRoomIsInvisible(t *testing.T) {
	c := natstest.Start(t, 2)
	rnA, setA := mustJoinRelay(t, c, 0, "node-a")
	rnB, setB := mustJoinRelay(t, c, 1, "node-b")
	a, b := mustStartAuthServer(t, setA), mustStartAuthServer(t, setB)
	waitHeard(t, rnA, rnB)
	// The nodes do not share history here: each is told the same accounts.
	for _, s := range []*authServer{a, b} {
		for _, name := range []string{"alice", "bob", "dave"} {
			s.addUser(t, name)
		}
		s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/priv/access", map[string]any{"private": true, "members": []string{"alice", "dave"}}, s.admin...)
	}
	aliceA := a.login(t, "alice", "alice-password", true)
	bob, dave := b.login(t, "bob", "bob-password", true), b.login(t, "dave", "dave-password", true)

	daves := b.openLive(t, "/api/rooms/priv/events", dave...)
	bobs := b.openLive(t, "/api/events?rooms=pub", bob...)
	inPriv := a.openLive(t, "/api/events?rooms=priv,pub", aliceA...)
	daves.nextPresence(t, "join", "alice")
	a.mustCall(t, http.StatusNoContent, "POST", "/api/rooms/priv/typing", nil, aliceA...)
	if e := daves.nextOf(t, "typing"); !strings.Contains(e.Data, `"room":"priv","author":"alice"`) {
		t.Fatalf("dave got %s, want alice typing in priv", e.Data)
	}
	// By now node-b has had alice's presence and typing in priv: bob's
	// stream, up to a later message, holds nothing of priv.
	mark := b.mustCall(t, http.StatusCreated, "POST", "/api/rooms/pub/messages", map[string]string{"text": "in pub"}, b.admin...)
	for {
		e := bobs.next(t)
		if strings.Contains(e.Data, `"priv"`) {
			t.Fatalf("bob got %s %s, from a room he may not read", e.Type, e.Data)
		}
		if !e.NoID && e.ID == mark["id"].(string) {
			break
		}
	}
	if got := names(b.presenceOf(t, "pub", bob...)); !strings.Contains(got, "alice["+inPriv.hello.Connection+"]") {
		t.Fatalf("presence of pub at node-b: got %s, want alice from node-a", got)
	}
	if got := names(b.presenceOf(t, "priv", dave...)); !strings.Contains(got, "alice["+inPriv.hello.Connection+"]") {
		t.Fatalf("presence of priv at node-b for dave: got %s, want alice", got)
	}
	for _, tc := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", "/api/rooms/priv/presence", nil, http.StatusForbidden},
		{"POST", "/api/rooms/priv/typing", nil, http.StatusForbidden},
		{"POST", "/api/rooms/priv/signal", map[string]any{"from": bobs.hello.Connection, "to": inPriv.hello.Connection, "kind": "ring"}, http.StatusForbidden},
		{"POST", "/api/rooms/pub/signal", map[string]any{"from": bobs.hello.Connection, "to": daves.hello.Connection, "kind": "ring"}, http.StatusNotFound},
	} {
		if resp := b.call(t, tc.method, tc.path, tc.body, bob...); resp.status != tc.want {
			t.Errorf("bob: %s %s: got %d %s, want %d", tc.method, tc.path, resp.status, resp.body, tc.want)
		}
	}
}

// TestClusterNodeOutlivesItsNATSServer: the NATS server a node is
// connected to stops; the node reconnects to another, and presence and
// typing flow both ways again, for people who were there and for newcomers.
func TestClusterNodeOutlivesItsNATSServer(t *testing.T) {
	c := natstest.Start(t, 3)
	srvs, rns := mustStartRelayedServers(t, c, 2, "node-a", "node-b") // on NATS servers 1 and 2
	a, b := srvs[0], srvs[1]
	alice := a.openLive(t, "/api/rooms/r/events?author=alice")
	bob := b.openLive(t, "/api/rooms/r/events?author=bob")
	waitFor(t, func() bool { return hasPerson(b.presenceOf(t, "r"), "alice", alice.hello.Connection) })

	c.Shutdown(0)
	waitFor(t, func() bool { return rns[0].nc.Stats().Reconnects > 0 && rns[0].nc.IsConnected() })
	carol := a.openLive(t, "/api/rooms/r/events?author=carol")
	waitFor(t, func() bool {
		p := b.presenceOf(t, "r")
		return hasPerson(p, "alice", alice.hello.Connection) && hasPerson(p, "carol", carol.hello.Connection)
	})
	waitFor(t, func() bool { return hasPerson(a.presenceOf(t, "r"), "bob", bob.hello.Connection) })
	for _, tc := range []struct {
		from   *testServer
		author string
		to     *liveStream
	}{{a, "alice", bob}, {b, "bob", carol}} {
		if resp := tc.from.do(t, http.MethodPost, "/api/rooms/r/typing", "application/json", []byte(`{"author":"`+tc.author+`"}`)); resp.status != http.StatusNoContent {
			t.Fatalf("typing: got %d %s", resp.status, resp.body)
		}
		for !strings.Contains(tc.to.nextOf(t, "typing").Data, `"author":"`+tc.author+`"`) {
			// carol, on node-a, saw alice type there first
		}
	}
}
