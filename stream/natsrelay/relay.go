// Package natsrelay carries Parley's live events between the nodes of a
// cluster over core NATS subjects: presence facts, room broadcasts (typing,
// read markers) and call signals to one connection. It implements
// stream.Relay (docs/live.md, docs/cluster.md). Nothing it sends is stored:
// it never uses JetStream, because ephemeral events are not history.
//
// Each node owns its connections (ids "<node>-<n>", stream.NodeOf) and
// tells the others when one opens or closes, numbering these facts. Every
// Heartbeat it says the last number it sent; a node that sees a gap, a
// node it did not know, or a node that restarted asks that node for its
// connections (request–reply) and mends its copy. A node silent for
// DeadAfter is dead: its connections close everywhere, and each hub's grace
// period then runs as for a stream that closed. A signal is a request to
// the node that holds the recipient, which answers whether it delivered
// it; no answer is "gone".
//
// Subjects, under Prefix ("parley.live"):
//
//	PREFIX.presence              facts, heartbeats and goodbyes of every node
//	PREFIX.room.ROOM             typing and read markers of ROOM
//	PREFIX.node.NODE.signal      a call signal for a connection of NODE (request)
//	PREFIX.node.NODE.roster      NODE's open connections (request; a large answer in parts)
package natsrelay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parleychat/parley/stream"
)

// Relay is a stream.Relay over core NATS. Create it with New or Dial, set
// its exported fields, then Open it; Close it when the node stops. A relay
// serves one hub, whose Node must be the relay's node. It is safe for
// concurrent use.
type Relay struct {
	// Prefix starts every subject the relay uses; nodes of one chat must
	// share it, and two chats on one NATS must not.
	Prefix string
	// Heartbeat is how often the node says it is alive and how many facts
	// it has sent.
	Heartbeat time.Duration
	// DeadAfter is how long a node may be silent before its connections
	// close on every other node. Some heartbeats must fit in it.
	DeadAfter time.Duration
	// RequestTimeout bounds a signal's round trip to the node holding the
	// recipient (less if the caller's context ends first), and a request
	// for a node's connections.
	RequestTimeout time.Duration
	// MaxBuffered bounds the facts kept from one node while the relay asks
	// that node for its connections; past it, they are dropped and the
	// relay asks again.
	MaxBuffered int
	// Logger receives what goes wrong on the wire.
	Logger *slog.Logger
	// Now is the clock of heartbeats and deaths.
	Now func() time.Time

	nc     *nats.Conn
	ownsNC bool // Dial made nc: Close closes it
	node   string
	inst   int64 // this run of the node: a restart has a larger one

	// pubMu guards seq and orders what goes on the presence subject, so a
	// heartbeat's number covers every fact published before it and a
	// roster answer is no older than its number.
	pubMu sync.Mutex
	seq   uint64

	// mu guards peers, nextGen and closed, and is held while what is
	// heard from other nodes is told to the receiver, so that it learns
	// their facts in order. It is never taken while the hub holds a lock
	// of its own: the hub attaches under its locks (see Attach).
	mu      sync.Mutex
	peers   map[string]*peer // by node
	nextGen uint64
	closed  bool

	rcvMu    sync.Mutex // guards receiver; held for nothing else
	receiver stream.Receiver

	warnNode sync.Once // the hub's node is not the relay's
	warnTwin sync.Once // another node speaks under this one's name

	subs []*nats.Subscription
	stop chan struct{} // closed by Close: the heartbeat loop ends
	done chan struct{} // closed when the heartbeat loop has ended
}

var _ stream.Relay = (*Relay)(nil)

// nodePattern is what a node id may be: a NATS subject token, and a valid
// prefix of connection ids (api.Server.Node).
var nodePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidNode returns an error unless node can name a node of the relay: 1
// to 63 lower-case letters, digits and '-', starting with a letter or a
// digit (so a host name may need lower-casing, and its dots replacing).
// The same name goes in api.Server.Node.
func ValidNode(node string) error {
	if !nodePattern.MatchString(node) {
		return fmt.Errorf("node name %q: want 1 to 63 lower-case letters, digits and '-', not starting with '-'", node)
	}
	return nil
}

// New returns a relay for node over nc with default settings. The caller
// keeps nc: Close leaves it open.
func New(nc *nats.Conn, node string) *Relay {
	return &Relay{
		Prefix:         "parley.live",
		Heartbeat:      2 * time.Second,
		DeadAfter:      10 * time.Second,
		RequestTimeout: 5 * time.Second,
		MaxBuffered:    10000,
		Logger:         slog.Default(),
		Now:            time.Now,
		nc:             nc,
		node:           node,
		peers:          map[string]*peer{},
	}
}

