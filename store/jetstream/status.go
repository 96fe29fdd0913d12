package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// heartbeatEvery is how often a node writes its heartbeat; one older than
// three of them shows the node as gone.
const heartbeatEvery = 2 * time.Second

// Heartbeat is what a node says of itself in the node bucket.
type Heartbeat struct {
	Node    string    `json:"node"`
	Applied uint64    `json:"applied"`
	Chain   time.Time `json:"chain"` // D at Applied
	Ready   bool      `json:"ready"`
	Reason  string    `json:"reason,omitempty"` // why not ready
	Seen    time.Time `json:"seen"`             // by the node's clock
}

// heartbeatLoop writes this node's heartbeat every heartbeatEvery.
func (l *Log) heartbeatLoop() {
	defer l.wg.Done()
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		hb := Heartbeat{Node: l.Node, Ready: true, Seen: time.Now().UTC()}
		if err := l.Ping(ctx); err != nil {
			hb.Ready, hb.Reason = false, err.Error()
		}
		seq, chain, err := l.DB.Applied()
		if err == nil {
			hb.Applied, hb.Chain = seq, chain
			b, _ := json.Marshal(hb)
			_, err = l.nodes.Put(ctx, l.Node, b)
		}
		cancel()
		if err != nil {
			l.Logger.Debug("heartbeat not written", "err", err)
		}
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
	}
}

// Status is the cluster as one NATS connection sees it: what
// `parley cluster status` shows.
type Status struct {
	Stream   string      `json:"stream"`
	Replicas int         `json:"replicas"`
	Leader   string      `json:"leader"`
	Servers  []Server    `json:"servers"` // the stream's replicas
	Messages uint64      `json:"messages"`
	FirstSeq uint64      `json:"first_seq"`
	LastSeq  uint64      `json:"last_seq"`
	Bytes    uint64      `json:"bytes"`
	Gaps     uint64      `json:"gap_records"`
	Nodes    []NodeState `json:"nodes"`
	Warnings []string    `json:"warnings,omitempty"`
}

// Server is one NATS server holding the stream.
type Server struct {
	Name    string        `json:"name"`
	Leader  bool          `json:"leader"`
	Current bool          `json:"current"`
	Lag     uint64        `json:"lag"`
	Active  time.Duration `json:"active"`
}

// NodeState is one Parley node's last heartbeat and its lag.
type NodeState struct {
	Heartbeat
	Lag  uint64 `json:"lag"`
	Gone bool   `json:"gone"` // no heartbeat for three intervals
}

// ReadStatus reads the stream's state and every node's heartbeat through
// js. It needs no Parley node: `parley cluster status` connects to NATS
// itself, so it works while nodes are down.
func ReadStatus(ctx context.Context, js jetstream.JetStream, stream, gapStream, bucket string) (Status, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return Status{}, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("stream %s: %w", stream, err)
	}
	st := Status{
		Stream: stream, Replicas: info.Config.Replicas,
		Messages: info.State.Msgs, FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq, Bytes: info.State.Bytes,
	}
	if c := info.Cluster; c != nil {
		st.Leader = c.Leader
		st.Servers = append(st.Servers, Server{Name: c.Leader, Leader: true, Current: true})
		for _, p := range c.Replicas {
			st.Servers = append(st.Servers, Server{Name: p.Name, Current: p.Current && !p.Offline, Lag: p.Lag, Active: p.Active})
			if !p.Current || p.Offline {
				st.Warnings = append(st.Warnings, fmt.Sprintf("NATS server %s is not current (lag %d)", p.Name, p.Lag))
			}
		}
	}
	if st.Replicas < 3 {
		st.Warnings = append(st.Warnings, fmt.Sprintf("stream %s has %d replica(s): acknowledged events are lost with one server's disk", stream, st.Replicas))
	}
	if g, err := js.Stream(ctx, gapStream); err == nil {
		if gi, err := g.Info(ctx); err == nil {
			st.Gaps = gi.State.Msgs
		}
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return st, nil // no node has started yet
	}
	keys, err := kv.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return st, err
	}
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var ns NodeState
		if json.Unmarshal(e.Value(), &ns.Heartbeat) != nil {
			continue
		}
		if st.LastSeq > ns.Applied {
			ns.Lag = st.LastSeq - ns.Applied
		}
		ns.Gone = time.Since(e.Created()) > 3*heartbeatEvery
		st.Nodes = append(st.Nodes, ns)
	}
	return st, nil
}

// Status reads the cluster's status through this node's connection.
func (l *Log) Status(ctx context.Context) (Status, error) {
	return ReadStatus(ctx, l.js, l.Stream, l.GapStream, l.NodeBucket)
}
