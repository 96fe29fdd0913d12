package api

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/store"
)

// registerFileMetrics adds the file gauges to reg: read at each scrape,
// zero while the server stores no files.
func registerFileMetrics(reg *prometheus.Registry, s *Server) {
	stat := func(get func(store.FileStats) int64) func() float64 {
		return func() float64 {
			if s.Files == nil {
				return 0
			}
			st, err := s.Files.FileStats(context.Background())
			if err != nil {
				return 0
			}
			return float64(get(st))
		}
	}
	thumbs := func(made bool) func() float64 {
		return func() float64 {
			t := s.thumbs
			if t == nil {
				return 0
			}
			t.mu.Lock()
			defer t.mu.Unlock()
			if made {
				return float64(t.made)
			}
			return float64(t.refused)
		}
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_files",
			Help: "Uploaded files the log keeps, attached to a message or pending.",
		}, stat(func(st store.FileStats) int64 { return st.Files })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_files_pending",
			Help: "Uploads no message carries yet (collected after -upload-ttl).",
		}, stat(func(st store.FileStats) int64 { return st.Pending })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_file_objects",
			Help: "Distinct contents stored for files and thumbnails.",
		}, stat(func(st store.FileStats) int64 { return st.Objects })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_file_objects_erasing",
			Help: "Contents whose last reference went, still to be overwritten and removed.",
		}, stat(func(st store.FileStats) int64 { return st.Erasing })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_thumbnails_made_total",
			Help: "Thumbnails made.",
		}, thumbs(true)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_thumbnails_refused_total",
			Help: "Images no thumbnail was made of (too many pixels, damaged, too large encoded).",
		}, thumbs(false)),
	)
}
