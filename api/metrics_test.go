package api_test

import (
	"bufio"
	"bytes"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store"
)

// scrape fetches /metrics and returns each series (name and labels, as
// printed) with its value.
func (s *testServer) scrape(tb testing.TB) map[string]float64 {
	tb.Helper()
	resp := s.do(tb, http.MethodGet, "/metrics", "", nil)
	if resp.status != http.StatusOK {
		tb.Fatalf("GET /metrics: got %d %s", resp.status, resp.body)
	}
	if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		tb.Fatalf("GET /metrics: Content-Type %q, want text/plain", ct)
	}
	series := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(resp.body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			tb.Fatalf("bad metrics line %q: %v", line, err)
		}
		series[line[:i]] = v
	}
	return series
}

// metricEquals fails unless the series is there with the value.
func metricEquals(tb testing.TB, m map[string]float64, series string, want float64) {
	tb.Helper()
	got, ok := m[series]
	if !ok {
		tb.Errorf("%s: missing", series)
	} else if got != want {
		tb.Errorf("%s: got %v, want %v", series, got, want)
	}
}

// waitMetric polls /metrics until the series has the value.
func (s *testServer) waitMetric(tb testing.TB, series string, want float64) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got, ok := s.scrape(tb)[series]
		if ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: got %v (present %v), want %v", series, got, ok, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMetrics(t *testing.T) {
	s := mustStartServer(t)

	live, stopLive := s.openStream(t, "/api/rooms/m/events")
	first := s.post(t, "m", map[string]string{"author": "a", "text": "1"}, http.StatusCreated)
	s.post(t, "m", map[string]string{"author": "a", "text": "2"}, http.StatusCreated)
	s.post(t, "m", map[string]string{"author": "a", "text": "3"}, http.StatusCreated)
	nextEvents(t, live, 3)
	resumed, stopResumed := s.openStream(t, "/api/rooms/m/events", "Last-Event-ID", first.ID.String())
	nextEvents(t, resumed, 2)
	s.do(t, http.MethodGet, "/api/nope", "", nil)
	s.do(t, http.MethodPost, "/api/rooms/m/messages", "text/plain", []byte("x"))

	m := s.scrape(t)
	metricEquals(t, m, "parley_appends_total", 3)
	metricEquals(t, m, "parley_commit_batch_events_sum", 3)
	if n := m["parley_commit_duration_seconds_count"]; n < 1 || n > 3 {
		t.Errorf("parley_commit_duration_seconds_count: got %v, want 1 to 3", n)
	}
	metricEquals(t, m, `parley_http_requests_total{code="201",method="POST",route="/api/rooms/:room/messages"}`, 3)
	metricEquals(t, m, `parley_http_requests_total{code="415",method="POST",route="/api/rooms/:room/messages"}`, 1)
	metricEquals(t, m, `parley_http_requests_total{code="404",method="",route="unmatched"}`, 1)
	metricEquals(t, m, `parley_http_request_duration_seconds_count{method="POST",route="/api/rooms/:room/messages"}`, 4)
	metricEquals(t, m, "parley_streams_open", 2)
	metricEquals(t, m, "parley_streams_opened_total", 2)
	metricEquals(t, m, "parley_stream_events_delivered_total", 5)
	metricEquals(t, m, "parley_stream_events_replayed_total", 2)
	metricEquals(t, m, "parley_stream_slow_consumer_disconnects_total", 0)
	metricEquals(t, m, "parley_scrub_pending_events", 0)
	metricEquals(t, m, "parley_scrub_passes_total", 0)
	metricEquals(t, m, "parley_scrub_failures_total", 0)
	if m["parley_db_size_bytes"] <= 0 {
		t.Errorf("parley_db_size_bytes: got %v, want > 0", m["parley_db_size_bytes"])
	}
	for _, series := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if _, ok := m[series]; !ok {
			t.Errorf("%s: missing", series)
		}
	}
	for series := range m {
		if strings.Contains(series, `route="/api/rooms/m/`) {
			t.Errorf("%s: labelled with a path, want the route pattern", series)
		}
	}

	// Streams are counted when they end, and never timed.
	stopLive()
	stopResumed()
	s.waitMetric(t, "parley_streams_open", 0)
	s.waitMetric(t, `parley_http_requests_total{code="200",method="GET",route="/api/rooms/:room/events"}`, 2)
	if _, ok := s.scrape(t)[`parley_http_request_duration_seconds_count{method="GET",route="/api/rooms/:room/events"}`]; ok {
		t.Error("event streams are timed as requests")
	}
}

