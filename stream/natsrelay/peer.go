package natsrelay

import (
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parleychat/parley/stream"
)

// Kinds of messages on the presence subject.
const (
	kindConn      = "conn" // a connection opened or closed
	kindHeartbeat = "hb"   // alive, and the number of the last fact sent
	kindBye       = "bye"  // the node is stopping
)

// message is what a relay publishes, JSON-encoded.
type message struct {
	Node string `json:"node"`
	// Inst tells runs of one node apart: a restarted node has a larger one.
	Inst int64  `json:"inst"`
	Kind string `json:"kind,omitempty"`
	// Seq numbers a node's facts, from 1 in each run; a heartbeat or a
	// goodbye carries the last one sent.
	Seq   uint64            `json:"seq,omitempty"`
	Conn  *stream.Conn      `json:"conn,omitempty"`
	Event *stream.Ephemeral `json:"event,omitempty"`
}

// genShift places a run's generation above a connection's epoch, so the
// epochs of a node's new run (from 1 again) are newer than its last run's.
const genShift = 40

// peer is what this relay knows of another node, from what it heard.
type peer struct {
	node string
	inst int64
	gen  uint64    // this relay's number for the run inst
	seen time.Time // the last message heard from it
	// seq is the last fact applied; meaningful once synced. While syncing
	// (a roster request in flight) facts wait in buffered.
	seq      uint64
	synced   bool
	syncing  bool
	buffered []message
	// conns are its open connections as told to the receiver, with epochs
	// raised by gen, by id.
	conns map[string]stream.Conn
}

