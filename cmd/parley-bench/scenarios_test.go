package main

import (
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store"
)

// mustStartParley starts a real Parley server, for the scenarios that read
// its /metrics.
func mustStartParley(tb testing.TB) *api.Server {
	tb.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := store.NewDB(filepath.Join(tb.TempDir(), "parley.db"))
	db.Logger = quiet
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	srv := api.NewServer(db)
	srv.Addr, srv.Logger = "127.0.0.1:0", quiet
	db.OnCommit = srv.ObserveCommit
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

// A server that forgets events must fail the storm's checks.
func TestStormDetectsLoss(t *testing.T) {
	noop := mustStartNoop(t, func(s *NoopServer) { s.Keep = 4 })
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