// statsLog reports scrub failures its log never had.
type statsLog struct {
	store.Store
	failures int64
}

func (l *statsLog) Stats() store.LogStats {
	st := l.Store.Stats()
	st.ScrubFailures += l.failures
	return st
}

// TestMetricsShowTheScrub: a delete's scrub shows in /metrics as pending
// until a pass erased it, and the log's failed passes are counted.
func TestMetricsShowTheScrub(t *testing.T) {
	s := mustStartServerWith(t, nil, func(l store.Store) store.Store { return &statsLog{Store: l, failures: 2} })
	m := s.post(t, "d", map[string]string{"author": "a", "text": "gone soon"}, http.StatusCreated)
	s.do(t, http.MethodDelete, "/api/rooms/d/messages/"+m.ID.String()+"?author=a", "", nil)
	s.waitMetric(t, "parley_scrub_passes_total", 1)
	metrics := s.scrape(t)
	metricEquals(t, metrics, "parley_scrub_pending_events", 0)
	metricEquals(t, metrics, "parley_scrub_failures_total", 2)
}

func TestMetricsArePerServer(t *testing.T) {
	a, b := mustStartServer(t), mustStartServer(t)
	a.post(t, "x", map[string]string{"author": "a", "text": "1"}, http.StatusCreated)
	series := `parley_http_requests_total{code="201",method="POST",route="/api/rooms/:room/messages"}`
	metricEquals(t, a.scrape(t), series, 1)
	metricEquals(t, b.scrape(t), series, 0)
}

func TestReadyz(t *testing.T) {
	s := mustStartServer(t)
	if resp := s.do(t, http.MethodGet, "/readyz", "", nil); resp.status != http.StatusOK {
		t.Fatalf("got %d %s, want 200", resp.status, resp.body)
	}

	s.Drain()
	resp := s.do(t, http.MethodGet, "/readyz", "", nil)
	if resp.status != http.StatusServiceUnavailable {
		t.Fatalf("draining: got %d, want 503", resp.status)
	}
	resp.errorMessage(t)
	if resp.header.Get("Retry-After") == "" {
		t.Error("draining: no Retry-After")
	}
	// A draining server still serves: only new clients are turned away.
	if resp := s.do(t, http.MethodGet, "/healthz", "", nil); resp.status != http.StatusOK {
		t.Errorf("draining: /healthz got %d, want 200", resp.status)
	}
	s.post(t, "r", map[string]string{"author": "a", "text": "still served"}, http.StatusCreated)

	t.Run("db closed", func(t *testing.T) {
		s := mustStartServer(t)
		s.db.Close()
		if resp := s.do(t, http.MethodGet, "/readyz", "", nil); resp.status != http.StatusServiceUnavailable {
			t.Fatalf("got %d, want 503", resp.status)
		}
	})
}

// lockedBuffer is a log destination handlers write to concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitLog polls the log until it has a line with every part.
func waitLog(tb testing.TB, logs *lockedBuffer, parts ...string) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		for _, line := range strings.Split(logs.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no log line with %q in:\n%s", parts, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRequestAndStreamLogs(t *testing.T) {
	var logs lockedBuffer
	s := mustStartServer(t, func(srv *api.Server) {
		srv.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	r, stop := s.openStream(t, "/api/rooms/l/events")
	waitLog(t, &logs, `msg="stream opened"`, "rooms=1", "resumed=false")
	s.post(t, "l", map[string]string{"author": "a", "text": "1"}, http.StatusCreated)
	nextEvents(t, r, 1)
	stop()
	waitLog(t, &logs, "level=DEBUG", "msg=request", "method=POST", "route=/api/rooms/:room/messages", "status=201", "duration=")
	waitLog(t, &logs, `msg="stream closed"`, "sent=1", "duration=", `reason="client gone"`)
	waitLog(t, &logs, "level=DEBUG", "msg=request", "method=GET", "route=/api/rooms/:room/events", "status=200")

	// At info level requests are not logged.
	var quiet lockedBuffer
	q := mustStartServer(t, func(srv *api.Server) {
		srv.Logger = slog.New(slog.NewTextHandler(&quiet, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	q.post(t, "l", map[string]string{"author": "a", "text": "1"}, http.StatusCreated)
	if out := quiet.String(); strings.Contains(out, "msg=request") {
		t.Errorf("info level logged a request: %s", out)
	}
}
