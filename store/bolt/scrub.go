package bolt

import (
	"bytes"
	"cmp"
	"errors"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// bbolt copies a page on every change and leaves the old copy in a free
// page until it is reused, so a redacted text survives in the file. Once no
// reader can still see those pages, the scrubber finds every copy of a
// redacted event or message state ({"id":"<id>"... without "redacted":true)
// in the pages that hold no live data (stale.go) and overwrites it with
// zeros. It runs in the background: a delete is acknowledged once
// committed, and its cost never depends on the file's size.

// readers tracks open read transactions by the commit count when they began,
// so the scrubber can wait for those that may still see old pages.
type readers struct {
	mu    sync.Mutex
	cond  *sync.Cond
	count map[int64]int // commit count at begin → open transactions
}

func (r *readers) begin(seq int64) {
	r.mu.Lock()
	if r.count == nil {
		r.count = map[int64]int{}
		r.cond = sync.NewCond(&r.mu)
	}
	r.count[seq]++
	r.mu.Unlock()
}

func (r *readers) end(seq int64) {
	r.mu.Lock()
	if r.count[seq]--; r.count[seq] == 0 {
		delete(r.count, seq)
	}
	r.cond.Broadcast()
	r.mu.Unlock()
}

// waitBefore waits until no transaction that began before commit seq is open.
func (r *readers) waitBefore(seq int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		old := false
		for s := range r.count {
			if s < seq {
				old = true
			}
		}
		if !old {
			return
		}
		r.cond.Wait()
	}
}

// scrubber is the one background worker that overwrites stale copies of
// redacted events. Its queue is the scrub bucket, filled in each delete's
// own transaction, so work queued before a crash is done after the restart.
type scrubber struct {
	wake     chan struct{}         // capacity 1: a delete queued work
	done     chan struct{}         // closed when the worker has stopped
	pending  atomic.Int64          // ids in the scrub bucket
	passes   atomic.Int64          // completed passes
	failures atomic.Int64          // failed passes
	fault    atomic.Pointer[error] // set by tests: every pass fails with it
}

// queued counts n newly queued ids and wakes the worker.
func (s *scrubber) queued(n int) {
	s.pending.Add(int64(n))
	select {
	case s.wake <- struct{}{}:
	default: // already awake or about to be: it takes everything queued
	}
}

// maxScrubBatch bounds the ids one pass takes, and so its memory.
const maxScrubBatch = 100_000

// scrubLoop scrubs what is queued at Open, then whenever a delete queues
// more; a failed pass is retried at the next delete or after PruneEvery.
// Deletes that arrive during a pass are taken together by the next one: one
// read of the file serves any number of them.
func (d *DB) scrubLoop() {
	defer close(d.scrubs.done)
	retry := time.NewTicker(d.PruneEvery)
	defer retry.Stop()
	for {
		if d.scrubs.pending.Load() > 0 {
			if err := d.scrubPass(); err != nil && !errors.Is(err, errStopped) && !errors.Is(err, store.ErrClosed) {
				d.scrubs.failures.Add(1)
				d.Logger.Error("scrub deleted text from free pages; will retry", "err", err, "pending", d.scrubs.pending.Load())
			}
		}
		select {
		case <-d.stop:
			return
		case <-d.scrubs.wake:
		case <-retry.C:
		}
	}
}

// errStopped ends a pass when the log closes; its work stays queued.
var errStopped = errors.New("log closing")

// scrubPass overwrites every stale copy of the queued ids and dequeues them.
func (d *DB) scrubPass() error {
	var (
		ids   [][]byte
		index indexAnchors
	)
	files := map[string]bool{} // keys of released files' records (files.go)
	err := d.view(func(tx *bbolt.Tx) error {
		queued := map[ulid.ULID]string{}
		c := tx.Bucket(bucketScrub).Cursor()
		for k, v := c.First(); k != nil && len(ids) < maxScrubBatch; k, v = c.Next() {
			ids = append(ids, bytes.Clone(k))
			if string(v) == scrubFileMark {
				files[string(k)] = true
				continue
			}
			queued[ulid.ULID(k)] = string(v)
		}
		index = searchAnchors(tx, queued)
		return nil
	})
	if err != nil || len(ids) == 0 {
		return err
	}
	// The ids were redacted by commits up to now. A reader that began
	// before may still read the pages those commits freed: leave them be
	// until it ends (a long backup delays the scrub, never a delete).
	d.readers.waitBefore(d.commits.Load())
	if fault := d.scrubs.fault.Load(); fault != nil {
		return *fault
	}
	anchors := map[string]bool{}
	for _, k := range ids {
		var id ulid.ULID
		copy(id[:], k)
		if files[string(k)] {
			anchors[fileIDText(k)] = true
			continue
		}
		anchors[id.String()] = true
	}
	if err := d.scrubFile(anchors, index); err != nil {
		return err
	}
	d.scrubs.pending.Add(-int64(len(ids)))
	d.scrubs.passes.Add(1)
	return nil
}

// scrubFile zeroes the stale copies of anchors' objects, then dequeues
// them. It lists the free pages and reads them without holding up writers,
// then re-checks and zeroes the hits in write transactions, so bbolt cannot
// be writing the same page, a few hundred a transaction, so an append never
// waits long for one; the last one dequeues the ids. Each commit's
// fdatasync flushes the zeros too: they are in the same file.
func (d *DB) scrubFile(anchors map[string]bool, index indexAnchors) error {
	f, err := os.OpenFile(d.Path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	free, err := d.freeExtents(f)
	if err != nil {
		return err
	}
	hits, err := findStale(f, free, anchors, index, d.stop)
	if err != nil {
		return err
	}
	// Last first: zeroing a copy never wipes the anchor of a later one
	// before that one is checked and zeroed.
	slices.SortFunc(hits, func(a, b staleHit) int { return cmp.Compare(b.off, a.off) })
	for {
		n := min(len(hits), scrubHitsPerTx)
		last := n == len(hits)
		err := d.db.Update(func(tx *bbolt.Tx) error {
			if err := zeroStale(tx, f, hits[:n], anchors, index); err != nil || !last {
				return err
			}
			scrub := tx.Bucket(bucketScrub)
			for id := range anchors {
				if err := scrub.Delete(anchorKey(id)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || last {
			return err
		}
		hits = hits[n:]
	}
}

// scrubHitsPerTx bounds the stale copies one scrub transaction zeroes.
const scrubHitsPerTx = 256
