package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// mustStartStalledNoop serves the no-op server's API but holds every POST of
// a run's messages until hold has passed since the first of them arrived, as
// a server stalled by a long commit or a collection would. The run's start
// marker goes through at once, so the stall begins with the schedule.
func mustStartStalledNoop(tb testing.TB, hold time.Duration) string {
	tb.Helper()
	api := mustStartNoop(tb).routes()
	var once sync.Once
	resumed := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if !bytes.Contains(body, []byte(":start")) {
				once.Do(func() { time.AfterFunc(hold, func() { close(resumed) }) })
				select {
				case <-resumed:
				case <-r.Context().Done():
					return
				}
			}
		}
		api.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// TestOpenLoopLatencyCountsQueueing: a rate-driven run measures latency from
// each message's scheduled send time, so the time a message waits for a busy
// worker counts (no coordinated omission). With one worker at 100 messages/s
// and the server stalled for hold, messages 0 to 49 are due in the first half
// of the stall and none can be answered or delivered before it ends: each is
// late by at least hold/2. They are at least a third of the at most 150 sent,
// so p90 must be at least hold/2. Timed from when the worker took them, only
// message 0 would wait. The bound is a floor derived from the stall, which a
// busy machine only raises.
func TestOpenLoopLatencyCountsQueueing(t *testing.T) {
	const hold = time.Second
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"fanout", []string{"fanout", "-subscribers", "1", "-publishers", "1"}},
		{"reconnect", []string{"reconnect", "-clients", "1", "-writers", "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := mustStartStalledNoop(t, hold)
			r := mustRunJSON(t, append(tc.args, "-server", url, "-rate", "100", "-duration", "1500ms", "-drain", "1m")...)
			floor := ms(hold/2) * 0.98 // a quantile is a bucket's midpoint, within 1/64 of the sample
			for _, name := range []string{"post", "publish_to_receive"} {
				if got := r.LatencyMS[name]; got.Count == 0 || got.P90 < floor {
					t.Errorf("%s latency: got p90 %.1f ms over %d samples, want at least %.1f ms: the stall's queueing is missing",
						name, got.P90, got.Count, floor)
				}
			}
		})
	}
}
