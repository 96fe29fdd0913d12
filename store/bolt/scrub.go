package bolt

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"
)

// bbolt copies a page on every change and leaves the old copy in a free
// page until it is reused, so a redacted text survives in the file. Once no
// reader can still see those pages, the scrubber finds every copy of a
// redacted event or message state ({"id":"<id>"... without "redacted":true)
// and overwrites it with zeros.

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

// scrub removes stale copies of ids' redacted content from the file, then
// answers the deletes that redacted them.
func (d *DB) scrub(ids []ulid.ULID, seq int64, deletes []*appendReq, results []appendResult) {
	defer d.scrubber.Done()
	d.readers.waitBefore(seq)
	if err := d.scrubFile(ids); err != nil {
		// The delete is stored and the live data redacted; only the cleanup
		// of old pages failed. Say so loudly, but do not fail the delete.
		d.Logger.Error("scrub deleted text from free pages", "err", err)
	}
	for i, req := range deletes {
		req.done <- results[i]
	}
}

// scrubFile zeroes stale copies of the given ids' objects. It searches the
// file without locks, then re-checks and writes each hit while holding the
// write lock, so bbolt cannot be writing the same page.
func (d *DB) scrubFile(ids []ulid.ULID) error {
	f, err := os.OpenFile(d.Path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var anchors [][]byte
	for _, id := range ids {
		anchors = append(anchors, []byte(`{"id":"`+id.String()+`"`))
	}
	hits, err := findStale(f, anchors)
	if err != nil || len(hits) == 0 {
		return err
	}
	return d.db.Update(func(*bbolt.Tx) error {
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
		return f.Sync()
	})
}

// findStale returns the offsets of unredacted objects that start with one
// of the anchors.
func findStale(f *os.File, anchors [][]byte) ([]int64, error) {
	const chunk = 4 << 20
	overlap := 0
	for _, a := range anchors {
		overlap = max(overlap, len(a))
	}
	buf := make([]byte, chunk+overlap)
	var hits []int64
	for off := int64(0); ; off += chunk {
		n, err := f.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return nil, err
		}
		data := buf[:n]
		for _, a := range anchors {
			for i := 0; ; {
				j := bytes.Index(data[i:], a)
				if j < 0 {
					break
				}
				at := off + int64(i+j)
				// An anchor in the overlap is found again in the next chunk.
				if i+j < chunk {
					if m, err := staleObjectAt(f, at, anchors); err != nil {
						return nil, err
					} else if m > 0 {
						hits = append(hits, at)
					}
				}
				i += j + 1
			}
		}
		if n < len(buf) {
			return hits, nil
		}
	}
}

// staleObjectAt returns the length of the JSON object at off if it starts
// with an anchor and is not redacted, else 0.
func staleObjectAt(f *os.File, off int64, anchors [][]byte) (int, error) {
	buf := make([]byte, maxObject)
	n, err := f.ReadAt(buf, off)
	if err != nil && err != io.EOF {
		return 0, err
	}
	buf = buf[:n]
	anchored := false
	for _, a := range anchors {
		anchored = anchored || bytes.HasPrefix(buf, a)
	}
	if !anchored {
		return 0, nil
	}
	end := objectEnd(buf)
	if end < 0 {
		return 0, fmt.Errorf("scrub: unterminated object at offset %d", off)
	}
	if bytes.Contains(buf[:end], []byte(`"redacted":true`)) {
		return 0, nil // a live, already redacted copy
	}
	return end, nil
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
