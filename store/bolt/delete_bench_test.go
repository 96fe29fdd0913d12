package bolt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// BenchmarkDeleteAck measures how long a delete takes to be acknowledged
// in a small file and in a file of over 1 GiB and a million events, while
// the scrubber erases the deleted texts in the background: the delete must
// not cost more in the big file (docs/performance.md). Run it with a fixed
// count, so every percentile has enough deletes:
//
//	go test ./store/bolt -run '^$' -bench DeleteAck -benchtime 400x -timeout 60m
//
// The files are built once, in big transactions, and kept in
// $PARLEY_BENCH_DIR (default: the system's temp directory) for later runs;
// each run deletes messages no earlier run deleted.
func BenchmarkDeleteAck(b *testing.B) {
	for _, size := range []struct {
		name   string
		events int
	}{
		{"10MiB", 8_000},
		{"1GiB", 1_000_000},
	} {
		b.Run(size.name, func(b *testing.B) {
			path := benchFile(b, size.name, size.events)
			d := mustOpenDB(b, path, func(d *DB) { d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) })
			targets := undeleted(b, d, b.N)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for _, m := range targets {
				start := time.Now()
				_, created, err := d.Append(context.Background(), store.Event{Room: m.Room, Type: store.TypeDelete, Author: benchAuthor, Target: m.ID})
				lat = append(lat, time.Since(start))
				if err != nil || !created {
					b.Fatalf("delete %s: created %v, %v", m.ID, created, err)
				}
			}
			b.StopTimer()
			used, _ := d.Size()
			slices.Sort(lat)
			at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
			b.ReportMetric(at(0.5), "p50-ms")
			b.ReportMetric(at(0.99), "p99-ms")
			b.ReportMetric(float64(used)/(1<<20), "data-MiB")
			b.ReportMetric(float64(d.Stats().ScrubPending), "scrub-pending")
		})
	}
}

// benchAuthor writes every message of the benchmark files.
const benchAuthor = "bench"

// benchRooms is how many rooms the benchmark files spread their events on.
const benchRooms = 100

// benchFile returns the path of a db holding events messages of about 1 KiB
// of text, building it if an earlier run has not.
func benchFile(b *testing.B, name string, events int) string {
	dir := os.Getenv("PARLEY_BENCH_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("parley-bench-delete-%s-v2.db", name))
	if _, err := os.Stat(path + ".done"); err == nil {
		return path
	}
	os.Remove(path)
	start := time.Now()
	d := NewDB(path)
	d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := d.Open(); err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	// Through the import path of the writer, 20,000 events a transaction:
	// ids a millisecond apart, ending an hour ago.
	text := strings.Repeat("lorem ipsum dolor sit amet ", 37)
	first := time.Now().Add(-time.Hour - time.Duration(events)*time.Millisecond)
	const chunk = 20_000
	batch := make([]store.Event, 0, chunk)
	for i := 0; i < events; i++ {
		id := ulid.MustNew(ulid.Timestamp(first.Add(time.Duration(i)*time.Millisecond)), ulid.DefaultEntropy())
		batch = append(batch, store.Event{
			ID: id, Room: fmt.Sprint("room", i%benchRooms), Type: store.TypeMessage, Author: benchAuthor,
			Text: fmt.Sprint(i, " ", text), Time: time.UnixMilli(int64(id.Time())).UTC(),
		})
		if len(batch) == chunk || i == events-1 {
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
	b.Logf("built %s: %d events, %d MiB, in %v", path, events, st.Size()>>20, time.Since(start).Round(time.Second))
	return path
}

// undeleted returns n messages of d, spread over its rooms, that are not
// deleted yet.
func undeleted(b *testing.B, d *DB, n int) []store.Record {
	var out []store.Record
	each := (n + benchRooms - 1) / benchRooms
	for r := 0; r < benchRooms; r++ {
		page, err := d.Messages(context.Background(), fmt.Sprint("room", r), store.Page{Forward: true, Limit: 1000})
		if err != nil {
			b.Fatal(err)
		}
		taken := 0
		for _, m := range page {
			if taken < each && len(out) < n && !strings.Contains(string(m.JSON), `"redacted":true`) {
				out, taken = append(out, m), taken+1
			}
		}
	}
	if len(out) < n {
		b.Fatalf("only %d undeleted messages among the first of each room, want %d: remove the benchmark files", len(out), n)
	}
	return out
}
