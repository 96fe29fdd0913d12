package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the program when the all
// scenario starts its no-op server as a child process.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "noop" {
		main()
		return
	}
	os.Exit(m.Run())
}

// mustStartNoop starts a no-op server on a free loopback port.
func mustStartNoop(tb testing.TB, configure ...func(*NoopServer)) *NoopServer {
	tb.Helper()
	s := NewNoopServer()
	s.Addr = "127.0.0.1:0"
	for _, f := range configure {
		f(s)
	}
	if err := s.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// runMain runs the program with args, in an environment without
// PARLEY_TOKEN, and returns what it printed and its error.
func runMain(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	return runMainEnv(tb, nil, args...)
}

// runMainEnv is runMain in the environment env.
func runMainEnv(tb testing.TB, env map[string]string, args ...string) (string, error) {
	tb.Helper()
	// A deadline for a hung run, beyond the longest drain the tests ask for.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }}
	err := m.Run(ctx, args)
	if errOut.Len() > 0 {
		tb.Logf("stderr: %s", errOut.String())
	}
	return out.String(), err
}

// mustRunJSON runs a scenario with -json and decodes its report.
func mustRunJSON(tb testing.TB, args ...string) jsonReport {
	tb.Helper()
	out, err := runMain(tb, append(args, "-json")...)
	if err != nil {
		tb.Fatalf("%v: %v\n%s", args, err, out)
	}
	var r jsonReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		tb.Fatalf("decode report: %v\n%s", err, out)
	}
	if !r.OK || len(r.Problems) > 0 {
		tb.Fatalf("got problems %q, want none", r.Problems)
	}
	return r
}

// TestScenarios runs each scenario briefly against the no-op server and
// checks what happened, never how fast: a busy machine may send only a few
// messages in the run's duration (each run sends at least one), so the
// checks hold for any number, and the drain waits up to a minute for
// deliveries.
func TestScenarios(t *testing.T) {
	noop := mustStartNoop(t)
	srv := noop.URL()

	t.Run("append", func(t *testing.T) {
		r := mustRunJSON(t, "append", "-server", srv, "-writers", "4", "-duration", "300ms")
		if r.Counts["acked"] == 0 || r.Counts["acked"] != r.Counts["sent"] || r.Counts["errors"] != 0 {
			t.Fatalf("got counts %v, want every append acknowledged", r.Counts)
		}
		if r.Rates["appends_per_s"] <= 0 || r.LatencyMS["post"].Count != uint64(r.Counts["acked"]) {
			t.Fatalf("got rates %v latency %v", r.Rates, r.LatencyMS)
		}
	})
	t.Run("fanout", func(t *testing.T) {
		r := mustRunJSON(t, "fanout", "-server", srv, "-subscribers", "20", "-rate", "100", "-duration", "500ms", "-drain", "1m")
		wantEveryAckedDelivered(t, r, 20)
		if got, want := r.LatencyMS["publish_to_receive"].Count, uint64(r.Counts["deliveries"]); got != want {
			t.Fatalf("got %d latency samples, want one per delivery, %d", got, want)
		}
	})
	t.Run("rooms", func(t *testing.T) {
		r := mustRunJSON(t, "rooms", "-server", srv, "-room", "r", "-rooms", "5", "-per-room", "2", "-rate", "100",
			"-duration", "500ms", "-drain", "1m")
		if r.Counts["subscribers"] != 10 {
			t.Fatalf("got %d subscribers, want 10", r.Counts["subscribers"])
		}
		wantEveryAckedDelivered(t, r, 2)
	})
	t.Run("reconnect", func(t *testing.T) {
		// Streams live 20-100 ms and the schedule spans about a second
		// however slow the machine, so every client drops its stream.
		r := mustRunJSON(t, "reconnect", "-server", srv, "-clients", "10", "-writers", "2", "-rate", "200",
			"-duration", "1s", "-drop-min", "20ms", "-drop-max", "100ms", "-drain", "1m")
		wantEveryAckedDelivered(t, r, 10)
		if r.Counts["history"] != r.Counts["acked"] || r.Counts["drops"] == 0 {
			t.Fatalf("got counts %v, want the whole history despite drops", r.Counts)
		}
	})
	t.Run("replay", func(t *testing.T) {
		r := mustRunJSON(t, "replay", "-server", srv, "-events", "500", "-writers", "4")
		if r.Counts["acked"] != 500 || r.Counts["received"] != 500 || r.Rates["replay_events_per_s"] <= 0 {
			t.Fatalf("got counts %v rates %v, want 500 events replayed", r.Counts, r.Rates)
		}
	})
	for _, mode := range []string{"process", "inprocess"} {
		t.Run("all "+mode, func(t *testing.T) {
			out, err := runMain(t, "all", "-server", srv, "-noop", mode, "-writers", "4", "-subscribers", "10",
				"-rate", "50", "-duration", "300ms", "-drain", "1m", "-disk-dir", t.TempDir(), "-probes", "5", "-json")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var cmp struct {
				NoopMode     string `json:"noop_mode"`
				Noop, Server []jsonReport
				Disk         *jsonReport
				Ratios       []ratio
			}
			if err := json.Unmarshal([]byte(out), &cmp); err != nil {
				t.Fatal(err)
			}
			if cmp.NoopMode != mode || len(cmp.Noop) != 2 || len(cmp.Server) != 2 || cmp.Disk == nil || len(cmp.Ratios) != 8 {
				t.Fatalf("got mode %q, %d/%d reports, disk %v and %d ratios, want %q, 2/2, a disk report and 8",
					cmp.NoopMode, len(cmp.Noop), len(cmp.Server), cmp.Disk != nil, len(cmp.Ratios), mode)
			}
			against := map[string]int{}
			for _, r := range cmp.Ratios {
				against[r.Against]++
				if r.Ratio <= 0 {
					t.Errorf("got ratio %+v, want a positive one", r)
				}
			}
			if against["noop"] != 6 || against["disk"] != 2 {
				t.Errorf("got ratios against %v, want 6 against noop and 2 against disk", against)
			}
		})
	}
	t.Run("table", func(t *testing.T) {
		out, err := runMain(t, "append", "-server", srv, "-writers", "2", "-duration", "100ms")
		if err != nil || !strings.Contains(out, "appends_per_s") || !strings.Contains(out, "verified: ok") {
			t.Fatalf("got %v\n%s", err, out)
		}
	})
}

