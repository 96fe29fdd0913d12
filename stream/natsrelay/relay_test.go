package natsrelay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parleychat/parley/stream"
	"github.com/parleychat/parley/stream/natsrelay/natstest"
)

// fakeHub is a receiver that keeps a roster as stream's does (a fact about
// an older epoch of an id than the last seen changes nothing, closed or
// not: stream's roster keeps a closed id through its grace period), holds
// the connections named local, and records what it was given.
type fakeHub struct {
	mu        sync.Mutex // guards everything below
	roster    map[string]stream.Conn
	epochs    map[string]uint64 // the last epoch seen of each id
	local     []stream.Conn
	broadcast []stream.Ephemeral
	delivered []stream.Ephemeral
}

func newFakeHub() *fakeHub {
	return &fakeHub{roster: map[string]stream.Conn{}, epochs: map[string]uint64{}}
}

func (f *fakeHub) Connection(c stream.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	last, seen := f.epochs[c.ID]
	switch {
	case seen && c.Epoch < last:
	case c.Closed:
		if f.roster[c.ID].Epoch == c.Epoch {
			delete(f.roster, c.ID)
		}
	default:
		f.roster[c.ID], f.epochs[c.ID] = c, c.Epoch
	}
}

func (f *fakeHub) Broadcast(ev stream.Ephemeral) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.broadcast = append(f.broadcast, ev)
}

func (f *fakeHub) Deliver(ev stream.Ephemeral) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.ContainsFunc(f.local, func(c stream.Conn) bool { return c.ID == ev.To && slices.Contains(c.Rooms, ev.Room) }) {
		return false
	}
	f.delivered = append(f.delivered, ev)
	return true
}

func (f *fakeHub) Connections() []stream.Conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.local)
}

