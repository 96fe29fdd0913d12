package api_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
)

// benchFileServer is a server without upload limits (so the benchmark
// measures storage, not the rate limiter) on a real bbolt file.
func benchFileServer(b *testing.B) *testServer {
	return mustStartServer(b, func(srv *api.Server) {
		srv.FileLimits.MaxFileBytes = 64 << 20
		srv.FileLimits.UploadsPerMinute, srv.FileLimits.MaxUploads, srv.FileLimits.UserQuota = 0, 0, 0
	})
}

// uploadOnce posts data as a new file and fails b unless it is stored.
func uploadOnce(b *testing.B, client *http.Client, url string, data []byte) {
	resp, err := client.Post(url, "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Errorf("upload: status %d", resp.StatusCode)
	}
}

// BenchmarkUpload measures acknowledged uploads (bytes fsynced, record
// committed) of 1 MiB and 20 MiB of random bytes, one at a time over
// loopback HTTP. Each upload's content differs, so none is deduplicated.
func BenchmarkUpload(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	for _, size := range []int{1 << 20, 20 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			s := benchFileServer(b)
			data := make([]byte, size)
			rand.Read(data)
			url := s.URL() + "/api/rooms/bench/files?name=f.bin&author=bench"
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				data[0], data[1] = byte(i), byte(i>>8) // new content each time
				uploadOnce(b, http.DefaultClient, url, data)
			}
		})
	}
}

// BenchmarkAppendWhileUploading measures text appends (64 clients, as
// BenchmarkAppendHTTP) alone and while two clients upload 1 MiB files
// back to back: files are written beside the bbolt file, so a text commit
// never waits for file bytes (docs/files.md, "Why not inside").
func BenchmarkAppendWhileUploading(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	for _, uploaders := range []int{0, 2} {
		b.Run(fmt.Sprintf("uploaders=%d", uploaders), func(b *testing.B) {
			s := benchFileServer(b)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var uploaded atomic.Int64
			start := time.Now()
			for u := 0; u < uploaders; u++ {
				wg.Add(1)
				go func(u int) {
					defer wg.Done()
					data := make([]byte, 1<<20)
					rand.Read(data)
					url := s.URL() + "/api/rooms/files/files?name=f.bin&author=bench"
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						data[0], data[1], data[2] = byte(u), byte(i), byte(i>>8)
						uploadOnce(b, http.DefaultClient, url, data)
						uploaded.Add(int64(len(data)))
					}
				}(u)
			}
			benchAppend(b, s)
			close(stop)
			wg.Wait()
			if uploaders > 0 {
				b.ReportMetric(float64(uploaded.Load())/(1<<20)/time.Since(start).Seconds(), "upload-MiB/s")
			}
		})
	}
}
