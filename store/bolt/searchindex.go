package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// The full-text index (docs/search.md), kept by a follower in the
// transaction of every change of a message's state:
//
//	search/\x00tail/<id>               a message not yet in a block: tailEntry
//	search/\x00n                       4-byte count of the tail's entries
//	search/<room>/ids/<block>          2-byte count of the block's messages
//	                                   retention has not removed, then their
//	                                   ids (16 bytes each, ascending); <block>
//	                                   is the first id
//	search/<room>/post/<block><term>   the positions in the block's ids of the
//	                                   messages whose state has the term, a
//	                                   byte each, ascending
//	meta/search                        the index's version: a file without it
//	                                   (or with another) is reindexed at Open
//
// A new message is one entry of the tail, which all rooms share and which
// is keyed by id, so a commit of many appends to many rooms writes the end
// of one tree, not pages of every room. When the tail holds its limit,
// all its messages become blocks: each room's, in runs of up to 256, a
// posting per distinct term, in keys that sort after every earlier block
// of the room. Terms are store.SearchTerms: the text's and the author's. A
// deleted message has none and is in no posting; its stale copies are
// scrubbed (scrubindex.go). The tail holds every room's newest messages:
// a query reads only the entries of the rooms it was given (an entry names
// its room before its terms), and the blocks of those rooms only.
var (
	bucketSearch     = []byte("search")
	bucketSearchTail = []byte("\x00tail") // no room name starts with a NUL
	bucketSearchIDs  = []byte("ids")
	bucketSearchPost = []byte("post")
	keySearchTailN   = []byte("\x00n")
	keySearchVersion = []byte("search")
	searchVersion    = []byte{2}
)

// tailMagic starts every tail entry, then the id: the anchor by which the
// scrubber finds stale copies of a deleted message's entry.
var tailMagic = []byte("PSX1")

// searchBlock is the most messages of a block: positions are one byte.
const searchBlock = 256

// defaultSearchTail is how many messages the tail holds before they become
// blocks.
const defaultSearchTail = 16 << 10

// searchIndex is the follower that keeps the full-text index.
type searchIndex struct {
	tail int // messages of the tail that make it flush
	// hint is the terms of the append being stored, computed by its
	// caller (appendReq.terms). Only the writer sets it, around one
	// event's follow calls, in the write transaction.
	hint termHint
}

// termHint is store.SearchTerms of a message with text by author, if ok.
type termHint struct {
	text, author string
	terms        []string
	ok           bool
}

// searchTerms returns the terms a message with e's text and author has in
// the index (store.SearchTerms): Append computes them on its caller's
// goroutine, so the writer only compares and stores them.
func searchTerms(e store.Event) []string {
	return store.WithAuthorTerm(store.TextTerms(e.Text), e.Author)
}

// terms returns store.SearchTerms(m), from the hint when it is m's text and
// author. The result is only read.
func (s *searchIndex) terms(m *store.Message) []string {
	if s.hint.ok && !m.Redacted && s.hint.text == m.Text && s.hint.author == m.Author {
		return s.hint.terms
	}
	return store.SearchTerms(m)
}

// follow implements follower.
func (s *searchIndex) follow(tx *bbolt.Tx, room string, old, new *store.Message) error {
	if old != nil && new != nil && old.Text == new.Text && old.Author == new.Author && old.Redacted == new.Redacted {
		return nil // a reaction: nothing the index keeps changed
	}
	sb := tx.Bucket(bucketSearch)
	if old == nil {
		now := s.terms(new)
		if len(now) == 0 {
			return nil // imported already deleted: nothing to find
		}
		return s.add(sb, room, new.ID, now)
	}
	var now []string
	if new != nil {
		now = s.terms(new)
	}
	return change(sb, room, old, now, new == nil)
}

// searchRoom returns room's index buckets, creating them if needed.
func searchRoom(sb *bbolt.Bucket, room string) (*bbolt.Bucket, error) {
	b, err := sb.CreateBucketIfNotExists([]byte(room))
	if err != nil {
		return nil, fmt.Errorf("search index of room %s: %w", room, err)
	}
	for _, name := range [][]byte{bucketSearchIDs, bucketSearchPost} {
		sub, err := b.CreateBucketIfNotExists(name)
		if err != nil {
			return nil, fmt.Errorf("search index of room %s: %w", room, err)
		}
		sub.FillPercent = 0.9 // keys mostly grow at the end
	}
	return b, nil
}

