package main

import (
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store/bolt"
)

// mustStartParley starts a real Parley server, for the scenarios that read
// its /metrics.
func mustStartParley(tb testing.TB) *api.Server {
	tb.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := bolt.NewDB(filepath.Join(tb.TempDir(), "parley.db"))
	db.Logger = quiet
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	srv := api.NewServer(db)
	srv.Addr, srv.Logger = "127.0.0.1:0", quiet
	if err := srv.Open(); err != nil {
		db.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		srv.Close()
		db.Close()
	})
	return srv
}

func TestStorm(t *testing.T) {
	noop := mustStartNoop(t)
	r := mustRunJSON(t, "storm", "-server", noop.URL(), "-clients", "50", "-events", "40", "-writers", "4")
	if r.Counts["acked"] != 40 || r.Counts["deliveries"] != 50*40 || r.Counts["clients"] != 50 {
		t.Fatalf("got counts %v, want 50 clients each receiving the 40 events", r.Counts)
	}
	if r.LatencyMS["catch_up"].Count != 50 || r.Gauges["all_caught_up_s"] <= 0 {
		t.Fatalf("got catch_up %+v, gauges %v", r.LatencyMS["catch_up"], r.Gauges)
	}
}

// A server that forgets events must fail the storm's checks. It keeps one
// event, so two seeded events show the loss (16 idle writers take the first
// 16 at once), however slowly they are answered.
func TestStormDetectsLoss(t *testing.T) {
	noop := mustStartNoop(t, func(s *NoopServer) { s.Keep = 1 })
	_, err := runMain(t, "storm", "-server", noop.URL(), "-clients", "5", "-events", "20", "-catch-up-timeout", "2s", "-json")
	if err == nil || !strings.Contains(err.Error(), "events not received") {
		t.Fatalf("got error %v, want events not received", err)
	}
}

func TestIdle(t *testing.T) {
	srv := mustStartParley(t)
	r := mustRunJSON(t, "idle", "-server", srv.URL(), "-streams", "50", "-hold", "0s")
	if r.Counts["opened"] != 50 || r.Counts["disconnects"] != 0 {
		t.Fatalf("got counts %v, want 50 streams held", r.Counts)
	}
	if r.Counts["process_resident_memory_bytes_after"] <= 0 {
		t.Fatalf("got counts %v, want memory read from /metrics", r.Counts)
	}
	if _, ok := r.Gauges["rss_kib_per_stream"]; !ok {
		t.Fatalf("got gauges %v, want rss_kib_per_stream", r.Gauges)
	}
}

func TestIdleNeedsMetrics(t *testing.T) {
	noop := mustStartNoop(t)
	if _, err := runMain(t, "idle", "-server", noop.URL(), "-streams", "1"); err == nil || !strings.Contains(err.Error(), "/metrics") {
		t.Fatalf("got %v, want an error about /metrics", err)
	}
}

func TestExport(t *testing.T) {
	srv := mustStartParley(t)
	r := mustRunJSON(t, "export", "-server", srv.URL(), "-events", "3000", "-writers", "8", "-sample", "5ms")
	if r.Counts["acked"] != 3000 || r.Counts["exported"] != 3000 || r.Rates["export_events_per_s"] <= 0 {
		t.Fatalf("got counts %v rates %v, want 3000 events exported", r.Counts, r.Rates)
	}
}

func TestPprofMustBeTheServersHost(t *testing.T) {
	_, err := runMain(t, "idle", "-server", "http://127.0.0.1:1", "-pprof", "http://192.0.2.1:6060")
	if err == nil || !strings.Contains(err.Error(), "-pprof") {
		t.Fatalf("got %v, want a -pprof error", err)
	}
}

// TestReconnectSoak: with -sample the reconnect scenario reads the server's
// memory throughout and reports its level and slope. The report needs three
// readings: the first, one more at the next tick, and the last at the end
// of the run, so all the test needs is the first /metrics answered within
// the 5 s run (it took up to a second with the machine loaded 30 deep).
func TestReconnectSoak(t *testing.T) {
	srv := mustStartParley(t)
	r := mustRunJSON(t, "reconnect", "-server", srv.URL(), "-clients", "10", "-writers", "2", "-rate", "20",
		"-duration", "5s", "-drop-min", "20ms", "-drop-max", "100ms", "-sample", "10ms", "-drain", "1m")
	if r.Counts["memory_samples"] < 3 {
		t.Fatalf("got %d memory samples, want at least the 3 that judging growth needs", r.Counts["memory_samples"])
	}
	for _, g := range []string{"goroutines_after_warmup", "goroutines_at_end", "heap_inuse_mib_max", "rss_mib_slope_per_10min"} {
		if _, ok := r.Gauges[g]; !ok {
			t.Fatalf("got gauges %v, want %s", r.Gauges, g)
		}
	}
	if r.Gauges["goroutines_after_warmup"] < 10 {
		t.Fatalf("goroutines after warm-up: got %v, want at least one per client stream", r.Gauges["goroutines_after_warmup"])
	}
}

func TestSlope(t *testing.T) {
	var samples []memSample
	for i := range 10 {
		samples = append(samples, memSample{at: time.Duration(i) * time.Second, m: map[string]float64{"x": 5 + 2*float64(i)}})
	}
	if got := slope(samples, func(s memSample) float64 { return s.m["x"] }); math.Abs(got-2) > 1e-9 {
		t.Fatalf("got slope %v, want 2", got)
	}
}

func TestDisk(t *testing.T) {
	dir := t.TempDir()
	r := mustRunJSON(t, "disk", "-dir", dir, "-writers", "8", "-duration", "300ms", "-probes", "10")
	acked := r.Counts["acked"]
	if acked == 0 || r.Counts["stored"] != acked || r.Counts["commits"] == 0 || r.Counts["errors"] != 0 {
		t.Fatalf("got counts %v, want every acknowledged append stored", r.Counts)
	}
	if r.LatencyMS["fdatasync"].Count != 10 || r.LatencyMS["append"].Count != uint64(acked) ||
		r.LatencyMS["commit"].Count != uint64(r.Counts["commits"]) {
		t.Fatalf("got latencies %v", r.LatencyMS)
	}
	if got := r.Gauges["events_per_commit"]; got < 1 || got > 8 {
		t.Fatalf("got %v events per commit, want 1 to 8 from 8 writers", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("scratch files left behind: %v", left)
	}
}
