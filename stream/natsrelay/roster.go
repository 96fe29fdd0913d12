package natsrelay

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parleychat/parley/stream"
)

// rosterAnswer is one part of a node's answer to a roster request: its
// open connections, which include every fact up to Seq. An answer larger
// than NATS lets one message be comes in Parts parts, numbered from 0.
type rosterAnswer struct {
	Inst  int64         `json:"inst"`
	Seq   uint64        `json:"seq"`
	Part  int           `json:"part"`
	Parts int           `json:"parts"`
	Conns []stream.Conn `json:"conns"`
}

// handleRoster answers another node's question: which connections are
// open here, as of which fact.
func (r *Relay) handleRoster(m *nats.Msg) {
	rcv := r.rcv()
	// Under pubMu, so every fact numbered up to seq is in the answer (the
	// hub changes its connections before it reports the fact).
	r.pubMu.Lock()
	inst, seq := r.inst, r.seq
	var conns []stream.Conn
	if rcv != nil {
		conns = rcv.Connections()
	}
	r.pubMu.Unlock()
	for _, b := range rosterParts(inst, seq, conns, int(r.nc.MaxPayload())/2) {
		if err := m.Respond(b); err != nil {
			r.Logger.Warn("relay: answer a roster request", "connections", len(conns), "err", err)
			return
		}
	}
}

// rosterParts encodes an answer in parts of about limit bytes at most (one
// connection larger than that makes a part of its own).
func rosterParts(inst int64, seq uint64, conns []stream.Conn, limit int) [][]byte {
	var groups [][]stream.Conn
	var group []stream.Conn
	size := 0
	for _, c := range conns {
		b, _ := json.Marshal(c)
		if len(group) > 0 && size+len(b)+1 > limit {
			groups, group, size = append(groups, group), nil, 0
		}
		group, size = append(group, c), size+len(b)+1
	}
	groups = append(groups, group) // an empty roster is one empty part
	out := make([][]byte, len(groups))
	for i, g := range groups {
		if g == nil {
			g = []stream.Conn{}
		}
		out[i], _ = json.Marshal(rosterAnswer{Inst: inst, Seq: seq, Part: i, Parts: len(groups), Conns: g})
	}
	return out
}

// fetchRoster asks node for its roster and gathers the parts of its
// answer, within RequestTimeout.
func (r *Relay) fetchRoster(node string) (rosterAnswer, error) {
	inbox := r.nc.NewRespInbox()
	sub, err := r.nc.SubscribeSync(inbox)
	if err != nil {
		return rosterAnswer{}, fmt.Errorf("roster of %s: %w", node, err)
	}
	defer sub.Unsubscribe()
	if err := r.nc.PublishRequest(r.Prefix+".node."+node+".roster", inbox, nil); err != nil {
		return rosterAnswer{}, fmt.Errorf("roster of %s: %w", node, err)
	}
	deadline := time.Now().Add(r.RequestTimeout)
	var all rosterAnswer
	for got := 0; got == 0 || got < all.Parts; got++ {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			return rosterAnswer{}, fmt.Errorf("roster of %s, part %d: %w", node, got, err)
		}
		var part rosterAnswer
		if err := json.Unmarshal(m.Data, &part); err != nil {
			return rosterAnswer{}, fmt.Errorf("roster of %s: %w", node, err) // also "no responders": no body
		}
		switch {
		case got == 0:
			all = rosterAnswer{Inst: part.Inst, Seq: part.Seq, Parts: part.Parts}
		case part.Inst != all.Inst || part.Seq != all.Seq || part.Parts != all.Parts:
			return rosterAnswer{}, errors.New("roster of " + node + ": parts of two answers")
		}
		if part.Part != got || part.Parts < 1 {
			return rosterAnswer{}, fmt.Errorf("roster of %s: part %d of %d, want %d", node, part.Part, part.Parts, got)
		}
		all.Conns = append(all.Conns, part.Conns...)
	}
	return all, nil
}