// searchTailBucket returns the tail, creating it if needed.
func searchTailBucket(sb *bbolt.Bucket) (*bbolt.Bucket, error) {
	t, err := sb.CreateBucketIfNotExists(bucketSearchTail)
	if err == nil {
		t.FillPercent = 0.95 // ids only grow
	}
	return t, err
}

// tailHead is the length of a tail entry's fixed part.
const tailHead = 4 + 16 + 4

// tailEntry is a tail's value: the magic, the id, the length of the rest
// (4 bytes), then the room (its length in a byte, then its name) and the
// terms, separated by NUL.
func tailEntry(id ulid.ULID, room string, terms []string) []byte {
	n := 1 + len(room)
	for i, t := range terms {
		if i > 0 {
			n++
		}
		n += len(t)
	}
	v := make([]byte, 0, tailHead+n)
	v = append(v, tailMagic...)
	v = append(v, id[:]...)
	v = binary.BigEndian.AppendUint32(v, uint32(n))
	v = append(v, byte(len(room)))
	v = append(v, room...)
	for i, t := range terms {
		if i > 0 {
			v = append(v, 0)
		}
		v = append(v, t...)
	}
	return v
}

// parseTail returns a tail entry's room and its terms (NUL-separated, in
// v: valid only as long as v).
func parseTail(v []byte) (room, terms []byte, err error) {
	if len(v) < tailHead+1 || !bytes.HasPrefix(v, tailMagic) || int(binary.BigEndian.Uint32(v[20:24])) != len(v)-tailHead {
		return nil, nil, errors.New("malformed tail entry")
	}
	n := int(v[tailHead])
	if tailHead+1+n > len(v) {
		return nil, nil, errors.New("malformed tail entry")
	}
	return v[tailHead+1 : tailHead+1+n], v[tailHead+1+n:], nil
}

// splitTerms returns NUL-separated terms as strings.
func splitTerms(terms []byte) []string {
	if len(terms) == 0 {
		return nil
	}
	var out []string
	for t := range bytes.SplitSeq(terms, []byte{0}) {
		out = append(out, string(t))
	}
	return out
}

// add indexes a new message: a tail entry, and a flush once the tail is
// full.
func (s *searchIndex) add(sb *bbolt.Bucket, room string, id ulid.ULID, terms []string) error {
	tail, err := searchTailBucket(sb)
	if err != nil {
		return err
	}
	if err := tail.Put(id.Bytes(), tailEntry(id, room, terms)); err != nil {
		return err
	}
	n := tailCount(sb) + 1
	if n >= s.tail {
		return flushTail(sb)
	}
	return putTailCount(sb, n)
}

func tailCount(sb *bbolt.Bucket) int {
	if v := sb.Get(keySearchTailN); len(v) == 4 {
		return int(binary.BigEndian.Uint32(v))
	}
	return 0
}

func putTailCount(sb *bbolt.Bucket, n int) error {
	return sb.Put(keySearchTailN, binary.BigEndian.AppendUint32(nil, uint32(n)))
}

