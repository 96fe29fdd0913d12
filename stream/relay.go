package stream

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
)

// Who is the person a stream, or an ephemeral event, belongs to.
type Who struct {
	// Key is the same on every stream of one person, and different for
	// everyone else; it is never shown to clients. Empty: an anonymous
	// stream, counted in presence but not named.
	Key string `json:"key"`
	// Name is what presence shows, and the author of the person's
	// messages.
	Name string `json:"name"`
	// Guest marks a guest of the room.
	Guest bool `json:"guest,omitempty"`
}

// Anonymous reports whether w names nobody.
func (w Who) Anonymous() bool { return w.Key == "" }

// Conn is a fact about one stream, as presence learns it: it opened (or
// changed its rooms), or it closed. A connection id is the id of the node
// that holds the stream, a dash, and a number unique on that node (see
// NodeOf), so a relay knows where to deliver a signal.
type Conn struct {
	ID string `json:"id"`
	// Epoch numbers the streams that held the id on its node, in order: a
	// stream that takes over the id of one still open has a higher one, so
	// a late fact about the old stream changes nothing.
	Epoch  uint64   `json:"epoch"`
	Who    Who      `json:"who"`
	Rooms  []string `json:"rooms,omitempty"`
	Closed bool     `json:"closed,omitempty"`
}

// NodeOf returns the node part of a connection id ("" if it has none).
func NodeOf(conn string) string {
	i := strings.LastIndexByte(conn, '-')
	if i < 0 {
		return ""
	}
	return conn[:i]
}

// Types of ephemeral events.
const (
	TypeTyping = "typing" // someone is typing in a room, or stopped
	TypeSignal = "signal" // call signalling for one connection
	TypeRead   = "read"   // a person's read marker moved, for their other streams
)

// Ephemeral is an event that is not history: it has no id, is never stored,
// replayed or exported, and is lost by a stream that is not connected when
// it happens. It travels between nodes in this form; the hub that delivers
// it frames it for its streams.
type Ephemeral struct {
	Type string `json:"type"`
	Room string `json:"room"`
	// From is who caused it.
	From Who `json:"from"`
	// FromConn and To are a signal's sender and recipient connections.
	FromConn string `json:"from_conn,omitempty"`
	To       string `json:"to,omitempty"`
	// Kind and Payload are a signal's kind and its opaque JSON object.
	Kind    string          `json:"kind,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	// ExpiresInMS is how long a typing indicator lasts; 0 ends it.
	ExpiresInMS int64 `json:"expires_in_ms,omitempty"`
	// ID is a read marker's new position.
	ID string `json:"id,omitempty"`
}

// Relay carries what is live but not history between the hubs of the nodes
// that serve one chat: presence facts, events for everyone in a room
// (typing, read markers) and events for one connection (call signalling).
// Every fact and event goes through it, this node's own included, so a hub
// handles local and remote ones the same way. A single server uses a
// LocalRelay; cluster mode puts one over NATS here (docs/cluster.md).
//
// Delivery is at most once and may reorder between senders, never for one
// sender. Methods must not block on slow receivers, and must be safe for
// concurrent use.
type Relay interface {
	// Attach makes r receive everything relayed, from every node, until
	// detach is called. A hub attaches itself once.
	Attach(r Receiver) (detach func())
	// Connection tells every node's hub a presence fact.
	Connection(c Conn)
	// Broadcast hands ev to every node's hub, which delivers it to its
	// streams of ev.Room.
	Broadcast(ev Ephemeral)
	// Deliver hands ev to the hub of the node that holds connection ev.To
	// and reports whether it delivered it: false if that connection is
	// gone, unknown or not a stream of ev.Room.
	Deliver(ctx context.Context, ev Ephemeral) (bool, error)
}

// Receiver is what a Relay delivers to: a hub. Its methods do not block.
type Receiver interface {
	// Connection applies a presence fact from any node.
	Connection(c Conn)
	// Broadcast delivers ev to this node's streams of its room.
	Broadcast(ev Ephemeral)
	// Deliver delivers ev to connection ev.To if this node holds it and it
	// carries ev.Room, and reports whether it did.
	Deliver(ev Ephemeral) bool
	// Connections returns the open streams of this node, for a relay that
	// must tell a node that joined late who is here.
	Connections() []Conn
}

// LocalRelay is the Relay of a single server: it hands everything to the
// hubs attached to it, at once, on the caller's goroutine. A receiver must
// not call the relay back.
type LocalRelay struct {
	mu        sync.RWMutex // guards receivers
	receivers map[*Receiver]struct{}
}

// NewLocalRelay returns a relay with no receiver.
func NewLocalRelay() *LocalRelay {
	return &LocalRelay{receivers: map[*Receiver]struct{}{}}
}

// Attach implements Relay.
func (l *LocalRelay) Attach(r Receiver) func() {
	key := &r
	l.mu.Lock()
	l.receivers[key] = struct{}{}
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.receivers, key)
		l.mu.Unlock()
	}
}

func (l *LocalRelay) each(fn func(Receiver) bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for r := range l.receivers {
		if !fn(*r) {
			return
		}
	}
}

// Connection implements Relay.
func (l *LocalRelay) Connection(c Conn) {
	l.each(func(r Receiver) bool { r.Connection(c); return true })
}

// Broadcast implements Relay.
func (l *LocalRelay) Broadcast(ev Ephemeral) {
	l.each(func(r Receiver) bool { r.Broadcast(ev); return true })
}

// Deliver implements Relay.
func (l *LocalRelay) Deliver(ctx context.Context, ev Ephemeral) (bool, error) {
	delivered := false
	l.each(func(r Receiver) bool { delivered = r.Deliver(ev); return !delivered })
	return delivered, nil
}
