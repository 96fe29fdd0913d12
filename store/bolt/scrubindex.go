package bolt

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"
)

// The search index holds a deleted message's terms in two shapes that its
// stale copies keep: its tail entry ("PSX1" + id + terms), and keys
// <block id><term> of the block it was in. The scrubber finds the first by
// the magic and the id, the second by the block's id, and zeroes them as
// far as they lie in free pages, like a stale JSON object.

// indexAnchors are what a scrub pass looks for in the index's stale pages.
type indexAnchors struct {
	tails  map[string]bool // ids (16 bytes) whose tail entries to zero
	blocks [][]byte        // block ids (16 bytes) whose posting keys to zero
}

// staleKind is what a stale hit is a copy of.
type staleKind uint8

const (
	staleJSON  staleKind = iota // a stored event or message state
	staleTail                   // a tail entry of the search index
	staleBlock                  // a posting key of the search index
)

// staleHit is where a stale copy starts in the file.
type staleHit struct {
	off  int64
	kind staleKind
}

// maxPostKey bounds a posting key: a block id and a term.
const maxPostKey = 16 + 64

// searchAnchors returns, in a read transaction, the index anchors of the
// queued ids: each id's tail entry, and the block each one is in.
func searchAnchors(tx *bbolt.Tx, queued map[ulid.ULID]string) indexAnchors {
	a := indexAnchors{tails: map[string]bool{}}
	seen := map[string]bool{}
	for id, room := range queued {
		a.tails[string(id[:])] = true
		sb := tx.Bucket(bucketSearch).Bucket([]byte(room))
		if sb == nil || sb.Bucket(bucketSearchIDs) == nil {
			continue
		}
		if block, _, ok := locate(sb.Bucket(bucketSearchIDs), id); ok && !seen[string(block)] {
			seen[string(block)] = true
			a.blocks = append(a.blocks, block)
		}
	}
	return a
}

// staleIndexIn appends to hits where, in data read at off, stale copies of
// a's tail entries and posting keys start before own.
func staleIndexIn(hits []staleHit, off int64, data []byte, own int, a indexAnchors) []staleHit {
	end := len(tailMagic) + 16
	for i := 0; ; {
		j := bytes.Index(data[i:], tailMagic)
		if j < 0 {
			break
		}
		at := i + j
		i = at + 1
		if at < own && at+end <= len(data) && a.tails[string(data[at+len(tailMagic):at+end])] {
			hits = append(hits, staleHit{off + int64(at), staleTail})
		}
	}
	for _, b := range a.blocks {
		for i := 0; ; {
			j := bytes.Index(data[i:], b)
			if j < 0 {
				break
			}
			at := i + j
			i = at + 1
			if at < own {
				hits = append(hits, staleHit{off + int64(at), staleBlock})
			}
		}
	}
	return hits
}

// staleIndexAt returns how many bytes from off to zero for an index hit
// that is still there (0 if the anchor is gone).
func staleIndexAt(f *os.File, h staleHit, a indexAnchors) (int, error) {
	buf := make([]byte, maxPostKey)
	n, err := f.ReadAt(buf, h.off)
	if err != nil && err != io.EOF {
		return 0, err
	}
	buf = buf[:n]
	if h.kind == staleBlock {
		for _, b := range a.blocks {
			if bytes.HasPrefix(buf, b) {
				return len(buf), nil // the key, and a few bytes past it
			}
		}
		return 0, nil
	}
	if len(buf) < tailHead || !bytes.HasPrefix(buf, tailMagic) || !a.tails[string(buf[4:20])] {
		return 0, nil
	}
	return tailHead + int(min(binary.BigEndian.Uint32(buf[20:24]), maxObject)), nil
}
