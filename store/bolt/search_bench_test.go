package bolt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/search"
)

// The search benchmarks (docs/performance.md, "Search, part B"):
//
//	go test ./store/bolt -run '^$' -bench 'SearchAppend' -benchtime 3000x -count 3
//	go test ./store/bolt -run '^$' -bench 'SearchQuery|SearchReindex' -benchtime 100x -timeout 60m
//
// Their messages are English sentences of chat length taken from the doc
// comments of the Go standard library (GOROOT), so words follow a natural
// distribution. The query benchmark builds its file (PARLEY_BENCH_SEARCH
// messages, default 1,000,000, in 100 rooms) once, in
// $PARLEY_BENCH_DIR (default: the temp directory), for later runs.

var (
	corpusOnce sync.Once
	corpus     []string
)

// benchSentences returns the corpus: sentences of 40 to 200 bytes.
func benchSentences(b *testing.B) []string {
	corpusOnce.Do(func() {
		root := runtime.GOROOT()
		split := regexp.MustCompile(`[.!?]\s+`)
		var text strings.Builder
		for _, dir := range []string{"net/http", "os", "io", "strings", "fmt", "time", "bufio", "encoding/json", "sync", "context", "database/sql", "crypto/tls"} {
			files, _ := filepath.Glob(filepath.Join(root, "src", dir, "*.go"))
			for _, f := range files {
				src, err := os.ReadFile(f)
				if err != nil {
					continue
				}
				for line := range strings.Lines(string(src)) {
					if l := strings.TrimSpace(line); strings.HasPrefix(l, "// ") {
						text.WriteString(l[3:] + " ")
					}
				}
			}
		}
		for _, s := range split.Split(text.String(), -1) {
			if len(s) >= 40 && len(s) <= 200 {
				corpus = append(corpus, s)
			}
		}
	})
	if len(corpus) < 1000 {
		b.Fatalf("only %d sentences in GOROOT's doc comments", len(corpus))
	}
	return corpus
}