// present returns the open connections as "id:name", sorted.
func (f *fakeHub) present() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, c := range f.roster {
		out = append(out, id+":"+c.Who.Name)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// waitPresent waits until f's roster is want.
func waitPresent(tb testing.TB, f *fakeHub, want string) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for f.present() != want {
		if time.Now().After(deadline) {
			tb.Fatalf("roster: got %q, want %q", f.present(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mustOpenRelay opens a relay for node on nc with a fake hub attached,
// which buries a node silent for deadAfter.
func mustOpenRelay(tb testing.TB, nc *nats.Conn, node string, deadAfter time.Duration) (*Relay, *fakeHub) {
	tb.Helper()
	r := New(nc, node)
	r.Heartbeat, r.DeadAfter = 50*time.Millisecond, deadAfter
	r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := r.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	f := newFakeHub()
	r.Attach(f)
	return r, f
}

// scriptedNode is a node played by the test on the wire: it publishes the
// facts it is told to (or loses them) and answers roster requests with
// what it holds.
type scriptedNode struct {
	tb   testing.TB
	nc   *nats.Conn
	node string

	mu    sync.Mutex // guards inst, seq, conns
	inst  int64
	seq   uint64
	conns []stream.Conn
}

func newScriptedNode(tb testing.TB, nc *nats.Conn, node string, inst int64) *scriptedNode {
	tb.Helper()
	s := &scriptedNode{tb: tb, nc: nc, node: node, inst: inst}
	sub, err := nc.Subscribe("parley.live.node."+node+".roster", func(m *nats.Msg) {
		s.mu.Lock()
		b, _ := json.Marshal(rosterAnswer{Inst: s.inst, Seq: s.seq, Parts: 1, Conns: slices.Clone(s.conns)})
		s.mu.Unlock()
		m.Respond(b)
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sub.Unsubscribe() })
	nc.Flush()
	return s
}

// send publishes a presence message of the node's current run.
func (s *scriptedNode) send(kind string, seq uint64, c *stream.Conn) {
	s.tb.Helper()
	b, _ := json.Marshal(message{Node: s.node, Inst: s.inst, Kind: kind, Seq: seq, Conn: c})
	if err := s.nc.Publish("parley.live.presence", b); err != nil {
		s.tb.Fatal(err)
	}
}

// change opens (or closes) connection c; lost says the fact is numbered
// but never sent.
func (s *scriptedNode) change(c stream.Conn, lost bool) {
	s.tb.Helper()
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.conns = slices.DeleteFunc(s.conns, func(o stream.Conn) bool { return o.ID == c.ID })
	if !c.Closed {
		s.conns = append(s.conns, c)
	}
	s.mu.Unlock()
	if !lost {
		s.send(kindConn, seq, &c)
	}
}

func (s *scriptedNode) heartbeat() {
	s.mu.Lock()
	seq := s.seq
	s.mu.Unlock()
	s.send(kindHeartbeat, seq, nil)
}

// restart begins a new run with conns open.
func (s *scriptedNode) restart(inst int64, conns ...stream.Conn) {
	s.mu.Lock()
	s.inst, s.seq, s.conns = inst, 0, conns
	s.mu.Unlock()
	s.heartbeat()
}

func conn(id string, epoch uint64, name string, closed bool) stream.Conn {
	return stream.Conn{ID: id, Epoch: epoch, Who: stream.Who{Key: "a:" + name, Name: name}, Rooms: []string{"r"}, Closed: closed}
}

// TestLostFactsAreMended: facts a node sends may be lost (core NATS is at
// most once); a gap in their numbers, or a heartbeat ahead of them, makes
// the relay ask the node for its connections, and it ends with exactly
// those. A restarted node's connections replace its last run's, even under
// the same ids with smaller epochs; its goodbye closes them all.
func TestLostFactsAreMended(t *testing.T) {
	c := natstest.Start(t, 2)
	// The scripted node sends no heartbeats of its own: it must not die.
	relay, hub := mustOpenRelay(t, c.Connect(t, 0), "node-b", time.Hour)
	x := newScriptedNode(t, c.Connect(t, 1), "node-x", 100)

	x.heartbeat()
	x.change(conn("node-x-1", 1, "alice", false), false)
	waitPresent(t, hub, "node-x-1:alice")

	x.change(conn("node-x-2", 2, "bob", false), true) // lost
	x.change(conn("node-x-1", 1, "alice", true), false)
	waitPresent(t, hub, "node-x-2:bob")

	x.change(conn("node-x-3", 3, "carol", false), true) // lost, and nothing after it but a heartbeat
	x.heartbeat()
	waitPresent(t, hub, "node-x-2:bob node-x-3:carol")

	x.restart(200, conn("node-x-2", 1, "dave", false))
	waitPresent(t, hub, "node-x-2:dave")
	x.change(conn("node-x-4", 2, "erin", false), false)
	waitPresent(t, hub, "node-x-2:dave node-x-4:erin")
	if got := relay.Nodes(); !slices.Equal(got, []string{"node-x"}) {
		t.Fatalf("nodes: got %v, want node-x", got)
	}

	x.send(kindBye, 2, nil)
	waitPresent(t, hub, "")
	if got := relay.Nodes(); len(got) != 0 {
		t.Fatalf("nodes after goodbye: got %v, want none", got)
	}
}

// TestSilentNodeIsBuried: a node that stops sending heartbeats has its
// connections closed after DeadAfter, and is heard again when it speaks.
func TestSilentNodeIsBuried(t *testing.T) {
	c := natstest.Start(t, 2)
	relay, hub := mustOpenRelay(t, c.Connect(t, 0), "node-b", 5*time.Second)
	x := newScriptedNode(t, c.Connect(t, 1), "node-x", 100)
	x.mu.Lock()
	x.conns = []stream.Conn{conn("node-x-1", 1, "alice", false)}
	x.mu.Unlock()
	x.heartbeat()
	waitPresent(t, hub, "node-x-1:alice")
	waitPresent(t, hub, "") // no more heartbeats
	if got := relay.Nodes(); len(got) != 0 {
		t.Fatalf("nodes: got %v, want none", got)
	}
	x.heartbeat()
	waitPresent(t, hub, "node-x-1:alice")
}

// TestRelaysBetweenNodes: two relays tell each other their connections
// (one that attached late learns them all), hand room events over and
// deliver a signal to the node that holds its recipient, which answers
// whether it did; a signal to a node nobody hears is not delivered.
func TestRelaysBetweenNodes(t *testing.T) {
	c := natstest.Start(t, 2)
	a, hubA := mustOpenRelay(t, c.Connect(t, 0), "node-a", time.Minute)
	b := New(c.Connect(t, 1), "node-b")
	b.Heartbeat, b.DeadAfter = 50*time.Millisecond, time.Minute
	if err := b.Open(); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	hubA.mu.Lock()
	hubA.local = []stream.Conn{conn("node-a-1", 1, "alice", false)}
	hubA.mu.Unlock()
	a.Connection(conn("node-a-1", 1, "alice", false))
	a.Connection(conn("node-a-2", 2, "zed", false))
	a.Connection(conn("node-a-2", 2, "zed", true))
	waitPresent(t, hubA, "node-a-1:alice")
	deadline := time.Now().Add(time.Minute)
	for !slices.Contains(b.Nodes(), "node-a") {
		if time.Now().After(deadline) {
			t.Fatal("node-b does not hear node-a")
		}
		time.Sleep(5 * time.Millisecond)
	}
	hubB := newFakeHub()
	b.Attach(hubB)
	waitPresent(t, hubB, "node-a-1:alice")

	ev := stream.Ephemeral{Type: stream.TypeTyping, Room: "r", From: stream.Who{Key: "a:bob", Name: "bob"}, ExpiresInMS: 5000}
	b.Broadcast(ev)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		hubA.mu.Lock()
		got := slices.Clone(hubA.broadcast)
		hubA.mu.Unlock()
		if len(got) == 1 {
			if fmt.Sprint(got[0]) != fmt.Sprint(ev) {
				t.Fatalf("node-a got %+v, want %+v", got[0], ev)
			}
			break
		}
		if len(got) > 1 || time.Now().After(deadline) {
			t.Fatalf("node-a got %+v, want the typing once", got)
		}
	}

	sig := stream.Ephemeral{Type: stream.TypeSignal, Room: "r", From: stream.Who{Key: "a:bob", Name: "bob"}, FromConn: "node-b-1", To: "node-a-1", Kind: "ring"}
	for _, tc := range []struct {
		name string
		to   string
		room string
		want bool
	}{
		{"held by node-a", "node-a-1", "r", true},
		{"not in the room", "node-a-1", "s", false},
		{"closed", "node-a-2", "r", false},
		{"unknown node", "node-q-1", "r", false},
		{"no node", "nobody", "r", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sig
			s.To, s.Room = tc.to, tc.room
			ok, err := b.Deliver(context.Background(), s)
			if err != nil || ok != tc.want {
				t.Fatalf("got %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
	hubA.mu.Lock()
	delivered := slices.Clone(hubA.delivered)
	hubA.mu.Unlock()
	if len(delivered) != 1 || delivered[0].To != "node-a-1" || delivered[0].Kind != "ring" || delivered[0].From.Name != "bob" {
		t.Fatalf("node-a's hub got %+v, want bob's ring once", delivered)
	}
}

// TestOpenRefusesBadSettings: a node id that cannot name connections or
// subjects, or heartbeats that do not fit in the death delay, fail at Open.
func TestOpenRefusesBadSettings(t *testing.T) {
	c := natstest.Start(t, 1)
	nc := c.Connect(t, 0)
	for _, tc := range []struct {
		name string
		set  func(*Relay)
	}{
		{"node with a dot", func(r *Relay) { r.node = "a.b" }},
		{"node in capitals", func(r *Relay) { r.node = "NODE" }},
		{"empty node", func(r *Relay) { r.node = "" }},
		{"wildcard prefix", func(r *Relay) { r.Prefix = "parley.*" }},
		{"empty prefix token", func(r *Relay) { r.Prefix = "parley..live" }},
		{"death before a heartbeat", func(r *Relay) { r.DeadAfter = r.Heartbeat }},
		{"no request timeout", func(r *Relay) { r.RequestTimeout = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(nc, "node-a")
			tc.set(r)
			if err := r.Open(); err == nil {
				r.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
	r := New(nc, "node-a")
	if err := r.Open(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestLargeRosterComesInParts: a node with more connections than one NATS
// message holds answers a roster request in parts, and the asking node
// learns every connection.
func TestLargeRosterComesInParts(t *testing.T) {
	c := natstest.Start(t, 2)
	a, hubA := mustOpenRelay(t, c.Connect(t, 0), "node-a", time.Minute)
	var conns []stream.Conn
	for i := range 20000 {
		conns = append(conns, conn(fmt.Sprintf("node-a-%d", i+1), uint64(i+1), fmt.Sprintf("person-with-a-long-name-%d", i), false))
	}
	hubA.mu.Lock()
	hubA.local = conns
	hubA.mu.Unlock()
	b, err := json.Marshal(conns)
	if err != nil {
		t.Fatal(err)
	}
	if max := a.nc.MaxPayload(); int64(len(b)) <= max {
		t.Fatalf("the roster is %d bytes, want more than a message's %d", len(b), max)
	}
	if parts := rosterParts(1, 1, conns, int(a.nc.MaxPayload())/2); len(parts) < 3 {
		t.Fatalf("%d parts, want several", len(parts))
	}

	_, hubB := mustOpenRelay(t, c.Connect(t, 1), "node-b", time.Minute)
	deadline := time.Now().Add(time.Minute)
	for {
		hubB.mu.Lock()
		n := len(hubB.roster)
		hubB.mu.Unlock()
		if n == len(conns) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node-b knows %d connections, want %d", n, len(conns))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
