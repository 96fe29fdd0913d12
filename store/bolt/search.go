package bolt

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/search"
)

// Search implements store.Log. It reads one snapshot: each room's index
// newest first (its tail, then its blocks), confirms each candidate with
// store.SearchMatch on the message's state, and merges the rooms by id,
// stopping at limit. Only the buckets of rooms are opened.
func (d *DB) Search(ctx context.Context, rooms []string, q *search.Query, before ulid.ULID, limit int) ([]store.SearchHit, error) {
	if limit <= 0 || q == nil {
		return nil, nil
	}
	var out []store.SearchHit
	err := d.view(func(tx *bbolt.Tx) error {
		var scans []*roomScan
		seen := map[string]bool{}
		for _, room := range rooms {
			if seen[room] || !q.MatchRoom(room) {
				continue
			}
			seen[room] = true
			if s := newRoomScan(tx, room, q, before); s != nil {
				scans = append(scans, s)
			}
		}
		heads := make([]*store.SearchHit, len(scans))
		for len(out) < limit {
			best := -1
			for i, s := range scans {
				if heads[i] == nil && !s.done {
					h, err := s.next()
					if err != nil {
						return err
					}
					heads[i] = h
				}
				if heads[i] != nil && (best < 0 || heads[i].Record.ID.Compare(heads[best].Record.ID) > 0) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			out = append(out, *heads[best])
			heads[best] = nil
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// roomScan finds one room's results newest first.
type roomScan struct {
	room      string
	q         *search.Query
	before    ulid.ULID // exclusive upper bound of ids: the page's and the query's
	log, msgs *bbolt.Bucket
	tail      *bbolt.Bucket
	ids       *bbolt.Cursor
	post      *bbolt.Cursor
	need      [][]lookup // per query token: the terms that match it
	authors   []lookup   // from: terms, any of which must match (none: no filter)

	started bool        // the tail was read
	tailAt  []byte      // the next tail key to read, going back (nil: from the end)
	tailEnd bool        // the whole tail was read
	block   []byte      // the last block read (nil: none yet)
	cands   []ulid.ULID // candidates not yet confirmed, newest first
	done    bool
}

// lookup is one indexed term to find: exactly, or every term it starts.
type lookup struct {
	term   []byte
	prefix bool
}

func newRoomScan(tx *bbolt.Tx, room string, q *search.Query, before ulid.ULID) *roomScan {
	sb := tx.Bucket(bucketSearch).Bucket([]byte(room))
	rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
	if sb == nil || rb == nil || rb.Bucket(bucketMsgs) == nil {
		return nil
	}
	s := &roomScan{room: room, q: q, before: before,
		log: rb.Bucket(bucketLog), msgs: rb.Bucket(bucketMsgs), tail: sb.Bucket(bucketSearchTail),
		ids: sb.Bucket(bucketSearchIDs).Cursor(), post: sb.Bucket(bucketSearchPost).Cursor()}
	if q.Before != (ulid.ULID{}) && (s.before == (ulid.ULID{}) || q.Before.Compare(s.before) < 0) {
		s.before = q.Before
	}
	for _, g := range q.Words {
		for _, qt := range g.Tokens {
			var alts []lookup
			for _, t := range [2]string{qt.Term, qt.Alt} {
				if t != "" {
					alts = append(alts, lookup{term: []byte(store.SearchTerm(t)), prefix: qt.Prefix})
				}
			}
			s.need = append(s.need, alts)
		}
	}
	for _, name := range q.From {
		s.authors = append(s.authors, lookup{term: []byte(store.AuthorTerm(name))})
	}
	return s
}

// next returns the room's next result, or nil when there are no more.
func (s *roomScan) next() (*store.SearchHit, error) {
	for {
		if len(s.cands) == 0 {
			if err := s.fill(); err != nil || s.done {
				return nil, err
			}
			continue
		}
		id := s.cands[0]
		s.cands = s.cands[1:]
		m, err := readMessage(s.log, s.msgs, s.room, id)
		if err != nil {
			continue // retention removed it in an older snapshot's index: not a result
		}
		ok, hl := store.SearchMatch(s.q, s.room, &m, s.before)
		if !ok {
			continue
		}
		js, err := m.MarshalJSON()
		if err != nil {
			return nil, err
		}
		return &store.SearchHit{Record: store.Record{ID: id, Room: s.room, Type: store.TypeMessage, JSON: js}, Highlights: hl}, nil
	}
}

// fill finds the next candidates: the tail's first, then a block at a time.
func (s *roomScan) fill() error {
	if !s.tailEnd {
		return s.fillTail()
	}
	var k, v []byte
	if s.block == nil {
		k, v = s.ids.Last()
	} else {
		k, v = s.ids.Seek(s.block)
		if k == nil {
			k, v = s.ids.Last()
		} else {
			k, v = s.ids.Prev()
		}
	}
	// Skip blocks that start at or above the bound: all their ids are.
	for k != nil && s.before != (ulid.ULID{}) && bytes.Compare(k, s.before[:]) >= 0 {
		k, v = s.ids.Prev()
	}
	if k == nil || (s.q.After != (ulid.ULID{}) && s.block != nil && bytes.Compare(s.block, s.q.After[:]) <= 0) {
		s.done = true
		return nil
	}
	s.block = bytes.Clone(k)
	return s.fillBlock(s.block, v)
}

// fillTail takes the next tail entries (up to tailChunk, going back)
// that have every needed term.
func (s *roomScan) fillTail() error {
	const head = 4 + 16 + 4
	c := s.tail.Cursor()
	var k, v []byte
	if s.tailAt == nil {
		k, v = c.Last()
	} else {
		k, v = c.Seek(s.tailAt) // not read yet: the same snapshot still has it
	}
	for read := 0; k != nil; k, v = c.Prev() {
		if read == tailChunk {
			s.tailAt = bytes.Clone(k)
			return nil
		}
		read++
		if s.before != (ulid.ULID{}) && bytes.Compare(k, s.before[:]) >= 0 {
			continue
		}
		if s.q.After != (ulid.ULID{}) && bytes.Compare(k, s.q.After[:]) <= 0 {
			break
		}
		if len(v) < head {
			return fmt.Errorf("tail entry %x is malformed", k)
		}
		if s.tailMatches(v[head:]) {
			s.cands = append(s.cands, ulid.ULID(k))
		}
	}
	s.tailEnd = true
	return nil
}

// tailChunk is how many tail entries a scan reads at a time: a room whose
// newest messages match stops early.
const tailChunk = 32

// tailMatches reports whether a tail entry's terms (sorted, NUL-separated)
// have every needed term, without copying them.
func (s *roomScan) tailMatches(terms []byte) bool {
	has := func(l lookup) bool { return hasTerm(terms, l) }
	for _, alts := range s.need {
		if !slices.ContainsFunc(alts, has) {
			return false
		}
	}
	return len(s.authors) == 0 || slices.ContainsFunc(s.authors, has)
}

// hasTerm reports whether NUL-separated terms hold l's term (or, for a
// prefix, a term that starts with it): a fast search for its bytes, then
// a check that they are a whole term, or the start of one.
func hasTerm(terms []byte, l lookup) bool {
	for at := 0; ; {
		i := bytes.Index(terms[at:], l.term)
		if i < 0 {
			return false
		}
		i += at
		end := i + len(l.term)
		if (i == 0 || terms[i-1] == 0) && (l.prefix || end == len(terms) || terms[end] == 0) {
			return true
		}
		at = i + 1
	}
}

// bitmap is a set of positions in a block.
type bitmap [4]uint64

func (b *bitmap) set(p byte)     { b[p>>6] |= 1 << (p & 63) }
func (b *bitmap) has(p int) bool { return b[p>>6]&(1<<(p&63)) != 0 }
func (b *bitmap) and(o *bitmap)  { b[0], b[1], b[2], b[3] = b[0]&o[0], b[1]&o[1], b[2]&o[2], b[3]&o[3] }
func (b *bitmap) empty() bool    { return b[0]|b[1]|b[2]|b[3] == 0 }
func (b *bitmap) addAll(positions []byte) {
	for _, p := range positions {
		b.set(p)
	}
}

// fillBlock takes the messages of block whose postings have every needed
// term.
func (s *roomScan) fillBlock(block, ids []byte) error {
	var all bitmap
	first := true
	groups := s.need
	if len(s.authors) > 0 {
		groups = append(slices.Clip(groups), s.authors)
	}
	for _, alts := range groups {
		var union bitmap
		for _, l := range alts {
			s.postings(block, l, &union)
		}
		if first {
			all, first = union, false
		} else {
			all.and(&union)
		}
		if all.empty() {
			return nil
		}
	}
	if len(ids) < 2 {
		return nil
	}
	list := ids[2:]
	for p := len(list)/16 - 1; p >= 0; p-- {
		if !all.has(p) {
			continue
		}
		var id ulid.ULID
		copy(id[:], list[p*16:])
		if s.before != (ulid.ULID{}) && id.Compare(s.before) >= 0 || s.q.After != (ulid.ULID{}) && id.Compare(s.q.After) <= 0 {
			continue
		}
		s.cands = append(s.cands, id)
	}
	return nil
}

// postings adds to b the positions of block's messages with the term of l.
func (s *roomScan) postings(block []byte, l lookup, b *bitmap) {
	key := postKey(block, string(l.term))
	if !l.prefix {
		k, v := s.post.Seek(key)
		if bytes.Equal(k, key) {
			b.addAll(v)
		}
		return
	}
	for k, v := s.post.Seek(key); k != nil && bytes.HasPrefix(k, key); k, v = s.post.Next() {
		b.addAll(v)
	}
}