// BenchmarkSearchAppend measures appends per second from 32 writers into
// 100 rooms, each acknowledged after its fsynced commit, into a log
// without the search index and one with it, alternately in rounds of 500
// appends, so the machine's changing load falls on both alike; ratio is
// with ÷ without (the goal: at least 0.9).
func BenchmarkSearchAppend(b *testing.B) {
	texts := benchSentences(b)
	open := func(index bool) *DB {
		return mustOpenDB(b, "", func(d *DB) {
			d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			d.noSearchIndex = !index
		})
	}
	logs := [2]*DB{open(false), open(true)}
	var took [2]time.Duration
	var next atomic.Int64
	round := func(d *DB, n int) time.Duration {
		var wg sync.WaitGroup
		var left atomic.Int64
		left.Store(int64(n))
		start := time.Now()
		for range 32 {
			wg.Go(func() {
				for left.Add(-1) >= 0 {
					i := next.Add(1)
					_, _, err := d.Append(context.Background(), store.Event{Room: fmt.Sprint("room", i%benchRooms), Type: store.TypeMessage,
						Author: "bench", Text: texts[int(i*7919)%len(texts)]})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += 500 {
		n := min(500, b.N-done)
		for i, d := range logs {
			took[i] += round(d, n)
		}
	}
	without, with := float64(b.N)/took[0].Seconds(), float64(b.N)/took[1].Seconds()
	b.ReportMetric(without, "without-appends/s")
	b.ReportMetric(with, "with-appends/s")
	b.ReportMetric(with/without, "ratio")
	for i, name := range []string{"without", "with"} {
		st := logs[i].db.Stats().TxStats
		commits := float64(logs[i].commits.Load())
		b.ReportMetric(float64(st.GetWrite())/commits, name+"-pages/commit")
		b.ReportMetric(float64(b.N)/commits, name+"-appends/commit")
	}
}

// benchSearchFile returns the path of the query benchmark's file and its
// number of messages, building it if no earlier run has.
func benchSearchFile(b *testing.B) (string, int) {
	n := 1_000_000
	if v := os.Getenv("PARLEY_BENCH_SEARCH"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	dir := os.Getenv("PARLEY_BENCH_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("parley-bench-search-%d-v2.db", n))
	if _, err := os.Stat(path + ".done"); err == nil {
		return path, n
	}
	texts := benchSentences(b)
	os.Remove(path)
	start := time.Now()
	d := NewDB(path)
	d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := d.Open(); err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	first := time.Now().Add(-time.Hour - time.Duration(n)*time.Millisecond)
	const chunk = 20_000
	batch := make([]store.Event, 0, chunk)
	for i := range n {
		id := ulid.MustNew(ulid.Timestamp(first.Add(time.Duration(i)*time.Millisecond)), ulid.DefaultEntropy())
		batch = append(batch, store.Event{
			ID: id, Room: fmt.Sprint("room", i%benchRooms), Type: store.TypeMessage, Author: fmt.Sprint("user", rng.IntN(50)),
			Text: texts[rng.IntN(len(texts))], Time: time.UnixMilli(int64(id.Time())).UTC(),
		})
		if len(batch) == chunk || i == n-1 {
			if _, err := d.enqueueImport(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path+".done", nil, 0o644); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	b.Logf("built %s: %d messages, %d MiB, in %v", path, n, st.Size()>>20, time.Since(start).Round(time.Second))
	return path, n
}

// BenchmarkSearchQuery measures two-word queries over every room of the
// file, newest first, 20 results (the API's default page): p50 and p99 of
// the wall time and the results found. It also reports the index's bytes
// per message (the search bucket's pages in use).
func BenchmarkSearchQuery(b *testing.B) {
	path, n := benchSearchFile(b)
	d := mustOpenDB(b, path, func(d *DB) { d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) })
	var rooms []string
	for r := range benchRooms {
		rooms = append(rooms, fmt.Sprint("room", r))
	}
	var indexBytes, fileBytes int64
	d.view(func(tx *bbolt.Tx) error {
		st := tx.Bucket(bucketSearch).Stats()
		indexBytes = int64(st.BranchInuse + st.LeafInuse + st.InlineBucketInuse)
		fileBytes = tx.Size()
		return nil
	})
	for _, query := range []string{"request body", "read deadline", "conn writ", "zero value", "xylophone request", "returned error"} {
		b.Run(strings.ReplaceAll(query, " ", "_"), func(b *testing.B) {
			q, err := search.Parse(query)
			if err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			cpu := make([]time.Duration, 0, b.N)
			found := 0
			// The CPU time of the query's thread is the steadier figure on a
			// loaded machine: wall time includes waiting for a core.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ResetTimer()
			for b.Loop() {
				start, startCPU := time.Now(), threadCPU()
				hits, err := d.Search(context.Background(), rooms, q, ulid.ULID{}, 20)
				lat = append(lat, time.Since(start))
				cpu = append(cpu, threadCPU()-startCPU)
				if err != nil {
					b.Fatal(err)
				}
				found = len(hits)
			}
			b.StopTimer()
			slices.Sort(lat)
			slices.Sort(cpu)
			at := func(d []time.Duration, p float64) float64 { return float64(d[int(p*float64(len(d)-1))]) / 1e6 }
			b.ReportMetric(at(lat, 0.5), "p50-ms")
			b.ReportMetric(at(lat, 0.99), "p99-ms")
			b.ReportMetric(at(cpu, 0.5), "cpu-p50-ms")
			b.ReportMetric(at(cpu, 0.99), "cpu-p99-ms")
			b.ReportMetric(float64(found), "results")
			b.ReportMetric(float64(n), "messages")
			b.ReportMetric(float64(indexBytes)/float64(n), "index-B/msg")
			b.ReportMetric(float64(fileBytes)/float64(n), "file-B/msg")
		})
	}
}

// BenchmarkSearchReindex measures rebuilding the whole index of the query
// benchmark's file (what parley reindex does): messages per second. Run it
// with -benchtime 1x.
func BenchmarkSearchReindex(b *testing.B) {
	path, n := benchSearchFile(b)
	for b.Loop() {
		cpu := processCPU()
		rep, err := Reindex(path)
		if err != nil || rep.Messages != n {
			b.Fatalf("reindex: %+v, %v; want %d messages", rep, err, n)
		}
		b.ReportMetric(float64(rep.Messages)/rep.Took.Seconds(), "msgs/s")
		b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(n), "cpu-µs/msg")
	}
}
