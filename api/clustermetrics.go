package api

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// clusterScrapeTimeout bounds the JetStream request a scrape makes for the
// stream's last sequence, so an unreachable NATS never hangs /metrics.
const clusterScrapeTimeout = 2 * time.Second

// clusterCollector serves the parley_cluster_* gauges of a cluster node
// (Server.Cluster), read once per scrape; a single node has none.
type clusterCollector struct {
	s                                     *Server
	applied, last, lag, eraseQueue, ready *prometheus.Desc
}

func newClusterCollector(s *Server) *clusterCollector {
	desc := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &clusterCollector{
		s:          s,
		applied:    desc("parley_cluster_applied_seq", "The last sequence of the cluster stream this node applied to its replica."),
		last:       desc("parley_cluster_stream_last_seq", "The cluster stream's last sequence, asked of NATS at the scrape; absent when NATS did not answer."),
		lag:        desc("parley_cluster_lag", "Sequences of the cluster stream this node has not applied yet (stream last - applied); absent when NATS did not answer."),
		eraseQueue: desc("parley_cluster_erase_queue", "Stream sequences this node queued for erasure (deleted, pruned, or text that produced no event) and has not removed yet."),
		ready:      desc("parley_cluster_ready", "1 when this node is ready (caught up, applying, connected to NATS), as /readyz says; else 0."),
	}
}

// Describe implements prometheus.Collector.
func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.applied, c.last, c.lag, c.eraseQueue, c.ready} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	cl := c.s.Cluster
	if cl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterScrapeTimeout)
	defer cancel()
	st, err := cl.ClusterStats(ctx)
	if err != nil {
		c.s.Logger.Debug("cluster stats not read", "err", err)
		return // closing: nothing to say
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	gauge(c.applied, float64(st.Applied))
	gauge(c.eraseQueue, float64(st.EraseQueue))
	ready := 0.0
	if st.Ready {
		ready = 1
	}
	gauge(c.ready, ready)
	if st.StreamRead {
		gauge(c.last, float64(st.StreamLast))
		gauge(c.lag, float64(st.Lag()))
	}
}
