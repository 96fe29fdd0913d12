package api_test

import (
	"net/http"
	"runtime/debug"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkPacedAppendWhileUploading is BenchmarkAppendWhileUploading at
// a busy server's text rate rather than as fast as the machine goes: 1,000
// appends a second are offered on a fixed schedule, quiet then while
// uploads run (the same loads), in interleaved rounds. It reports the rate
// achieved and the latency from each append's scheduled time (so a stall
// counts for every append it delays), medians of the rounds.
func BenchmarkPacedAppendWhileUploading(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	const (
		rounds = 5
		rate   = 1000
	)
	for _, load := range uploadLoads {
		b.Run(load.name, func(b *testing.B) {
			content := load.content(b)
			s := benchFileServer(b)
			n := max(b.N/rounds, 1)
			var quiet, loaded [3][]float64 // rate, p50 ms, p99 ms
			var uploaded uploadCount
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
			pacedRound(b, client, s.URL(), min(n, rate), rate) // warm up
			b.ResetTimer()
			for r := 0; r < rounds; r++ {
				for i, v := range pacedRound(b, client, s.URL(), n, rate) {
					quiet[i] = append(quiet[i], v)
				}
				stop := startUploads(b, s.URL(), load.every, load.conns, content, &uploaded)
				for i, v := range pacedRound(b, client, s.URL(), n, rate) {
					loaded[i] = append(loaded[i], v)
				}
				stop()
				if load.thumbs {
					waitThumbs(b, s, uploaded.files.Load())
				}
			}
			b.StopTimer()
			b.ReportMetric(median(quiet[0]), "quiet-appends/s")
			b.ReportMetric(median(loaded[0]), "loaded-appends/s")
			b.ReportMetric(median(quiet[1]), "quiet-p50-ms")
			b.ReportMetric(median(loaded[1]), "loaded-p50-ms")
			b.ReportMetric(median(quiet[2]), "quiet-p99-ms")
			b.ReportMetric(median(loaded[2]), "loaded-p99-ms")
		})
	}
}

// pacedRound offers n text appends at rate a second from up to 64
// clients and returns the appends/s achieved and the p50 and p99 latency
// in ms, from each append's scheduled time.
func pacedRound(b *testing.B, client *http.Client, base string, n, rate int) [3]float64 {
	url := base + "/api/rooms/bench/messages"
	body := []byte(`{"author":"bench","text":"the quick brown fox jumps over the lazy dog"}`)
	due := make(chan time.Time, n)
	lat := make([]time.Duration, n)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for at := range due {
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
				}
				if !postText(b, client, url, body) {
					return
				}
				mu.Lock()
				lat[next] = time.Since(at)
				next++
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	for i := range n {
		due <- start.Add(time.Duration(i) * time.Second / time.Duration(rate))
	}
	close(due)
	wg.Wait()
	took := time.Since(start)
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return [3]float64{float64(n) / took.Seconds(), ms(lat[n/2]), ms(lat[n*99/100])}
}