// flushTail makes the tail's messages blocks: each room's, in id order, in
// runs of up to searchBlock, then empties the tail.
func flushTail(sb *bbolt.Bucket) error {
	tail, err := searchTailBucket(sb)
	if err != nil {
		return err
	}
	type pending struct {
		ids   [][]byte
		terms [][]string
	}
	rooms := map[string]*pending{}
	var order []string
	err = tail.ForEach(func(k, v []byte) error {
		room, terms, err := parseTail(v)
		if err != nil {
			return fmt.Errorf("tail entry %x: %w", k, err)
		}
		p := rooms[string(room)]
		if p == nil {
			p = &pending{}
			rooms[string(room)] = p
			order = append(order, string(room))
		}
		p.ids = append(p.ids, bytes.Clone(k))
		p.terms = append(p.terms, splitTerms(terms))
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(order)
	for _, room := range order {
		p := rooms[room]
		rb, err := searchRoom(sb, room)
		if err != nil {
			return err
		}
		for i := 0; i < len(p.ids); i += searchBlock {
			j := min(i+searchBlock, len(p.ids))
			if err := writeBlock(rb, p.ids[i:j], p.terms[i:j]); err != nil {
				return err
			}
		}
	}
	if err := sb.DeleteBucket(bucketSearchTail); err != nil {
		return err
	}
	if _, err := searchTailBucket(sb); err != nil {
		return err
	}
	return putTailCount(sb, 0)
}

// writeBlock stores messages ids (ascending, at most searchBlock) with
// their terms as one block of a room.
func writeBlock(rb *bbolt.Bucket, ids [][]byte, terms [][]string) error {
	list := binary.BigEndian.AppendUint16(make([]byte, 0, 2+16*len(ids)), uint16(len(ids)))
	postings := map[string][]byte{}
	for pos, id := range ids {
		list = append(list, id...)
		for _, t := range terms[pos] {
			postings[t] = append(postings[t], byte(pos))
		}
	}
	block := ids[0]
	if err := rb.Bucket(bucketSearchIDs).Put(block, list); err != nil {
		return err
	}
	keys := make([]string, 0, len(postings))
	for t := range postings {
		keys = append(keys, t)
	}
	sort.Strings(keys)
	post := rb.Bucket(bucketSearchPost)
	for _, t := range keys {
		if err := post.Put(postKey(block, t), postings[t]); err != nil {
			return err
		}
	}
	return nil
}

// postKey is the key of term's posting in block.
func postKey(block []byte, term string) []byte {
	k := make([]byte, 0, len(block)+len(term))
	return append(append(k, block...), term...)
}

// change replaces the terms of message old of room by now; gone is
// retention removing the message.
func change(sb *bbolt.Bucket, room string, old *store.Message, now []string, gone bool) error {
	id := old.ID
	if tail := sb.Bucket(bucketSearchTail); tail != nil {
		if v := tail.Get(id[:]); v != nil {
			// The entry is rewritten whole: old's terms are not needed.
			if len(now) > 0 {
				entry := tailEntry(id, room, now)
				if bytes.Equal(v, entry) {
					return nil // an edit to text with the same terms
				}
				return tail.Put(id.Bytes(), entry)
			}
			if err := tail.Delete(id[:]); err != nil {
				return err
			}
			return putTailCount(sb, max(tailCount(sb)-1, 0))
		}
	}
	was := store.SearchTerms(old)
	if !gone && slices.Equal(was, now) {
		return nil // an edit to text with the same terms
	}
	rb := sb.Bucket([]byte(room))
	var (
		block []byte
		pos   int
		ok    bool
	)
	if rb != nil {
		block, pos, ok = locate(rb.Bucket(bucketSearchIDs), id)
	}
	if !ok {
		if len(was) == 0 {
			return nil // was not indexed: deleted before (or when) indexed
		}
		return fmt.Errorf("message %s is not in the search index: run parley reindex", id)
	}
	post := rb.Bucket(bucketSearchPost)
	for _, t := range was {
		if !slices.Contains(now, t) {
			if err := setPosting(post, postKey(block, t), byte(pos), false); err != nil {
				return err
			}
		}
	}
	for _, t := range now {
		if !slices.Contains(was, t) {
			if err := setPosting(post, postKey(block, t), byte(pos), true); err != nil {
				return err
			}
		}
	}
	if gone {
		return forgetInBlock(rb.Bucket(bucketSearchIDs), block)
	}
	return nil
}

// locate finds message id in a block: the block's key and its position.
func locate(ids *bbolt.Bucket, id ulid.ULID) (block []byte, pos int, ok bool) {
	c := ids.Cursor()
	k, v := c.Seek(id[:])
	if k == nil {
		k, v = c.Last()
	} else if !bytes.Equal(k, id[:]) {
		k, v = c.Prev()
	}
	if k == nil || len(v) < 2 {
		return nil, 0, false
	}
	list := v[2:]
	n := len(list) / 16
	i := sort.Search(n, func(i int) bool { return bytes.Compare(list[i*16:i*16+16], id[:]) >= 0 })
	if i == n || !bytes.Equal(list[i*16:i*16+16], id[:]) {
		return nil, 0, false
	}
	return bytes.Clone(k), i, true
}

// setPosting adds or removes position pos in the posting at key, deleting
// a posting left empty.
func setPosting(post *bbolt.Bucket, key []byte, pos byte, add bool) error {
	v := bytes.Clone(post.Get(key))
	i, found := slices.BinarySearch(v, pos)
	switch {
	case add && !found:
		v = slices.Insert(v, i, pos)
	case !add && found:
		v = slices.Delete(v, i, i+1)
	default:
		return nil
	}
	if len(v) == 0 {
		return post.Delete(key)
	}
	return post.Put(key, v)
}

// forgetInBlock counts a message of block that retention removed; the
// block's ids go with its last one (its postings went with their terms).
func forgetInBlock(ids *bbolt.Bucket, block []byte) error {
	v := ids.Get(block)
	if len(v) < 2 {
		return nil
	}
	n := binary.BigEndian.Uint16(v)
	if n <= 1 {
		return ids.Delete(block)
	}
	nv := bytes.Clone(v)
	binary.BigEndian.PutUint16(nv, n-1)
	return ids.Put(block, nv)
}
