package api_test

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

// BenchmarkExport exports a room of 1,000,000 events over loopback HTTP in
// each format and reports events (or messages) per second and how much the
// process's heap grew: at its peak during the exports (sampled every 5ms),
// and after them. An export reads a chunk at a time, so neither may depend
// on the room's size. Seeding takes a while; pick one format with
// -bench 'Export/format=jsonl'.
func BenchmarkExport(b *testing.B) {
	const n = 1_000_000
	s := mustStartServer(b)
	seed(b, s, "big", n)
	for _, f := range []string{"jsonl", "json", "csv", "txt", "md", "html"} {
		b.Run("format="+f, func(b *testing.B) {
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
			metrics.Read(live)
			stop, peak, peakLive := sampleHeap()
			start, exports := time.Now(), 0
			for b.Loop() {
				resp, err := http.Get(s.URL() + "/api/rooms/big/export?format=" + f)
				if err != nil {
					b.Fatal(err)
				}
				lines, err := countLines(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || lines < n {
					b.Fatalf("got %d, %d lines, %v; want 200 and at least %d lines", resp.StatusCode, lines, err, n)
				}
				exports++
			}
			elapsed := time.Since(start)
			stop()
			runtime.GC()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			const mib = 1 << 20
			b.ReportMetric(float64(n*exports)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(int64(*peak)-int64(before.HeapInuse))/mib, "peak-heap-growth-MiB")
			b.ReportMetric(float64(int64(*peakLive)-int64(live[0].Value.Uint64()))/mib, "peak-live-heap-growth-MiB")
			b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/mib, "heap-growth-after-MiB")
			b.ReportMetric(float64(before.HeapInuse)/mib, "heap-before-MiB")
		})
	}
}

// sampleHeap records the largest HeapInuse, and the largest live heap (as
// of the last GC), until stop is called.
func sampleHeap() (stop func(), peak, peakLive *uint64) {
	peak, peakLive = new(uint64), new(uint64)
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			*peak = max(*peak, ms.HeapInuse)
			metrics.Read(live)
			*peakLive = max(*peakLive, live[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }, peak, peakLive
}

// countLines counts the newlines of r through a fixed buffer.
func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 256<<10)
	lines := 0
	for {
		m, err := r.Read(buf)
		lines += bytes.Count(buf[:m], []byte{'\n'})
		if err == io.EOF {
			return lines, nil
		}
		if err != nil {
			return lines, err
		}
	}
}