// wantEveryAckedDelivered checks a run with subscribers per room: something
// was acknowledged, nothing failed, and each acknowledged message reached
// every subscriber of its room exactly once.
func wantEveryAckedDelivered(tb testing.TB, r jsonReport, perRoom int64) {
	tb.Helper()
	c := r.Counts
	if c["acked"] == 0 || c["acked"] != c["sent"] || c["errors"] != 0 {
		tb.Fatalf("got counts %v, want every message sent acknowledged", c)
	}
	if c["deliveries"] != perRoom*c["acked"] || c["missing"] != 0 || c["duplicates"] != 0 || c["out_of_order"] != 0 {
		tb.Fatalf("got counts %v, want %d deliveries of each acknowledged message, in order", c, perRoom)
	}
}

// A server that forgets events must fail the checks: they are not vacuous.
// It keeps one event, and the run sends two at least (the second is due at
// 50 ms, long before the 2 s are up), so the history always lacks one.
func TestReconnectDetectsLoss(t *testing.T) {
	noop := mustStartNoop(t, func(s *NoopServer) { s.Keep = 1 })
	out, err := runMain(t, "reconnect", "-server", noop.URL(), "-clients", "5", "-writers", "2", "-rate", "20",
		"-duration", "2s", "-drop-min", "20ms", "-drop-max", "50ms", "-drain", "300ms", "-json")
	if err == nil || !strings.Contains(err.Error(), "checks failed") {
		t.Fatalf("got error %v, want failed checks", err)
	}
	var r jsonReport
	if jerr := json.Unmarshal([]byte(out), &r); jerr != nil {
		t.Fatal(jerr)
	}
	if r.OK || r.Counts["acked_not_in_history"] == 0 {
		t.Fatalf("got ok %v counts %v, want acknowledged messages missing from the history", r.OK, r.Counts)
	}
}

func TestBadArguments(t *testing.T) {
	noop := mustStartNoop(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no scenario", nil, "help"},
		{"unknown scenario", []string{"bogus"}, "unknown scenario"},
		{"zero writers", []string{"append", "-writers", "0"}, "-writers"},
		{"zero rate", []string{"fanout", "-rate", "0"}, "-rate"},
		{"bad room", []string{"append", "-room", "Bad Room"}, "-room"},
		{"long room prefix", []string{"rooms", "-room", strings.Repeat("a", 62)}, "-room"},
		{"other scheme", []string{"append", "-server", "ftp://127.0.0.1:1"}, "want http://host:port or https://host:port"},
		{"path in url", []string{"append", "-server", noop.URL() + "/api"}, "want http://host:port"},
		{"ca over http", []string{"append", "-server", noop.URL(), "-ca", "/dev/null"}, "need an https server"},
		{"insecure over http", []string{"append", "-server", noop.URL(), "-insecure"}, "need an https server"},
		{"ca and insecure", []string{"append", "-server", "https://127.0.0.1:1", "-ca", "/dev/null", "-insecure"}, "give one"},
		{"no such ca", []string{"append", "-server", "https://127.0.0.1:1", "-ca", "/nonexistent-parley-bench.pem"}, "-ca"},
		{"ca without a certificate", []string{"append", "-server", "https://127.0.0.1:1", "-ca", "/dev/null"}, "no PEM certificate"},
		{"token with a space", []string{"append", "-server", noop.URL(), "-token", "a b"}, "-token"},
		{"https server down", []string{"append", "-server", "https://127.0.0.1:1", "-insecure"}, "not healthy"},
		{"extra args", []string{"append", "more"}, "unexpected arguments"},
		{"server down", []string{"append", "-server", "http://127.0.0.1:1"}, "not healthy"},
		{"disk: no such dir", []string{"disk", "-dir", "/nonexistent-parley-bench"}, "-dir"},
		{"disk: zero size", []string{"disk", "-size", "0"}, "-size"},
		{"disk: extra args", []string{"disk", "more"}, "unexpected arguments"},
		{"all: no such disk dir", []string{"all", "-server", noop.URL(), "-disk-dir", "/nonexistent-parley-bench"}, "-disk-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runMain(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
