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

// Search implements store.Log. It reads one snapshot: the tail's entries
// of the rooms given, and each room's blocks, newest first; it confirms
// each candidate with store.SearchMatch on the message's state and merges
// them by id, stopping at limit. No other room's blocks are opened, and a
// tail entry of another room is skipped by its room name before its terms
// are looked at.
func (d *DB) Search(ctx context.Context, rooms []string, q *search.Query, before ulid.ULID, limit int) ([]store.SearchHit, error) {
	if limit <= 0 || q == nil {
		return nil, nil
	}
	var out []store.SearchHit
	err := d.view(func(tx *bbolt.Tx) error {
		m := newMatcher(q, before)
		var sources []source
		byRoom := map[string]*roomScan{}
		for _, room := range rooms {
			if byRoom[room] != nil || !q.MatchRoom(room) {
				continue
			}
			if s := newRoomScan(tx, room, m); s != nil {
				byRoom[room] = s
				sources = append(sources, s)
			}
		}
		if tail := tx.Bucket(bucketSearch).Bucket(bucketSearchTail); tail != nil && len(byRoom) > 0 {
			sources = append(sources, &tailScan{m: m, tail: tail, rooms: byRoom})
		}
		var err error
		out, err = merge(ctx, sources, limit)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// source gives results of one part of the index, newest first; nil when
// there are no more.
type source interface {
	next() (*store.SearchHit, error)
}

// merge takes the newest of the sources' results until limit.
func merge(ctx context.Context, sources []source, limit int) ([]store.SearchHit, error) {
	var out []store.SearchHit
	heads := make([]*store.SearchHit, len(sources))
	done := make([]bool, len(sources))
	for len(out) < limit {
		best := -1
		for i, s := range sources {
			if heads[i] == nil && !done[i] {
				h, err := s.next()
				if err != nil {
					return nil, err
				}
				heads[i], done[i] = h, h == nil
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
			return nil, err
		}
	}
	return out, ctx.Err()
}

// matcher is a query as the index looks it up.
type matcher struct {
	q       *search.Query
	before  ulid.ULID  // exclusive upper bound of ids: the page's and the query's
	need    [][]lookup // per query token: the terms that match it
	authors []lookup   // from: terms, any of which must match (none: no filter)
}

// lookup is one indexed term to find: exactly, or every term it starts.
type lookup struct {
	term   []byte
	prefix bool
}

func newMatcher(q *search.Query, before ulid.ULID) *matcher {
	m := &matcher{q: q, before: before}
	if q.Before != (ulid.ULID{}) && (m.before == (ulid.ULID{}) || q.Before.Compare(m.before) < 0) {
		m.before = q.Before
	}
	for _, g := range q.Words {
		for _, qt := range g.Tokens {
			var alts []lookup
			for _, t := range [2]string{qt.Term, qt.Alt} {
				if t != "" {
					alts = append(alts, lookup{term: []byte(store.SearchTerm(t)), prefix: qt.Prefix})
				}
			}
			m.need = append(m.need, alts)
		}
	}
	for _, name := range q.From {
		m.authors = append(m.authors, lookup{term: []byte(store.AuthorTerm(name))})
	}
	return m
}

// inBounds reports whether id is within the page's and the query's bounds.
func (m *matcher) inBounds(id []byte) bool {
	return (m.before == (ulid.ULID{}) || bytes.Compare(id, m.before[:]) < 0) &&
		(m.q.After == (ulid.ULID{}) || bytes.Compare(id, m.q.After[:]) > 0)
}

// has reports whether NUL-separated terms hold every needed term.
func (m *matcher) has(terms []byte) bool {
	has := func(l lookup) bool { return hasTerm(terms, l) }
	for _, alts := range m.need {
		if !slices.ContainsFunc(alts, has) {
			return false
		}
	}
	return len(m.authors) == 0 || slices.ContainsFunc(m.authors, has)
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

// tailScan finds the results in the tail, newest first, for the rooms of
// the search.
type tailScan struct {
	m     *matcher
	tail  *bbolt.Bucket
	rooms map[string]*roomScan // the rooms searched: their buckets
	at    []byte               // the next key to read, going back (nil: from the end)
	end   bool
	cands []tailCand
}

type tailCand struct {
	id   ulid.ULID
	room *roomScan
}

// tailChunk is how many tail entries a scan reads at a time, so a search
// whose newest messages match stops early.
const tailChunk = 64

func (t *tailScan) next() (*store.SearchHit, error) {
	for {
		for len(t.cands) > 0 {
			c := t.cands[0]
			t.cands = t.cands[1:]
			if h, err := c.room.confirm(c.id); h != nil || err != nil {
				return h, err
			}
		}
		if t.end {
			return nil, nil
		}
		if err := t.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads the next tailChunk entries, going back.
func (t *tailScan) fill() error {
	c := t.tail.Cursor()
	var k, v []byte
	if t.at == nil {
		k, v = c.Last()
	} else {
		k, v = c.Seek(t.at) // not read yet: the same snapshot still has it
	}
	for read := 0; k != nil; k, v = c.Prev() {
		if read == tailChunk {
			t.at = bytes.Clone(k)
			return nil
		}
		read++
		if !t.m.inBounds(k) {
			if t.m.q.After != (ulid.ULID{}) && bytes.Compare(k, t.m.q.After[:]) <= 0 {
				break
			}
			continue
		}
		room, terms, err := parseTail(v)
		if err != nil {
			return fmt.Errorf("tail entry %x: %w", k, err)
		}
		if rs := t.rooms[string(room)]; rs != nil && t.m.has(terms) {
			t.cands = append(t.cands, tailCand{ulid.ULID(k), rs})
		}
	}
	t.end = true
	return nil
}

// roomScan finds one room's results in its blocks, newest first, and
// confirms candidates of the room.
type roomScan struct {
	room      string
	m         *matcher
	log, msgs *bbolt.Bucket
	ids, post *bbolt.Cursor // nil: the room has no blocks

	block []byte      // the last block read (nil: none yet)
	cands []ulid.ULID // candidates not yet confirmed, newest first
	done  bool
}

func newRoomScan(tx *bbolt.Tx, room string, m *matcher) *roomScan {
	rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
	if rb == nil || rb.Bucket(bucketMsgs) == nil {
		return nil
	}
	s := &roomScan{room: room, m: m, log: rb.Bucket(bucketLog), msgs: rb.Bucket(bucketMsgs)}
	if sb := tx.Bucket(bucketSearch).Bucket([]byte(room)); sb != nil {
		s.ids, s.post = sb.Bucket(bucketSearchIDs).Cursor(), sb.Bucket(bucketSearchPost).Cursor()
	} else {
		s.done = true
	}
	return s
}

// confirm returns message id as a result, or nil if it is not one.
func (s *roomScan) confirm(id ulid.ULID) (*store.SearchHit, error) {
	m, err := readMessage(s.log, s.msgs, s.room, id)
	if err != nil {
		return nil, nil // retention removed it: not a result
	}
	ok, hl := store.SearchMatch(s.m.q, s.room, &m, s.m.before)
	if !ok {
		return nil, nil
	}
	js, err := m.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return &store.SearchHit{Record: store.Record{ID: id, Room: s.room, Type: store.TypeMessage, JSON: js}, Highlights: hl}, nil
}

// next returns the room's next result from its blocks, or nil.
func (s *roomScan) next() (*store.SearchHit, error) {
	for {
		for len(s.cands) > 0 {
			id := s.cands[0]
			s.cands = s.cands[1:]
			if h, err := s.confirm(id); h != nil || err != nil {
				return h, err
			}
		}
		if s.done {
			return nil, nil
		}
		s.fill()
	}
}

// fill finds the candidates of the next block, going back.
func (s *roomScan) fill() {
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
	for k != nil && s.m.before != (ulid.ULID{}) && bytes.Compare(k, s.m.before[:]) >= 0 {
		k, v = s.ids.Prev()
	}
	if k == nil || (s.m.q.After != (ulid.ULID{}) && s.block != nil && bytes.Compare(s.block, s.m.q.After[:]) <= 0) {
		s.done = true
		return
	}
	s.block = bytes.Clone(k)
	s.fillBlock(s.block, v)
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
func (s *roomScan) fillBlock(block, ids []byte) {
	var all bitmap
	first := true
	groups := s.m.need
	if len(s.m.authors) > 0 {
		groups = append(slices.Clip(groups), s.m.authors)
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
			return
		}
	}
	if len(ids) < 2 {
		return
	}
	list := ids[2:]
	for p := len(list)/16 - 1; p >= 0; p-- {
		if all.has(p) && s.m.inBounds(list[p*16:p*16+16]) {
			s.cands = append(s.cands, ulid.ULID(list[p*16:p*16+16]))
		}
	}
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
