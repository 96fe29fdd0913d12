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

// The full-text index (docs/search.md), one bucket per room, kept by a
// follower in the transaction of every change of a message's state:
//
//	search/<room>/n                   4-byte count of tail entries
//	search/<room>/tail/<id>           a message not yet in a block: tailEntry
//	search/<room>/ids/<block>         2-byte count of the block's messages
//	                                  retention has not removed, then their
//	                                  ids (16 bytes each, ascending); <block>
//	                                  is the first id
//	search/<room>/post/<block><term>  the positions in the block's ids of the
//	                                  messages whose state has the term, a
//	                                  byte each, ascending
//	meta/search                       the index's version: a file without it
//	                                  (or with another) is reindexed at Open
//
// A new message is one tail entry, a key at the end of a small bucket;
// when the tail holds searchBlock messages they become one block, whose
// keys sort after every earlier block's, so appends write at the end of
// each tree instead of a page per term all over it. Terms are
// store.SearchTerms: the text's and the author's. A deleted message has
// none and is in no posting; its stale copies are scrubbed (scrub.go).
var (
	bucketSearch     = []byte("search")
	bucketSearchTail = []byte("tail")
	bucketSearchIDs  = []byte("ids")
	bucketSearchPost = []byte("post")
	keySearchTailN   = []byte("n")
	keySearchVersion = []byte("search")
	searchVersion    = []byte{1}
)

// tailMagic starts every tail entry, then the id: the anchor by which the
// scrubber finds stale copies of a deleted message's entry.
var tailMagic = []byte("PSX1")

// defaultSearchBlock is the number of messages of a block: positions are
// one byte.
const defaultSearchBlock = 256

// searchIndex is the follower that keeps the full-text index.
type searchIndex struct {
	block int // messages per block, at most 256
}

// follow implements follower.
func (s searchIndex) follow(tx *bbolt.Tx, room string, old, new *store.Message) error {
	var was, now []string
	id := ulid.ULID{}
	if old != nil {
		was, id = store.SearchTerms(old), old.ID
	}
	if new != nil {
		now, id = store.SearchTerms(new), new.ID
	}
	if old != nil && new != nil && slices.Equal(was, now) {
		return nil // a reaction: the terms did not change
	}
	rb, err := searchRoom(tx, room)
	if err != nil {
		return err
	}
	if old == nil {
		if len(now) == 0 {
			return nil // imported already deleted: nothing to find
		}
		return s.add(rb, id, now)
	}
	return s.change(rb, id, was, now, new == nil)
}

// searchRoom returns room's index buckets, creating them if needed.
func searchRoom(tx *bbolt.Tx, room string) (*bbolt.Bucket, error) {
	b, err := tx.Bucket(bucketSearch).CreateBucketIfNotExists([]byte(room))
	if err != nil {
		return nil, fmt.Errorf("search index of room %s: %w", room, err)
	}
	for _, name := range [][]byte{bucketSearchTail, bucketSearchIDs, bucketSearchPost} {
		sub, err := b.CreateBucketIfNotExists(name)
		if err != nil {
			return nil, fmt.Errorf("search index of room %s: %w", room, err)
		}
		sub.FillPercent = 0.9 // keys mostly grow at the end
	}
	return b, nil
}

// tailEntry is a tail's value: the magic, the id, the length of the terms
// (4 bytes) and the terms, separated by NUL.
func tailEntry(id ulid.ULID, terms []string) []byte {
	n := 0
	for _, t := range terms {
		n += len(t) + 1
	}
	v := make([]byte, 0, len(tailMagic)+16+4+n)
	v = append(v, tailMagic...)
	v = append(v, id[:]...)
	v = binary.BigEndian.AppendUint32(v, uint32(max(n-1, 0)))
	for i, t := range terms {
		if i > 0 {
			v = append(v, 0)
		}
		v = append(v, t...)
	}
	return v
}

// tailTerms returns the terms of a tail entry, sorted (copies).
func tailTerms(v []byte) ([]string, error) {
	const head = 4 + 16 + 4
	if len(v) < head || !bytes.HasPrefix(v, tailMagic) || int(binary.BigEndian.Uint32(v[20:24])) != len(v)-head {
		return nil, errors.New("malformed tail entry")
	}
	if len(v) == head {
		return nil, nil
	}
	var out []string
	for t := range bytes.SplitSeq(v[head:], []byte{0}) {
		out = append(out, string(t))
	}
	return out, nil
}

// add indexes a new message: a tail entry, and a flush once the tail is a
// block.
func (s searchIndex) add(rb *bbolt.Bucket, id ulid.ULID, terms []string) error {
	if err := rb.Bucket(bucketSearchTail).Put(id.Bytes(), tailEntry(id, terms)); err != nil {
		return err
	}
	n := tailCount(rb) + 1
	if n >= s.block {
		return flushTail(rb)
	}
	return putTailCount(rb, n)
}

func tailCount(rb *bbolt.Bucket) int {
	if v := rb.Get(keySearchTailN); len(v) == 4 {
		return int(binary.BigEndian.Uint32(v))
	}
	return 0
}

func putTailCount(rb *bbolt.Bucket, n int) error {
	return rb.Put(keySearchTailN, binary.BigEndian.AppendUint32(nil, uint32(n)))
}

// flushTail makes the tail's messages one block: their ids, then a posting
// per distinct term, written in key order after every earlier block.
func flushTail(rb *bbolt.Bucket) error {
	tail := rb.Bucket(bucketSearchTail)
	var ids []byte
	postings := map[string][]byte{}
	c := tail.Cursor()
	pos := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		terms, err := tailTerms(v)
		if err != nil {
			return fmt.Errorf("tail entry %x: %w", k, err)
		}
		ids = append(ids, k...)
		for _, t := range terms {
			postings[t] = append(postings[t], byte(pos))
		}
		pos++
	}
	if pos > 0 {
		block := ids[:16]
		if err := rb.Bucket(bucketSearchIDs).Put(block, append(binary.BigEndian.AppendUint16(nil, uint16(pos)), ids...)); err != nil {
			return err
		}
		terms := make([]string, 0, len(postings))
		for t := range postings {
			terms = append(terms, t)
		}
		sort.Strings(terms)
		post := rb.Bucket(bucketSearchPost)
		for _, t := range terms {
			if err := post.Put(postKey(block, t), postings[t]); err != nil {
				return err
			}
		}
	}
	if err := rb.DeleteBucket(bucketSearchTail); err != nil {
		return err
	}
	if _, err := rb.CreateBucket(bucketSearchTail); err != nil {
		return err
	}
	return putTailCount(rb, 0)
}

func postKey(block []byte, term string) []byte {
	k := make([]byte, 0, len(block)+len(term))
	return append(append(k, block...), term...)
}

// change replaces the terms of message id (was) by now; gone is retention
// removing the message.
func (s searchIndex) change(rb *bbolt.Bucket, id ulid.ULID, was, now []string, gone bool) error {
	tail := rb.Bucket(bucketSearchTail)
	if tail.Get(id[:]) != nil {
		if len(now) > 0 {
			return tail.Put(id.Bytes(), tailEntry(id, now))
		}
		if err := tail.Delete(id[:]); err != nil {
			return err
		}
		return putTailCount(rb, max(tailCount(rb)-1, 0))
	}
	block, pos, ok := locate(rb.Bucket(bucketSearchIDs), id)
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