// Dial connects to the NATS servers at urls (comma-separated, as
// nats.Connect takes them) with opts, reconnecting for ever, and returns a
// relay for node over that connection, which Close closes.
func Dial(urls, node string, opts ...nats.Option) (*Relay, error) {
	opts = append([]nats.Option{nats.Name("parley relay " + node), nats.MaxReconnects(-1)}, opts...)
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", urls, err)
	}
	r := New(nc, node)
	r.ownsNC = true
	return r, nil
}

// Node returns the node the relay speaks for.
func (r *Relay) Node() string { return r.node }

// Open checks the settings, subscribes, and starts the heartbeat; the
// other nodes learn of this one at once.
func (r *Relay) Open() error {
	if err := ValidNode(r.node); err != nil {
		return err
	}
	switch {
	case !validPrefix(r.Prefix):
		return fmt.Errorf("relay prefix %q: not a NATS subject without wildcards", r.Prefix)
	case r.Heartbeat <= 0 || r.DeadAfter <= r.Heartbeat:
		return fmt.Errorf("relay heartbeat %v, dead after %v: want 0 < heartbeat < dead after", r.Heartbeat, r.DeadAfter)
	case r.RequestTimeout <= 0 || r.MaxBuffered <= 0:
		return errors.New("relay request timeout and max buffered must be positive")
	}
	r.inst = r.Now().UnixNano()
	for _, s := range []struct {
		subject string
		handle  nats.MsgHandler
	}{
		{r.Prefix + ".presence", r.handlePresence},
		{r.Prefix + ".room.*", r.handleBroadcast},
		{r.Prefix + ".node." + r.node + ".signal", r.handleSignal},
		{r.Prefix + ".node." + r.node + ".roster", r.handleRoster},
	} {
		sub, err := r.nc.Subscribe(s.subject, s.handle)
		if err != nil {
			r.unsubscribe()
			return fmt.Errorf("subscribe %s: %w", s.subject, err)
		}
		r.subs = append(r.subs, sub)
	}
	// The server has the subscriptions before anyone hears of this node.
	if err := r.nc.Flush(); err != nil {
		r.unsubscribe()
		return fmt.Errorf("relay flush: %w", err)
	}
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	r.heartbeat()
	go r.beat()
	return nil
}

// Close says goodbye, so the other nodes close this one's connections
// without waiting for DeadAfter, and stops relaying. Facts the hub reports
// afterwards are not sent. It is safe to call twice.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	if r.stop != nil {
		close(r.stop)
		<-r.done
	}
	r.unsubscribe()
	if r.stop != nil {
		r.pubMu.Lock()
		r.publish(r.Prefix+".presence", message{Kind: kindBye, Seq: r.seq})
		r.pubMu.Unlock()
		_ = r.nc.Flush()
	}
	if r.ownsNC {
		r.nc.Close()
	}
	return nil
}

func (r *Relay) unsubscribe() {
	for _, s := range r.subs {
		_ = s.Unsubscribe()
	}
	r.subs = nil
}

// Nodes returns the other nodes this one hears from, sorted.
func (r *Relay) Nodes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.peers))
	for node := range r.peers {
		out = append(out, node)
	}
	slices.Sort(out)
	return out
}

// Attach implements stream.Relay. A relay has one receiver: attaching
// another replaces it. The receiver then learns of every connection of the
// other nodes the relay knows, on another goroutine: a hub attaches while
// it holds its own locks.
func (r *Relay) Attach(rcv stream.Receiver) (detach func()) {
	r.rcvMu.Lock()
	r.receiver = rcv
	r.rcvMu.Unlock()
	go func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.rcv() != rcv {
			return
		}
		for _, p := range r.peers {
			for _, c := range p.conns {
				rcv.Connection(c)
			}
		}
	}()
	return func() {
		r.rcvMu.Lock()
		defer r.rcvMu.Unlock()
		if r.receiver == rcv {
			r.receiver = nil
		}
	}
}

// rcv returns the receiver (nil if none).
func (r *Relay) rcv() stream.Receiver {
	r.rcvMu.Lock()
	defer r.rcvMu.Unlock()
	return r.receiver
}

// Connection implements stream.Relay: the fact is applied here at once,
// then numbered and published for the other nodes.
func (r *Relay) Connection(c stream.Conn) {
	if stream.NodeOf(c.ID) != r.node {
		// Other nodes would drop its facts, and signals would not find it.
		r.warnNode.Do(func() {
			r.Logger.Error("relay: the hub's node is not the relay's: set api.Server.Node to the relay's node", "relay", r.node, "connection", c.ID)
		})
	}
	if rcv := r.rcv(); rcv != nil {
		rcv.Connection(c)
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return
	}
	r.pubMu.Lock()
	defer r.pubMu.Unlock()
	r.seq++
	r.publish(r.Prefix+".presence", message{Kind: kindConn, Seq: r.seq, Conn: &c})
}

