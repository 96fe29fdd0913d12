package api_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"runtime/debug"
	"slices"
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

// BenchmarkAppendWhileUploading measures text appends (64 keep-alive
// clients, as BenchmarkAppendHTTP) with and without uploads of 1 MiB files
// into another room of the same server, in interleaved rounds (quiet,
// loaded, quiet, ...) so that the machine's other load falls on both
// sides alike. Each round posts b.N/rounds appends (give -benchtime so
// that a round lasts seconds). It reports the median
// appends/s of each side, their ratio, and the spread (slowest and fastest
// round as a percentage of the median).
//
//   - uploads=4/s: a busy server's load, 4 uploads a second (4 MiB/s, as
//     eight people at the default -rate-upload of 30 a minute), each
//     started on its tick whatever the others are doing; random bytes, so
//     no image work.
//   - uploads=4/s-photos: the same with 1 MiB JPEG photos (1.2 MP): their
//     metadata is stripped and a thumbnail made for each.
//   - uploads=saturated: two clients uploading random bytes back to back
//     as fast as the server takes them, the worst case.
//
// The uploading clients run on the same machine, and their CPU counts
// against the appends too.
func BenchmarkAppendWhileUploading(b *testing.B) {
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	const rounds = 7
	for _, load := range uploadLoads {
		b.Run(load.name, func(b *testing.B) {
			content := load.content(b)
			s := benchFileServer(b)
			n := max(b.N/rounds, 1)
			var quiet, loaded []float64
			var uploaded uploadCount
			var busy time.Duration
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
			appendRound(b, client, s.URL(), n) // warm up: connections, the room's buckets
			b.ResetTimer()
			for r := 0; r < rounds; r++ {
				quiet = append(quiet, appendRound(b, client, s.URL(), n))
				stop := startUploads(b, s.URL(), load.every, load.conns, content, &uploaded)
				t0 := time.Now()
				loaded = append(loaded, appendRound(b, client, s.URL(), n))
				busy += time.Since(t0)
				stop()
				if load.thumbs {
					waitThumbs(b, s, uploaded.files.Load()) // the next quiet round is quiet
				}
			}
			b.StopTimer()
			mq, ml := median(quiet), median(loaded)
			b.ReportMetric(mq, "quiet-appends/s")
			b.ReportMetric(ml, "loaded-appends/s")
			b.ReportMetric(100*(ml-mq)/mq, "change-%")
			b.ReportMetric(100*slices.Min(quiet)/mq, "quiet-min-%")
			b.ReportMetric(100*slices.Max(quiet)/mq, "quiet-max-%")
			b.ReportMetric(100*slices.Min(loaded)/ml, "loaded-min-%")
			b.ReportMetric(100*slices.Max(loaded)/ml, "loaded-max-%")
			b.ReportMetric(float64(uploaded.bytes.Load())/(1<<20)/busy.Seconds(), "upload-MiB/s")
		})
	}
}

// appendRound posts n text messages from 64 clients and returns appends/s.
func appendRound(b *testing.B, client *http.Client, base string, n int) float64 {
	const writers = 64
	url := base + "/api/rooms/bench/messages"
	body := []byte(`{"author":"bench","text":"the quick brown fox jumps over the lazy dog"}`)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if !postText(b, client, url, body) {
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// uploadLoad is an upload load the append benchmarks run beside: one
// upload every `every` from up to conns clients (every 0: back to back
// from conns clients), of content made by content (thumbs: wait for the
// thumbnails after each loaded round, so the next quiet round is quiet).
type uploadLoad struct {
	name    string
	every   time.Duration
	conns   int
	content func(b *testing.B) func(i int64, buf []byte) []byte
	thumbs  bool
}

// uploadLoads are a busy server's uploads of random files, of photos, and
// uploads back to back.
var uploadLoads = []uploadLoad{
	{"uploads=4/s", 250 * time.Millisecond, 8, randomFiles, false},
	{"uploads=4/s-photos", 250 * time.Millisecond, 8, photos, true},
	{"uploads=saturated", 0, 2, randomFiles, false},
}

// randomFiles returns content for startUploads: the 1 MiB of random bytes,
// made new content each time.
func randomFiles(*testing.B) func(int64, []byte) []byte {
	return func(i int64, buf []byte) []byte {
		buf[1], buf[2], buf[3] = byte(i), byte(i>>8), byte(i>>16)
		return buf
	}
}

// postText posts one text message and reports whether it was stored.
func postText(b *testing.B, client *http.Client, url string, body []byte) bool {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Error(err)
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Errorf("status %d", resp.StatusCode)
		return false
	}
	return true
}

// startUploads uploads files into room "files": one every `every` from up
// to conns clients at once, or, with every 0, back to back from conns
// clients. The i-th upload is content(i, a 1 MiB buffer of random bytes
// for the client to use). It counts the bytes sent in uploaded; the
// function it returns stops and waits for the uploads under way.
func startUploads(b *testing.B, base string, every time.Duration, conns int, content func(int64, []byte) []byte, uploaded *uploadCount) func() {
	url := base + "/api/rooms/files/files?name=f.bin&author=bench"
	done := make(chan struct{})
	slots := make(chan []byte, conns) // one buffer per client
	for c := range conns {
		data := make([]byte, 1<<20)
		rand.Read(data)
		data[0] = byte(c)
		slots <- data
	}
	var seq atomic.Int64
	upload := func(data []byte) {
		body := content(seq.Add(1), data)
		uploadOnce(b, http.DefaultClient, url, body)
		uploaded.bytes.Add(int64(len(body)))
		uploaded.files.Add(1)
	}
	var wg sync.WaitGroup
	if every == 0 {
		for range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data := <-slots
				for {
					select {
					case <-done:
						return
					default:
					}
					upload(data)
				}
			}()
		}
	} else {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for first := true; ; first = false {
				if !first {
					select {
					case <-done:
						return
					case <-tick.C:
					}
				}
				select {
				case data := <-slots:
					wg.Add(1)
					go func() {
						defer wg.Done()
						upload(data)
						slots <- data
					}()
				default: // conns uploads still running: this tick is skipped
				}
			}
		}()
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

// photos returns content for startUploads: JPEG photos of about 1 MiB
// (1280 × 960 noise at quality 90), 48 different ones made beforehand, so
// that the server strips and thumbnails real images and rarely finds the
// content stored already.
func photos(b *testing.B) func(int64, []byte) []byte {
	imgs := make([][]byte, 48)
	m := image.NewRGBA(image.Rect(0, 0, 1280, 960))
	rand.Read(m.Pix)
	for i := range imgs {
		m.Pix[i] ^= 0xff // a different picture each time
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 90}); err != nil {
			b.Fatal(err)
		}
		imgs[i] = buf.Bytes()
	}
	return func(i int64, _ []byte) []byte { return imgs[i%int64(len(imgs))] }
}

// uploadCount is what startUploads sent.
type uploadCount struct{ bytes, files atomic.Int64 }

// waitThumbs waits (a minute at most: a full queue drops work) until the
// server has made or refused a thumbnail for each of n photos.
func waitThumbs(b *testing.B, s *testServer, n int64) {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m := s.scrape(b)
		if int64(m["parley_thumbnails_made_total"]+m["parley_thumbnails_refused_total"]) >= n {
			return
		}
	}
	b.Logf("thumbnails still not made for all %d photos after a minute", n)
}
