package api_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store/bolt"
	"github.com/parleychat/parley/store/jetstream"
	jsnatstest "github.com/parleychat/parley/store/jetstream/natstest"
)

// mustStartClusterNode opens a cluster node on c's streams named by prefix
// and serves it, with its cluster gauges, on a loopback port.
func mustStartClusterNode(tb testing.TB, c *jsnatstest.Cluster, prefix string) *testServer {
	tb.Helper()
	db := bolt.NewDB(filepath.Join(tb.TempDir(), "replica.db"))
	db.Logger = quietLogger()
	l := jetstream.New(db, c.URLs())
	l.Stream, l.GapStream, l.NodeBucket, l.Prefix = prefix, prefix+"_GAPS", prefix+"_nodes", prefix
	l.Node, l.Logger = "a", quietLogger()
	l.TickEvery = 100 * 365 * 24 * time.Hour // no retention tick to move the figures the test expects
	if err := l.Open(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := l.WaitCaughtUp(ctx); err != nil {
		l.Close()
		tb.Fatal(err)
	}
	srv := api.NewServer(l)
	srv.Addr, srv.Logger, srv.Cluster = "127.0.0.1:0", quietLogger(), l
	if err := srv.Open(); err != nil {
		l.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		srv.Close()
		l.Close()
	})
	return &testServer{Server: srv, db: db}
}

// TestClusterMetrics: a cluster node's /metrics has its applied sequence,
// the stream's last sequence, the lag between them, its erase queue and
// whether it is ready, from the real cluster; a message it cannot apply
// shows as a lag of one and not ready. A single node has no such series.
func TestClusterMetrics(t *testing.T) {
	c := jsnatstest.Start(t, 3)
	prefix := fmt.Sprintf("metrics%d", time.Now().UnixNano())
	s := mustStartClusterNode(t, c, prefix)
	if resp := s.do(t, http.MethodPost, "/api/rooms/r/messages", "application/json", []byte(`{"author":"x","text":"hello"}`)); resp.status != http.StatusCreated {
		t.Fatalf("post: got %d %s", resp.status, resp.body)
	}
	var m map[string]float64
	deadline := time.Now().Add(time.Minute)
	for {
		m = s.scrape(t)
		if m["parley_cluster_applied_seq"] >= 1 && m["parley_cluster_applied_seq"] == m["parley_cluster_stream_last_seq"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("applied %v, stream last %v: want equal, at least 1", m["parley_cluster_applied_seq"], m["parley_cluster_stream_last_seq"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	metricEquals(t, m, "parley_cluster_lag", 0)
	metricEquals(t, m, "parley_cluster_erase_queue", 0)
	metricEquals(t, m, "parley_cluster_ready", 1)

	// A message written for apply rules no node knows stops the applier.
	js := c.JetStream(t)
	msg := nats.NewMsg(prefix + ".cluster")
	msg.Data = []byte(`{"k":"tick"}`)
	msg.Header.Set("Parley-Rules", "999")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	s.waitMetric(t, "parley_cluster_ready", 0)
	s.waitMetric(t, "parley_cluster_stream_last_seq", float64(ack.Sequence))
	m = s.scrape(t)
	metricEquals(t, m, "parley_cluster_applied_seq", float64(ack.Sequence-1))
	metricEquals(t, m, "parley_cluster_lag", 1)

	for name := range mustStartServer(t).scrape(t) {
		if strings.HasPrefix(name, "parley_cluster_") {
			t.Errorf("a single node's /metrics has %s", name)
		}
	}
}
