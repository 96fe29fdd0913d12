package bolt

import (
	"bytes"
	"context"
	"errors"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// The eraser overwrites and removes objects whose last reference went (the
// fileerase bucket, filled in the same transaction as the delete, the
// retention prune or the collection that released them), in the
// background, and removes the bucket's entry after. A crash in between
// leaves the entry: the eraser resumes after Open.

// wakeEraser tells the eraser there is work.
func (d *DB) wakeEraser() {
	select {
	case d.files.wake <- struct{}{}:
	default:
	}
}

// maxErase bounds the objects one pass takes.
const maxErase = 1000

// eraseLoop erases what is queued at Open, then whenever more is queued,
// and retries failures every PruneEvery.
func (d *DB) eraseLoop() {
	defer close(d.files.done)
	retry := time.NewTicker(d.PruneEvery)
	defer retry.Stop()
	for {
		if err := d.erasePass(); err != nil && !errors.Is(err, store.ErrClosed) {
			d.Logger.Error("erase file objects; will retry", "err", err)
		}
		select {
		case <-d.stop:
			return
		case <-d.files.wake:
		case <-retry.C:
		}
	}
}

// erasePass erases the queued objects still unreferenced.
func (d *DB) erasePass() error {
	for {
		var sums []string
		err := d.view(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketFileErase).Cursor()
			for k, _ := c.First(); k != nil && len(sums) < maxErase; k, _ = c.Next() {
				sums = append(sums, string(k))
			}
			return nil
		})
		if err != nil || len(sums) == 0 {
			return err
		}
		// A reader that began before these were released (a backup) may
		// still need them.
		d.readers.waitBefore(d.commits.Load())
		for _, sum := range sums {
			if err := d.eraseObject(sum, true); err != nil {
				return err
			}
		}
		if len(sums) < maxErase {
			return nil
		}
	}
}

// eraseObject erases object sum if nothing references it (and, if queued
// is set, it is still queued), then dequeues it.
func (d *DB) eraseObject(sum string, queued bool) error {
	d.files.mu.Lock()
	defer d.files.mu.Unlock()
	gone := false
	err := d.view(func(tx *bbolt.Tx) error {
		inQueue := tx.Bucket(bucketFileErase).Get([]byte(sum)) != nil
		gone = tx.Bucket(bucketFileObjs).Get([]byte(sum)) == nil && (inQueue || !queued)
		return nil
	})
	if err != nil {
		return err
	}
	if gone {
		if err := d.BlobStore.Erase(sum); err != nil {
			return err
		}
	}
	if !queued {
		return nil
	}
	return d.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketFileErase).Delete([]byte(sum))
	})
}

// collectFiles is the pruner's file work: pending uploads older than
// UploadTTL, and, at most every OrphanAge/2, objects that no record
// references and that are older than OrphanAge (written by an upload that
// a crash or a failure stopped before it registered).
func (d *DB) collectFiles(now time.Time) {
	if d.UploadTTL > 0 {
		if n, err := d.CollectFiles(context.Background(), now.Add(-d.UploadTTL)); err != nil && !errors.Is(err, store.ErrClosed) {
			d.Logger.Error("collect pending uploads", "err", err)
		} else if n > 0 {
			d.Logger.Info("collected pending uploads", "files", n)
		}
	}
	d.collectOrphanObjects(now)
}

// collectOrphanObjects is the pruner's walk for objects without a
// reference, at most every OrphanAge/2.
func (d *DB) collectOrphanObjects(now time.Time) {
	if d.OrphanAge > 0 && now.Sub(d.files.lastWalk) >= d.OrphanAge/2 {
		d.files.lastWalk = now
		if n, err := d.collectOrphans(now.Add(-d.OrphanAge)); err != nil && !errors.Is(err, store.ErrClosed) {
			d.Logger.Error("collect unreferenced file objects", "err", err)
		} else if n > 0 {
			d.Logger.Info("erased unreferenced file objects", "objects", n)
		}
	}
}

// collectOrphans erases objects modified before cutoff that nothing
// references, and returns how many.
func (d *DB) collectOrphans(cutoff time.Time) (int, error) {
	var candidates []string
	err := d.BlobStore.Walk(func(sum string, _ int64, mod time.Time) error {
		if mod.Before(cutoff) {
			candidates = append(candidates, sum)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sum := range candidates {
		referenced := false
		if err := d.view(func(tx *bbolt.Tx) error {
			referenced = tx.Bucket(bucketFileObjs).Get([]byte(sum)) != nil
			return nil
		}); err != nil {
			return n, err
		}
		if referenced {
			continue
		}
		if err := d.eraseObject(sum, false); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// ReferencedObjects calls fn with every object the file records reference
// (thumbnails included) and its count, in one read transaction: for
// verify and backup.
func (d *DB) ReferencedObjects(fn func(sum string, count int64) error) error {
	return d.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketFileObjs).ForEach(func(k, v []byte) error {
			return fn(string(bytes.Clone(k)), readCount(tx.Bucket(bucketFileObjs), k))
		})
	})
}