// handlePresence takes a fact, a heartbeat or a goodbye of another node.
func (r *Relay) handlePresence(m *nats.Msg) {
	var msg message
	if err := json.Unmarshal(m.Data, &msg); err != nil || !nodePattern.MatchString(msg.Node) {
		r.Logger.Warn("relay: a presence message that is not one", "err", err)
		return
	}
	if msg.Node == r.node {
		if msg.Inst != r.inst {
			r.warnTwin.Do(func() {
				r.Logger.Error("relay: another node uses this node's name: node names must be unique", "node", r.node)
			})
		}
		return // this node's own: applied when it was sent
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if msg.Kind == kindBye {
		if p := r.peers[msg.Node]; p != nil && p.inst == msg.Inst {
			r.bury(p)
		}
		return
	}
	p := r.peers[msg.Node]
	isNew := p == nil
	switch {
	case p != nil && msg.Inst < p.inst:
		return // from a run that has ended
	case p == nil:
		p = &peer{node: msg.Node, conns: map[string]stream.Conn{}}
		r.peers[msg.Node] = p
		r.newRun(p, msg.Inst)
	case msg.Inst > p.inst:
		r.newRun(p, msg.Inst) // it restarted
	}
	p.seen = r.Now()
	switch msg.Kind {
	case kindHeartbeat:
		if !p.syncing && (!p.synced || msg.Seq != p.seq) {
			r.resync(p) // new to us, or facts were lost
		}
	case kindConn:
		if msg.Conn != nil {
			r.take(p, msg)
		}
	}
	if isNew {
		// Tell the newcomer about this node now rather than at the next
		// heartbeat: nodes that start together know each other at once.
		go r.heartbeat()
	}
}

// newRun forgets what p's previous run had (its connections close: the
// receiver's grace period runs for them) and expects the run inst.
// r.mu must be held.
func (r *Relay) newRun(p *peer, inst int64) {
	r.closeAll(p)
	r.nextGen++
	p.inst, p.gen = inst, r.nextGen
	p.seq, p.synced, p.syncing, p.buffered = 0, false, false, nil
}

// take applies fact msg of p in order, or keeps it until p's roster comes.
// r.mu must be held.
func (r *Relay) take(p *peer, msg message) {
	switch {
	case p.syncing:
		r.keep(p, msg)
	case !p.synced:
		r.keep(p, msg)
		r.resync(p)
	case msg.Seq <= p.seq:
		// Already in a roster answer.
	case msg.Seq == p.seq+1:
		p.seq = msg.Seq
		r.apply(p, *msg.Conn)
	default: // facts were lost
		r.keep(p, msg)
		r.resync(p)
	}
}

// keep buffers a fact of p until its roster comes; past MaxBuffered the
// buffer is dropped, and the gap makes the relay ask again.
func (r *Relay) keep(p *peer, msg message) {
	if len(p.buffered) >= r.MaxBuffered {
		p.buffered = nil
	}
	p.buffered = append(p.buffered, msg)
}

// apply tells the receiver a fact of p and records it. r.mu must be held.
func (r *Relay) apply(p *peer, c stream.Conn) {
	if stream.NodeOf(c.ID) != p.node {
		r.Logger.Warn("relay: a node spoke for another's connection", "node", p.node, "connection", c.ID)
		return
	}
	c.Epoch = p.gen<<genShift | c.Epoch&(1<<genShift-1)
	old, known := p.conns[c.ID]
	switch {
	case c.Closed && known && old.Epoch == c.Epoch:
		delete(p.conns, c.ID)
	case !c.Closed && (!known || old.Epoch <= c.Epoch):
		p.conns[c.ID] = c
	}
	if rcv := r.rcv(); rcv != nil {
		rcv.Connection(c) // a stale fact is the roster's to ignore
	}
}

// resync asks p for its connections, unless a request is in flight.
// r.mu must be held.
func (r *Relay) resync(p *peer) {
	if p.syncing {
		return
	}
	p.syncing = true
	go r.askRoster(p, p.inst)
}

// askRoster requests p's roster and mends what this node knows with it.
func (r *Relay) askRoster(p *peer, inst int64) {
	ans, err := r.fetchRoster(p.node)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.peers[p.node] != p || p.inst != inst {
		return // buried or restarted meanwhile: another request is due
	}
	p.syncing = false
	if err != nil {
		// The next heartbeat or fact asks again.
		r.Logger.Debug("relay: roster request", "node", p.node, "err", err)
		return
	}
	if ans.Inst != p.inst {
		if ans.Inst > p.inst {
			r.newRun(p, ans.Inst)
		}
		return
	}
	r.reconcile(p, ans)
	buffered := p.buffered
	p.buffered = nil
	sort.Slice(buffered, func(i, j int) bool { return buffered[i].Seq < buffered[j].Seq })
	for _, msg := range buffered {
		r.take(p, msg)
	}
}

// reconcile makes what this node knows of p's connections what p answered:
// the ones it no longer has close, the ones it has open. r.mu must be held.
func (r *Relay) reconcile(p *peer, ans rosterAnswer) {
	open := make(map[string]stream.Conn, len(ans.Conns))
	for _, c := range ans.Conns {
		c.Epoch = p.gen<<genShift | c.Epoch&(1<<genShift-1)
		c.Closed = false
		open[c.ID] = c
	}
	for id, old := range p.conns {
		if _, ok := open[id]; !ok {
			old.Closed = true
			r.apply(p, unraise(old))
		}
	}
	for id, c := range open {
		old, known := p.conns[id]
		if !known || old.Epoch != c.Epoch || old.Who != c.Who || !slices.Equal(old.Rooms, c.Rooms) {
			r.apply(p, unraise(c))
		}
	}
	p.seq, p.synced = ans.Seq, true
}

// unraise takes a raised epoch back to the wire's, for apply to raise again.
func unraise(c stream.Conn) stream.Conn {
	c.Epoch &= 1<<genShift - 1
	return c
}

// checkPeers buries the nodes silent for DeadAfter and asks again those
// whose roster is still unknown.
func (r *Relay) checkPeers() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.Now()
	for _, p := range r.peers {
		switch {
		case now.Sub(p.seen) > r.DeadAfter:
			r.bury(p)
		case !p.synced && !p.syncing:
			r.resync(p)
		}
	}
}

// bury forgets a node: its connections close here. r.mu must be held.
func (r *Relay) bury(p *peer) {
	r.closeAll(p)
	delete(r.peers, p.node)
}

// closeAll closes every connection of p known here. r.mu must be held.
func (r *Relay) closeAll(p *peer) {
	rcv := r.rcv()
	for _, c := range p.conns {
		c.Closed = true
		if rcv != nil {
			rcv.Connection(c)
		}
	}
	clear(p.conns)
}
