package store

import "context"

// ClusterStats is where a cluster node stands against the cluster stream
// (docs/cluster.md): what /metrics shows as the parley_cluster_* gauges.
type ClusterStats struct {
	// Applied is the last stream sequence this node applied.
	Applied uint64
	// StreamLast is the stream's last sequence, asked of NATS; valid only
	// when StreamRead is set (NATS answered in time).
	StreamLast uint64
	StreamRead bool
	// EraseQueue is how many stream sequences this node has queued for
	// erasure (deleted, pruned, or text that produced no event) and not yet
	// removed from the stream.
	EraseQueue int64
	// Ready is what /readyz says: caught up with the stream as it was at
	// start, applying, connected to NATS.
	Ready bool
}

// Lag is how many sequences the stream holds beyond the node's position;
// zero when the stream's last sequence is not known.
func (s ClusterStats) Lag() uint64 {
	if !s.StreamRead || s.StreamLast < s.Applied {
		return 0
	}
	return s.StreamLast - s.Applied
}

// Cluster is a log that is a node of a cluster.
type Cluster interface {
	// ClusterStats reads the node's stats, asking NATS for the stream's
	// last sequence within ctx (StreamRead says whether it answered). An
	// error means the node's own figures could not be read (a closed
	// replica). Safe for concurrent use.
	ClusterStats(ctx context.Context) (ClusterStats, error)
}

// Syncer is a log whose reads may lag a change made through another node.
// A request refused on what was read (no access to a room, a wrong
// password, an unknown token) is checked through Synced, so a change made
// through one node holds through another at once.
type Syncer interface {
	// Synced runs check. If check refuses (false, nil), it waits, within
	// ctx and at most a few seconds, until the node has applied the
	// cluster's changes as far as they go now, and runs check again if the
	// node applied anything since check first began.
	Synced(ctx context.Context, check func() (bool, error)) (bool, error)
}
