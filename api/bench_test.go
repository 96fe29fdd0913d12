package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppendHTTP measures acknowledged (fsynced) appends per second
// from 64 concurrent keep-alive clients over loopback HTTP.
func BenchmarkAppendHTTP(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(400)) // as parley serve sets it
	benchAppend(b, mustStartServer(b))
}

func benchAppend(b *testing.B, s *testServer) {
	benchAppendURL(b, s.URL())
}

// benchAppendURL posts from 64 keep-alive clients to the server at base.
func benchAppendURL(b *testing.B, base string) {
	const writers = 64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: writers, MaxConnsPerHost: writers}}
	url := base + "/api/rooms/bench/messages"
	body := []byte(`{"author":"bench","text":"the quick brown fox jumps over the lazy dog"}`)
	var next atomic.Int64
	var wg sync.WaitGroup
	lat := make([][]time.Duration, writers)
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(float64(percentile(all, 0.99).Microseconds())/1000, "p99-ms")
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sorted := slices.Clone(d)
	slices.Sort(sorted)
	return sorted[int(float64(len(sorted)-1)*p)]
}

// BenchmarkReplay measures how fast one client catching up from the start
// of a 100,000-event room receives it over loopback HTTP.
func BenchmarkReplay(b *testing.B) {
	s := mustStartServer(b)
	const n = 100_000
	seed(b, s, "replay", n)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/api/rooms/replay/events?last_event_id=00000000000000000000000000", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		got := countEvents(b, resp.Body, n)
		cancel()
		resp.Body.Close()
		if got != n {
			b.Fatalf("got %d events, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "events/s")
}

// countEvents reads until it has seen n event frames ("\nevent: ").
func countEvents(b *testing.B, r io.Reader, n int) int {
	buf := make([]byte, 256<<10)
	marker := []byte("\nevent: ")
	got := 0
	var carry []byte
	for got < n {
		m, err := r.Read(buf)
		chunk := append(carry, buf[:m]...)
		got += bytes.Count(chunk, marker)
		// Keep a marker's length of tail so one split across reads still counts once.
		if k := len(chunk) - len(marker) + 1; k > 0 {
			carry = append(carry[:0], chunk[k:]...)
			got -= bytes.Count(carry, marker) // carry can't hold a whole marker
		}
		if err != nil {
			if err != io.EOF {
				b.Fatal(err)
			}
			break
		}
	}
	return got
}
