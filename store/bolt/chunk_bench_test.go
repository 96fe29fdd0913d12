package bolt

// Measurements for the file storage design (docs/files.md, issue 16): what
// storing upload bytes inside the bbolt file would cost the text writer.
// They run against bbolt directly, opened as the store opens it.

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// BenchmarkChunkCommit measures one write transaction that stores one
// chunk of upload bytes and commits it (fsync included).
func BenchmarkChunkCommit(b *testing.B) {
	for _, size := range []int{64 << 10, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			db := openChunkBenchDB(b)
			chunk := make([]byte, size)
			rand.Read(chunk)
			b.SetBytes(int64(size))
			var i uint64
			for b.Loop() {
				i++
				if err := benchPutChunk(db, i, chunk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTextCommitsDuringUploads measures what the text writer gets —
// commits of one small event each, back to back, as the single writer
// does under light load — alone, while another goroutine stores 1 MiB
// chunks in the same bbolt file (bytes inside), and while it writes and
// fsyncs 1 MiB files beside it (bytes beside). It reports text commits per
// second, their p50 and p99 latency, and the upload rate reached.
func BenchmarkTextCommitsDuringUploads(b *testing.B) {
	for _, mode := range []string{"alone", "chunks-inside-bbolt", "files-beside"} {
		b.Run(mode, func(b *testing.B) {
			db := openChunkBenchDB(b)
			dir := b.TempDir()
			stop := make(chan struct{})
			var uploaded atomic.Int64
			var wg sync.WaitGroup
			if mode != "alone" {
				wg.Add(1)
				go func() {
					defer wg.Done()
					benchUpload(b, mode, db, dir, stop, &uploaded)
				}()
			}
			event := make([]byte, 300) // a typical stored message
			lat := make([]time.Duration, 0, b.N)
			start := time.Now()
			var id uint64
			for b.Loop() {
				id++
				t0 := time.Now()
				err := db.Update(func(tx *bbolt.Tx) error {
					bk, err := tx.CreateBucketIfNotExists([]byte("log"))
					if err != nil {
						return err
					}
					return bk.Put(binary.BigEndian.AppendUint64(nil, id), event)
				})
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			took := time.Since(start)
			close(stop)
			wg.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(len(lat))/took.Seconds(), "commits/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(uploaded.Load())/took.Seconds()/(1<<20), "upload-MiB/s")
		})
	}
}

// benchUpload stores 1 MiB chunks, inside db or as files in dir, until stop.
func benchUpload(b *testing.B, mode string, db *bbolt.DB, dir string, stop chan struct{}, n *atomic.Int64) {
	chunk := make([]byte, 1<<20)
	rand.Read(chunk)
	for i := uint64(1); ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		var err error
		if mode == "chunks-inside-bbolt" {
			err = benchPutChunk(db, i, chunk)
		} else {
			err = benchWriteFileSynced(filepath.Join(dir, fmt.Sprint(i)), chunk)
		}
		if err != nil {
			b.Error(err)
			return
		}
		n.Add(int64(len(chunk)))
	}
}

func benchPutChunk(db *bbolt.DB, i uint64, chunk []byte) error {
	return db.Update(func(tx *bbolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte("chunks"))
		if err != nil {
			return err
		}
		return bk.Put(binary.BigEndian.AppendUint64(nil, i), chunk)
	})
}

// benchWriteFileSynced writes a file durably, as a file store beside the db
// would: write, fsync, then rename into place and fsync the directory.
func benchWriteFileSynced(path string, data []byte) error {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func openChunkBenchDB(tb testing.TB) *bbolt.DB {
	tb.Helper()
	db, err := openBolt(filepath.Join(tb.TempDir(), "bench.db"), false, time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
