package jetstream

import (
	"context"

	"github.com/parleychat/parley/store"
)

// ClusterStats implements store.Cluster: one JetStream request (the
// stream's info), then the node's own figures. The stream's last sequence
// is read before this node's position, so a lag is never negative.
func (l *Log) ClusterStats(ctx context.Context) (store.ClusterStats, error) {
	var st store.ClusterStats
	st.Ready = l.Ping(ctx) == nil
	if info, err := l.stream.Info(ctx); err == nil {
		st.StreamLast, st.StreamRead = info.State.LastSeq, true
	}
	st.Applied = l.AppliedSeq()
	n, err := l.DB.EraseQueueLen()
	st.EraseQueue = int64(n)
	return st, err
}
