package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
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
// and overwrites it with zeros. It runs in the background: a delete is
// acknowledged once committed, and its cost never depends on the file's
// size.

// maxObject bounds how far a stored JSON object can extend.
const maxObject = 1 << 20

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
	var ids [][]byte
	err := d.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketScrub).Cursor()
		for k, _ := c.First(); k != nil && len(ids) < maxScrubBatch; k, _ = c.Next() {
			ids = append(ids, bytes.Clone(k))
		}
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
		anchors[id.String()] = true
	}
	if err := d.scrubFile(anchors); err != nil {
		return err
	}
	d.scrubs.pending.Add(-int64(len(ids)))
	d.scrubs.passes.Add(1)
	return nil
}

// scrubFile zeroes stale copies of the objects of anchors' ids, then
// dequeues them. It searches the file without locks, then re-checks and
// writes each hit in a write transaction, so bbolt cannot be writing the
// same page, and dequeues the ids in that transaction.
func (d *DB) scrubFile(anchors map[string]bool) error {
	f, err := os.OpenFile(d.Path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	hits, err := findStale(f, anchors, d.stop)
	if err != nil {
		return err
	}
	return d.db.Update(func(tx *bbolt.Tx) error {
		for _, off := range hits {
			n, err := staleObjectAt(f, off, anchors)
			if err != nil {
				return err
			}
			if n > 0 {
				if _, err := f.WriteAt(make([]byte, n), off); err != nil {
					return err
				}
			}
		}
		if len(hits) > 0 {
			if err := f.Sync(); err != nil {
				return err
			}
		}
		scrub := tx.Bucket(bucketScrub)
		for id := range anchors {
			k := ulid.MustParse(id)
			if err := scrub.Delete(k[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// idPrefix starts every stored event and message state: their JSON begins
// with the id.
var idPrefix = []byte(`{"id":"`)

// idLen is the length of an id's text.
const idLen = 26

// findStale returns the offsets of unredacted objects that start with the
// id of one of anchors: one read of the file, however many anchors.
func findStale(f *os.File, anchors map[string]bool, stop <-chan struct{}) ([]int64, error) {
	const chunk = 4 << 20
	overlap := len(idPrefix) + idLen
	buf := make([]byte, chunk+overlap)
	var hits []int64
	for off := int64(0); ; off += chunk {
		select {
		case <-stop:
			return nil, errStopped
		default:
		}
		n, err := f.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return nil, err
		}
		data := buf[:n]
		for i := 0; ; {
			j := bytes.Index(data[i:], idPrefix)
			if j < 0 {
				break
			}
			at := i + j
			i = at + 1
			// An anchor in the overlap is found again in the next chunk.
			if at >= chunk || at+overlap > len(data) {
				continue
			}
			if !anchors[string(data[at+len(idPrefix):at+overlap])] {
				continue
			}
			if m, err := staleObjectAt(f, off+int64(at), anchors); err != nil {
				return nil, err
			} else if m > 0 {
				hits = append(hits, off+int64(at))
			}
		}
		if n < len(buf) {
			return hits, nil
		}
	}
}

// staleObjectAt returns the length of the JSON object at off if it starts
// with the id of one of anchors and is not redacted, else 0.
func staleObjectAt(f *os.File, off int64, anchors map[string]bool) (int, error) {
	// Most objects are small: look at 64 KiB first, at maxObject only if
	// the object goes on.
	for size := 64 << 10; ; size = maxObject {
		buf := make([]byte, size)
		n, err := f.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return 0, err
		}
		buf = buf[:n]
		if !bytes.HasPrefix(buf, idPrefix) || len(buf) < len(idPrefix)+idLen || !anchors[string(buf[len(idPrefix):len(idPrefix)+idLen])] {
			return 0, nil
		}
		end := objectEnd(buf)
		switch {
		case end < 0 && n == size && size < maxObject:
			continue
		case end < 0:
			return 0, fmt.Errorf("scrub: unterminated object at offset %d", off)
		case bytes.Contains(buf[:end], []byte(`"redacted":true`)):
			return 0, nil // a live, already redacted copy
		}
		return end, nil
	}
}

// objectEnd returns the length of the JSON object at the start of b, or -1.
func objectEnd(b []byte) int {
	depth, inString, escaped := 0, false, false
	for i, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}
