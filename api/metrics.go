package api

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/stream"
)

// metrics are the server's Prometheus collectors, on a registry of their own
// so that two servers in one process (tests) never share counters.
type metrics struct {
	reg *prometheus.Registry

	appends       prometheus.Counter
	commitSeconds prometheus.Histogram
	batchSize     prometheus.Histogram
	requests      *prometheus.CounterVec   // method, route, code
	reqSeconds    *prometheus.HistogramVec // method, route; streams excluded
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		appends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_appends_total",
			Help: "Events committed to the log.",
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "parley_commit_duration_seconds",
			Help:    "Time one write transaction of the log took, fsync included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12), // 0.5ms to ~1s
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "parley_commit_batch_events",
			Help:    "Events stored by one write transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 to 1024
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		reqSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route pattern; event streams are not included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route"}),
	}
	hub := func(get func(stream.Stats) int64) func() float64 {
		return func() float64 { return float64(get(s.hub.Stats())) }
	}
	m.reg.MustRegister(
		m.appends, m.commitSeconds, m.batchSize, m.requests, m.reqSeconds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_streams_open",
			Help: "Event streams open now.",
		}, hub(func(st stream.Stats) int64 { return st.Open })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_streams_opened_total",
			Help: "Event streams opened.",
		}, hub(func(st stream.Stats) int64 { return st.Opened })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_stream_events_delivered_total",
			Help: "Events written to stream clients, live and replayed.",
		}, hub(func(st stream.Stats) int64 { return st.Delivered })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_stream_events_replayed_total",
			Help: "Events written to stream clients from the log, after a cursor.",
		}, hub(func(st stream.Stats) int64 { return st.Replayed })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_stream_slow_consumer_disconnects_total",
			Help: "Streams closed because their client fell too far behind.",
		}, hub(func(st stream.Stats) int64 { return st.SlowConsumers })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_stream_ephemeral_events_total",
			Help: "Ephemeral events (presence, typing, call signals, read markers) written to stream clients.",
		}, hub(func(st stream.Stats) int64 { return st.Ephemeral })),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	logStat := func(get func(store.LogStats) int64) func() float64 {
		return func() float64 { return float64(get(s.log.Stats())) }
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_scrub_pending_events",
			Help: "Deleted events whose stale copies in free pages of the file are still to be overwritten.",
		}, logStat(func(st store.LogStats) int64 { return st.ScrubPending })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_scrub_passes_total",
			Help: "Completed passes of the scrubber over the file (one pass serves every delete queued before it).",
		}, logStat(func(st store.LogStats) int64 { return st.ScrubPasses })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_scrub_failures_total",
			Help: "Failed scrubber passes; their work stays queued and is retried (the log says why).",
		}, logStat(func(st store.LogStats) int64 { return st.ScrubFailures })),
	)
	registerFileMetrics(m.reg, s)
	m.reg.MustRegister(newClusterCollector(s))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "parley_db_size_bytes",
		Help: "Size of the database file.",
	}, func() float64 {
		n, err := s.log.Size()
		if err != nil {
			return 0 // closed: there is no file to speak of
		}
		return float64(n)
	}))
	return m
}

// observeCommit records one commit of the log: the events it stored and the
// time it took. NewServer registers it with the log. It is safe for
// concurrent use and does not allocate.
func (s *Server) observeCommit(events int, took time.Duration) {
	s.metrics.appends.Add(float64(events))
	s.metrics.commitSeconds.Observe(took.Seconds())
	s.metrics.batchSize.Observe(float64(events))
}

// metricsHandler serves the registry in the Prometheus text format.
func (s *Server) metricsHandler() httprouter.Handle {
	h := promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.Logger.Handler(), slog.LevelError),
		Registry: s.metrics.reg,
	})
	return func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) { h.ServeHTTP(w, r) }
}

// routeMetrics are one route's collectors, resolved when the route is
// registered so that a request only touches atomics.
type routeMetrics struct {
	method, route string
	stream        bool // an event stream: its duration is its life, not its cost
	seconds       prometheus.Observer
	byCode        *prometheus.CounterVec // curried with method and route
	common        map[int]prometheus.Counter
}

// commonCodes are the statuses Parley answers with; their counters exist from
// the start. Others are looked up when they happen.
var commonCodes = []int{200, 201, 304, 400, 404, 405, 413, 415, 500, 503}

// instrument wraps a route's handler to count its requests by status, time
// them and log them at debug level. pattern is the route as registered, so
// the labels stay few whatever paths clients ask for.
func (s *Server) instrument(method, pattern string, stream bool, h httprouter.Handle) httprouter.Handle {
	rm := &routeMetrics{
		method: method, route: pattern, stream: stream,
		byCode: s.metrics.requests.MustCurryWith(prometheus.Labels{"method": method, "route": pattern}),
		common: map[int]prometheus.Counter{},
	}
	if !stream {
		rm.seconds = s.metrics.reqSeconds.WithLabelValues(method, pattern)
	}
	for _, code := range commonCodes {
		rm.common[code] = rm.byCode.WithLabelValues(strconv.Itoa(code))
	}
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		start := time.Now()
		sw := statusWriters.Get().(*statusWriter)
		sw.ResponseWriter, sw.status = w, 0
		h(sw, r, ps)
		status := sw.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http answers 200
		}
		sw.ResponseWriter = nil
		statusWriters.Put(sw)
		s.observeRequest(rm, r, status, time.Since(start))
	}
}

// observeRequest counts and logs one answered request.
func (s *Server) observeRequest(rm *routeMetrics, r *http.Request, status int, took time.Duration) {
	c, ok := rm.common[status]
	if !ok {
		c = rm.byCode.WithLabelValues(strconv.Itoa(status))
	}
	c.Inc()
	if rm.seconds != nil {
		rm.seconds.Observe(took.Seconds())
	}
	if s.Logger.Enabled(r.Context(), slog.LevelDebug) {
		s.Logger.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", r.Method), slog.String("route", rm.route),
			slog.Int("status", status), slog.Duration("duration", took))
	}
}

// statusWriters recycles statusWriters: the POST path stays free of
// allocations of its own.
var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

// statusWriter remembers the status a handler answered with. Unwrap lets
// http.ResponseController reach the connection's Flush and deadlines, which
// event streams need.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