// Broadcast implements stream.Relay: this node's streams get ev at once,
// the other nodes' when NATS brings it.
func (r *Relay) Broadcast(ev stream.Ephemeral) {
	if rcv := r.rcv(); rcv != nil {
		rcv.Broadcast(ev)
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed || !validToken(ev.Room) {
		return
	}
	r.publish(r.Prefix+".room."+ev.Room, message{Event: &ev})
}

// Deliver implements stream.Relay. A connection of this node is served
// here; another node's is asked for with a request to that node, and no
// responder or no answer within RequestTimeout means it is gone. It fails
// only if NATS cannot take the request (the connection to NATS is closed
// or down for good).
func (r *Relay) Deliver(ctx context.Context, ev stream.Ephemeral) (bool, error) {
	rcv := r.rcv()
	if rcv != nil && rcv.Deliver(ev) {
		return true, nil
	}
	node := stream.NodeOf(ev.To)
	if node == r.node || !nodePattern.MatchString(node) {
		return false, nil
	}
	b, err := json.Marshal(message{Node: r.node, Inst: r.inst, Event: &ev})
	if err != nil {
		return false, fmt.Errorf("encode signal: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.RequestTimeout)
	defer cancel()
	reply, err := r.nc.RequestWithContext(ctx, r.Prefix+".node."+node+".signal", b)
	switch {
	case err == nil:
		return string(reply.Data) == replyDelivered, nil
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, context.DeadlineExceeded):
		return false, nil // the node is dead or silent: the recipient is gone
	}
	return false, fmt.Errorf("signal to node %s: %w", node, err)
}

// Replies to a signal request.
const (
	replyDelivered = "1"
	replyGone      = "0"
)

// handleSignal delivers a signal from another node to a connection here.
func (r *Relay) handleSignal(m *nats.Msg) {
	var msg message
	ok := json.Unmarshal(m.Data, &msg) == nil && msg.Event != nil && msg.Event.Type == stream.TypeSignal
	rcv := r.rcv()
	ok = ok && rcv != nil && rcv.Deliver(*msg.Event)
	reply := replyGone
	if ok {
		reply = replyDelivered
	}
	if err := m.Respond([]byte(reply)); err != nil {
		r.Logger.Warn("relay: answer a signal", "err", err)
	}
}

// handleBroadcast hands another node's room event to the hub.
func (r *Relay) handleBroadcast(m *nats.Msg) {
	var msg message
	if err := json.Unmarshal(m.Data, &msg); err != nil || msg.Event == nil {
		r.Logger.Warn("relay: a room event that is not one", "subject", m.Subject, "err", err)
		return
	}
	if msg.Node == r.node {
		return // this node's own: delivered when it was sent
	}
	rcv := r.rcv()
	if rcv != nil {
		rcv.Broadcast(*msg.Event)
	}
}

// publish sends msg from this node; the relay's own wire errors are only
// logged, since delivery is at most once anyway.
func (r *Relay) publish(subject string, msg message) {
	msg.Node, msg.Inst = r.node, r.inst
	b, err := json.Marshal(msg)
	if err == nil {
		err = r.nc.Publish(subject, b)
	}
	if err != nil {
		r.Logger.Warn("relay: publish", "subject", subject, "err", err)
	}
}

// heartbeat tells the other nodes that this one is alive, and how many
// facts it has sent.
func (r *Relay) heartbeat() {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return
	}
	r.pubMu.Lock()
	defer r.pubMu.Unlock()
	r.publish(r.Prefix+".presence", message{Kind: kindHeartbeat, Seq: r.seq})
}

// beat sends heartbeats, buries the nodes that went silent and asks again
// those whose connections it could not learn.
func (r *Relay) beat() {
	defer close(r.done)
	t := time.NewTicker(r.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		r.heartbeat()
		r.checkPeers()
	}
}

// validPrefix reports whether p is a subject of tokens without wildcards.
func validPrefix(p string) bool {
	if p == "" {
		return false
	}
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '.' {
			if !validToken(p[start:i]) {
				return false
			}
			start = i + 1
		}
	}
	return true
}

// validToken reports whether s is one NATS subject token without
// wildcards: rooms are (store's room names), but a relay never trusts that.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.' || c == '*' || c == '>' || c <= ' ' || c == 0x7f:
			return false
		}
	}
	return true
}
