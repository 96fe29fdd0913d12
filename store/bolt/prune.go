package bolt

import (
	"errors"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// pruneChunk bounds each pruning transaction so it never holds the write
// lock for long.
const pruneChunk = 1000

// pruneLoop applies retention and forgets client ids older than
// DedupWindow, every PruneEvery.
func (d *DB) pruneLoop() {
	defer close(d.prunerDone)
	t := time.NewTicker(d.PruneEvery)
	defer t.Stop()
	for d.Replica {
		// A replica prunes when it applies the cluster's ticks; only its
		// cache of the cluster's objects is its own to collect.
		d.collectOrphanObjects(d.Now())
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
	}
	for {
		now := d.Now()
		if d.DedupWindow > 0 {
			if _, err := d.pruneClientIDs(now.Add(-d.DedupWindow)); err != nil && !errors.Is(err, store.ErrClosed) {
				d.Logger.Error("prune client ids", "err", err)
			}
		}
		if n, err := d.pruneRooms(now); err != nil && !errors.Is(err, store.ErrClosed) {
			d.Logger.Error("apply retention", "err", err)
		} else if n > 0 {
			d.Logger.Info("retention pruned events", "events", n)
		}
		if d.eraseQueued.Swap(false) {
			d.wakeEraser()
		}
		if n := d.releasedFiles.Swap(0); n > 0 {
			d.scrubs.queued(int(n))
		}
		d.collectFiles(now)
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
	}
}

// pruneClientIDs deletes client ids recorded before cutoff, in small
// transactions, and returns how many it deleted.
func (d *DB) pruneClientIDs(cutoff time.Time) (int, error) {
	var limit ulid.ULID
	_ = limit.SetTime(ulid.Timestamp(cutoff))
	total := 0
	for {
		n := 0
		err := d.update(func(tx *bbolt.Tx) error {
			byID, cids := tx.Bucket(bucketCIDsByID), tx.Bucket(bucketCIDs)
			c := byID.Cursor()
			for k, v := c.First(); k != nil && n < pruneChunk && string(k) < string(limit[:]); k, v = c.First() {
				if err := cids.Delete(v); err != nil {
					return err
				}
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		total += n
		if err != nil || n < pruneChunk {
			return total, err
		}
	}
}

// update runs fn in a write transaction outside the append path, failing
// with ErrClosed after Close.
func (d *DB) update(fn func(*bbolt.Tx) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed || d.db == nil {
		return store.ErrClosed
	}
	if err := d.db.Update(fn); err != nil {
		return err
	}
	d.commits.Add(1) // readers that began before may see what it changed
	return nil
}
