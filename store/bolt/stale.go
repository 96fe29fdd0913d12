package bolt

import (
	"bytes"
	"errors"
	"io"
	"os"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"
)

// Stale copies of a redacted event can only be where bbolt keeps no live
// data: its free pages (pending ones included, which an old reader may
// still see) and the pages past the high-water mark that an interrupted
// commit may have written. Once a delete is committed no live page holds
// the unredacted object, and a page bbolt reuses is written whole. So the
// scrubber reads only those pages, however large the file, and zeroes an
// object only as far as it lies in pages still free at that moment.

// freePagesPerTx bounds the page ids one transaction checks, so listing the
// free pages of a large file never holds up appends for long.
const freePagesPerTx = 16 << 10

// errRollback ends a write transaction that only looked.
var errRollback = errors.New("rollback")

// extent is a byte range [start, end) of the file.
type extent struct{ start, end int64 }

// freeExtents returns the byte ranges of the file that hold no live data.
// It reads bbolt's free list under the write lock (a reader may not), a
// chunk at a time, rolling back: no commit, no fsync.
func (d *DB) freeExtents(f *os.File) ([]extent, error) {
	pageSize := int64(d.db.Info().PageSize)
	var (
		out []extent
		hwm int64 // pages in use: the high-water mark
	)
	for from := int64(2); ; from += freePagesPerTx { // pages 0 and 1 are the meta pages
		err := d.db.Update(func(tx *bbolt.Tx) error {
			hwm = tx.Size() / pageSize
			for id := from; id < min(from+freePagesPerTx, hwm); id++ {
				p, err := tx.Page(int(id))
				if err != nil {
					return err
				}
				if p != nil && p.Type == "free" {
					out = addExtent(out, id*pageSize, (id+1)*pageSize)
				}
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			return nil, err
		}
		if from+freePagesPerTx >= hwm {
			break
		}
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > hwm*pageSize {
		out = addExtent(out, hwm*pageSize, st.Size())
	}
	return out, nil
}

// addExtent appends [start, end) to ext, merging it with the last extent if
// they touch.
func addExtent(ext []extent, start, end int64) []extent {
	if n := len(ext); n > 0 && ext[n-1].end == start {
		ext[n-1].end = end
		return ext
	}
	return append(ext, extent{start, end})
}

// idPrefix starts every stored event and message state: their JSON begins
// with the id.
var idPrefix = []byte(`{"id":"`)

// idLen is the length of an id's text.
const idLen = 26

// findStale returns the offsets in the free extents where an object with
// the id of one of anchors starts, or a stale copy of one of index's tail
// entries or posting keys: one read of the free pages, however many
// anchors. Whether each is still a stale copy is checked when it is zeroed.
func findStale(f *os.File, free []extent, anchors map[string]bool, index indexAnchors, stop <-chan struct{}) ([]staleHit, error) {
	const chunk = 4 << 20
	// Read past each chunk by the length of the longest anchor only, so
	// one that starts in it is seen whole.
	overlap := int64(max(len(idPrefix)+idLen, len(tailMagic)+16))
	buf := make([]byte, chunk+overlap)
	var hits []staleHit
	for _, ext := range free {
		for off := ext.start; off < ext.end; off += chunk {
			select {
			case <-stop:
				return nil, errStopped
			default:
			}
			n, err := f.ReadAt(buf[:min(chunk+overlap, ext.end-off+overlap)], off)
			if err != nil && err != io.EOF {
				return nil, err
			}
			// Matches from own on are the next chunk's, or outside the extent.
			data, own := buf[:n], int(min(chunk, ext.end-off))
			hits = staleObjectsIn(hits, off, data, own, anchors)
			hits = staleIndexIn(hits, off, data, own, index)
		}
	}
	return hits, nil
}

// staleObjectsIn appends to hits where, in data read at off, an object
// with the id of one of anchors starts before own.
func staleObjectsIn(hits []staleHit, off int64, data []byte, own int, anchors map[string]bool) []staleHit {
	end := len(idPrefix) + idLen
	for i := 0; ; {
		j := bytes.Index(data[i:], idPrefix)
		if j < 0 {
			return hits
		}
		at := i + j
		i = at + 1
		if at < own && at+end <= len(data) && anchors[string(data[at+len(idPrefix):at+end])] {
			hits = append(hits, staleHit{off + int64(at), staleJSON})
		}
	}
}

// zeroStale overwrites, in tx (which holds bbolt's write lock), the objects
// at hits that are still unredacted copies of anchors (or index entries of
// index), as far as they lie in pages free now.
func zeroStale(tx *bbolt.Tx, f *os.File, hits []staleHit, anchors map[string]bool, index indexAnchors) error {
	pageSize := int64(tx.DB().Info().PageSize)
	for _, h := range hits {
		off := h.off
		var n int
		var err error
		if h.kind == staleJSON {
			n, err = staleObjectAt(f, off, anchors)
		} else {
			n, err = staleIndexAt(f, h, index)
		}
		if err != nil {
			return err
		}
		// Stop at the first page that is live again.
		for id := off / pageSize; id*pageSize < off+int64(n); id++ {
			if p, err := tx.Page(int(id)); err != nil || (p != nil && p.Type != "free") {
				n = int(max(0, id*pageSize-off))
				break
			}
		}
		if n > 0 {
			if _, err := f.WriteAt(make([]byte, n), off); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxObject bounds how far a stored JSON object can extend.
const maxObject = 1 << 20

// staleObjectAt returns the length of the object at off if it starts with
// the id of one of anchors and is not redacted, else 0. An object that does
// not end within maxObject (the rest of it was overwritten) counts as
// running to there: the caller bounds it by the free pages.
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
			return n, nil
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

// anchorKey is the scrub bucket's key of an anchor's id: an event's ULID,
// or a released file's id (files.go), told apart by their alphabets.
func anchorKey(id string) []byte {
	if isFileIDText(id) {
		return fileIDKey(id)
	}
	k := ulid.MustParse(id)
	return k[:]
}
