package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// diskConfig describes the disk scenario: what this machine's disk and
// bbolt allow with nothing else in the way, the storage half of the
// physical limit (the no-op server is the HTTP half).
type diskConfig struct {
	dir      string // where the scratch files go: the server's file system
	writers  int
	duration time.Duration
	size     int // bytes per event
	probes   int // fdatasync probes before the group commits
}

// diskAppend is one writer's event waiting for its commit.
type diskAppend struct {
	value []byte
	done  chan error
}

// runDisk measures two floors. First, the latency of writing one page and
// fdatasyncing it: every bbolt commit costs two of these. Then cfg.writers
// goroutines, each appending one event and waiting for it to be durable
// before the next, as the append scenario's HTTP writers do; one committer
// takes whatever is queued and commits it in one bbolt transaction, with
// the same file options as Parley's store and one flat bucket (no indexes,
// no JSON, no HTTP). It then reopens the file and checks that every
// acknowledged event is there.
func runDisk(ctx context.Context, cfg diskConfig) (*Report, error) {
	rep := &Report{Scenario: "disk", Server: "bbolt in " + cfg.dir, Params: []Param{
		{"writers", fmt.Sprint(cfg.writers)}, {"duration", cfg.duration.String()},
		{"size", fmt.Sprint(cfg.size)}, {"probes", fmt.Sprint(cfg.probes)},
	}}
	var flush Histogram
	if err := probeSync(ctx, cfg.dir, cfg.probes, &flush); err != nil {
		return nil, err
	}
	rep.latency("fdatasync", &flush)

	f, err := os.CreateTemp(cfg.dir, "parley-bench-disk-*.db")
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	path := f.Name()
	f.Close()
	defer os.Remove(path)
	// The options Parley's store opens its file with (store/file.go).
	opts := &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType}
	db, err := bolt.Open(path, 0o600, opts)
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	bucket := []byte("log")
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		db.Close()
		return nil, fmt.Errorf("disk: %w", err)
	}

	queue := make(chan *diskAppend, cfg.writers)
	var commit Histogram
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		groupCommit(db, bucket, queue, &commit)
	}()

	var appended, failed atomic.Int64
	var latency Histogram
	value := bytes.Repeat([]byte{'x'}, cfg.size)
	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range cfg.writers {
		wg.Go(func() {
			req := &diskAppend{value: value, done: make(chan error, 1)}
			// Each writer appends at least once, so that a run on a machine
			// stalled for its whole duration still has something to verify.
			for first := true; first || runCtx.Err() == nil; first = false {
				t := time.Now()
				queue <- req
				if err := <-req.done; err != nil {
					failed.Add(1)
					return
				}
				latency.Record(time.Since(t))
				appended.Add(1)
			}
		})
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	close(queue)
	<-committed
	if err := db.Close(); err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	stored, err := countStored(path, opts, bucket)
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	rep.count("acked", appended.Load())
	rep.count("stored", stored)
	rep.count("commits", int64(commit.Count()))
	rep.count("errors", failed.Load())
	rep.rate("appends_per_s", appended.Load(), rep.Elapsed)
	rep.rate("commits_per_s", int64(commit.Count()), rep.Elapsed)
	if n := commit.Count(); n > 0 {
		rep.Gauges = append(rep.Gauges, Gauge{"events_per_commit", float64(stored) / float64(n)})
	}
	rep.latency("append", &latency)
	rep.latency("commit", &commit)
	rep.problemIf(failed.Load(), "appends failed")
	if stored != appended.Load() {
		rep.problem("%d events acknowledged but %d in the file", appended.Load(), stored)
	}
	return rep, ctx.Err()
}

// countStored reopens the file at path and counts the events in bucket.
func countStored(path string, opts *bolt.Options, bucket []byte) (int64, error) {
	ro := *opts
	ro.ReadOnly = true
	db, err := bolt.Open(path, 0o600, &ro)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.View(func(tx *bolt.Tx) error {
		n = int64(tx.Bucket(bucket).Stats().KeyN)
		return nil
	})
	return n, err
}

// groupCommit commits everything queued in one transaction per round
// until queue closes, answering each append after its commit.
func groupCommit(db *bolt.DB, bucket []byte, queue <-chan *diskAppend, commit *Histogram) {
	var seq uint64
	pending := make([]*diskAppend, 0, cap(queue))
	for req := range queue {
		pending = append(pending[:0], req)
	drain:
		for {
			select {
			case r, ok := <-queue:
				if !ok {
					break drain
				}
				pending = append(pending, r)
			default:
				break drain
			}
		}
		t := time.Now()
		err := db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucket)
			b.FillPercent = 0.95 // sequential keys, as Parley's log
			for _, r := range pending {
				seq++
				if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), r.value); err != nil {
					return err
				}
			}
			return nil
		})
		commit.Record(time.Since(t))
		for _, r := range pending {
			r.done <- err
		}
	}
}

// probeSync times n rounds of writing one 4 KiB page in place and
// fdatasyncing it, in a scratch file in dir.
func probeSync(ctx context.Context, dir string, n int, h *Histogram) error {
	f, err := os.CreateTemp(dir, "parley-bench-sync-*")
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, 4096)
	// Allocate the page first, so that the probes measure overwrites (what
	// bbolt mostly does) rather than the file growing.
	if _, err := f.WriteAt(page, 0); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	for i := range n {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		page[0] = byte(i)
		t := time.Now()
		if _, err := f.WriteAt(page, 0); err != nil {
			return fmt.Errorf("disk: %w", err)
		}
		if err := fdatasync(f); err != nil {
			return fmt.Errorf("disk: fdatasync: %w", err)
		}
		h.Record(time.Since(t))
	}
	return nil
}

// checkDir reports a -dir that is missing or not a directory before
// anything runs.
func checkDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	return nil
}
