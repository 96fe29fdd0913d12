package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// Building the index from the message states: at Open for a file that has
// none (written before the index existed, or by a reindex that did not
// finish), by Reindex, and by a repair that rebuilt a room's states.

// searchIndexed reports whether the file's index is complete and of this
// version.
func searchIndexed(tx *bbolt.Tx) bool {
	return bytes.Equal(tx.Bucket(bucketMeta).Get(keySearchVersion), searchVersion)
}

// buildSearch rebuilds the whole index, a room per transaction, then marks
// it complete; an interrupted build leaves it unmarked, so the next Open
// starts over. It runs before the writer starts, or on a file no one else
// has open. It returns the number of messages indexed.
func buildSearch(db *bbolt.DB) (int, error) {
	var rooms [][]byte
	err := db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Delete(keySearchVersion); err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketSearch); err != nil && !errors.Is(err, bbolt.ErrBucketNotFound) {
			return err
		}
		if _, err := tx.CreateBucket(bucketSearch); err != nil {
			return err
		}
		return tx.Bucket(bucketRooms).ForEachBucket(func(name []byte) error {
			rooms = append(rooms, bytes.Clone(name))
			return nil
		})
	})
	n := 0
	for _, room := range rooms {
		if err != nil {
			break
		}
		err = db.Update(func(tx *bbolt.Tx) error {
			k, err := rebuildSearchRoom(tx, room)
			n += k
			return err
		})
	}
	if err == nil {
		err = db.Update(func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keySearchVersion, searchVersion)
		})
	}
	return n, err
}

// rebuildSearchRoom replaces room's index with one built from its message
// states, in blocks, taking its entries out of the tail, and returns the
// number of messages it indexed.
func rebuildSearchRoom(tx *bbolt.Tx, room []byte) (int, error) {
	sb := tx.Bucket(bucketSearch)
	if tail := sb.Bucket(bucketSearchTail); tail != nil {
		var mine [][]byte
		tail.ForEach(func(k, v []byte) error {
			if r, _, err := parseTail(v); err != nil || bytes.Equal(r, room) {
				mine = append(mine, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range mine {
			if err := tail.Delete(k); err != nil {
				return 0, err
			}
		}
		if err := putTailCount(sb, max(tailCount(sb)-len(mine), 0)); err != nil {
			return 0, err
		}
	}
	if err := sb.DeleteBucket(room); err != nil && !errors.Is(err, bbolt.ErrBucketNotFound) {
		return 0, err
	}
	rb := tx.Bucket(bucketRooms).Bucket(room)
	if rb == nil || rb.Bucket(bucketMsgs) == nil {
		return 0, nil
	}
	var (
		ids   [][]byte
		terms [][]string
		n     int
		out   *bbolt.Bucket
	)
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		var err error
		if out == nil {
			if out, err = searchRoom(sb, string(room)); err != nil {
				return err
			}
		}
		err = writeBlock(out, ids, terms)
		ids, terms = ids[:0], terms[:0]
		return err
	}
	err := eachState(rb, func(m *store.Message) error {
		n++
		t := store.SearchTerms(m)
		if len(t) == 0 {
			return nil
		}
		ids, terms = append(ids, m.ID.Bytes()), append(terms, t)
		if len(ids) == searchBlock {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return n, err
}

// eachState calls fn with the state of each message of a room, in id order.
func eachState(rb *bbolt.Bucket, fn func(m *store.Message) error) error {
	log, msgs := rb.Bucket(bucketLog), rb.Bucket(bucketMsgs)
	return msgs.ForEach(func(k, v []byte) error {
		if len(v) == 0 {
			var err error
			if _, v, err = decodeValue(log.Get(k)); err != nil {
				return fmt.Errorf("message %x: %w", k, err)
			}
		}
		var m store.Message
		if err := m.UnmarshalJSON(v); err != nil {
			return fmt.Errorf("message %x: %w", k, err)
		}
		return fn(&m)
	})
}

// ReindexReport is what Reindex did.
type ReindexReport struct {
	Rooms    int           `json:"rooms"`
	Messages int           `json:"messages"`
	Took     time.Duration `json:"took_ns"`
}

// Reindex rebuilds the full-text index of the db file at path, which no
// process may have open (it waits LockTimeout for the lock): every room's
// index is dropped and built again from the message states. Open does the
// same by itself for a file without a complete index.
func Reindex(path string) (ReindexReport, error) {
	db, err := openBolt(path, false, defaultLockTimeout)
	if err != nil {
		return ReindexReport{}, err
	}
	defer db.Close()
	var rep ReindexReport
	err = db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil || !bytes.Equal(tx.Bucket(bucketMeta).Get(keyVersion), schemaVersion) {
			return errors.New("not a parley database of this version: start parley serve on it once, then reindex")
		}
		return tx.Bucket(bucketRooms).ForEachBucket(func([]byte) error { rep.Rooms++; return nil })
	})
	if err != nil {
		return rep, err
	}
	start := time.Now()
	rep.Messages, err = buildSearch(db)
	rep.Took = time.Since(start)
	return rep, err
}

// indexedTerms reads what the index holds, room by room: each indexed
// message's terms, sorted. Problems of its structure go to rep.
func indexedTerms(rep *Report, tx *bbolt.Tx) map[string]map[ulid.ULID][]string {
	got := map[string]map[ulid.ULID][]string{}
	of := func(room string) map[ulid.ULID][]string {
		if got[room] == nil {
			got[room] = map[ulid.ULID][]string{}
		}
		return got[room]
	}
	sb := tx.Bucket(bucketSearch)
	if tail := sb.Bucket(bucketSearchTail); tail != nil {
		n := 0
		tail.ForEach(func(k, v []byte) error {
			n++
			room, terms, err := parseTail(v)
			if err != nil || len(k) != 16 || !bytes.Equal(v[4:20], k) {
				rep.problem("search index: tail entry %x is malformed", k)
				return nil
			}
			of(string(room))[ulid.ULID(k)] = splitTerms(terms)
			return nil
		})
		if tailCount(sb) != n {
			rep.problem("search index: the tail counts %d entries and has %d", tailCount(sb), n)
		}
	}
	sb.ForEachBucket(func(name []byte) error {
		if bytes.Equal(name, bucketSearchTail) {
			return nil
		}
		room := string(name)
		var msgs *bbolt.Bucket
		if rb := tx.Bucket(bucketRooms).Bucket(name); rb != nil {
			msgs = rb.Bucket(bucketMsgs)
		}
		blocksOf(rep, room, sb.Bucket(name), msgs, of(room))
		return nil
	})
	for _, m := range got {
		for id, terms := range m {
			slices.Sort(terms)
			m[id] = terms
		}
	}
	return got
}

// blocksOf adds what room's blocks hold to got.
func blocksOf(rep *Report, room string, rb, msgs *bbolt.Bucket, got map[ulid.ULID][]string) {
	ids, post := rb.Bucket(bucketSearchIDs), rb.Bucket(bucketSearchPost)
	if ids == nil || post == nil {
		rep.problem("search index of room %s: missing buckets", room)
		return
	}
	blocks := map[string][]byte{}
	ids.ForEach(func(k, v []byte) error {
		if len(k) != 16 || len(v) < 2+16 || (len(v)-2)%16 != 0 || !bytes.Equal(k, v[2:18]) {
			rep.problem("search index of room %s: block %x is malformed", room, k)
			return nil
		}
		blocks[string(k)] = v[2:]
		live := 0
		for i := 2; i < len(v); i += 16 {
			if msgs != nil && msgs.Get(v[i:i+16]) != nil {
				live++
			}
		}
		if live != blockLive(v) {
			rep.problem("search index of room %s: block %x counts %d messages and has %d", room, k, blockLive(v), live)
		}
		return nil
	})
	post.ForEach(func(k, v []byte) error {
		list, ok := blocks[string(k[:min(16, len(k))])]
		if !ok || len(k) <= 16 || len(v) == 0 {
			rep.problem("search index of room %s: posting %x of no block", room, k[:min(16, len(k))])
			return nil
		}
		for _, p := range v {
			if int(p)*16 >= len(list) {
				rep.problem("search index of room %s: a posting of block %x has position %d of %d", room, k[:16], p, len(list)/16)
				continue
			}
			id := ulid.ULID(list[int(p)*16 : int(p)*16+16])
			got[id] = append(got[id], string(k[16:]))
		}
		return nil
	})
}

// verifySearch checks the index against the message states, which
// verifyRoom checks against the log: every message not deleted has exactly
// its store.SearchTerms, and nothing else is indexed. It names no terms,
// so a report never repeats text.
func verifySearch(rep *Report, tx *bbolt.Tx) {
	if !searchIndexed(tx) {
		rep.problem("the search index is missing or incomplete: parley serve builds it at start, or run parley reindex")
		return
	}
	got := indexedTerms(rep, tx)
	rooms := tx.Bucket(bucketRooms)
	rooms.ForEachBucket(func(name []byte) error {
		room := string(name)
		want := map[ulid.ULID][]string{}
		rb := rooms.Bucket(name)
		if rb.Bucket(bucketMsgs) == nil || rb.Bucket(bucketLog) == nil {
			return nil // verifyRoom said so
		}
		eachState(rb, func(m *store.Message) error {
			if terms := store.SearchTerms(m); len(terms) > 0 {
				want[m.ID] = terms
			}
			return nil
		})
		compareTerms(rep, room, want, got[room])
		delete(got, room)
		return nil
	})
	for room, ids := range got {
		if len(ids) > 0 {
			rep.problem("search index of room %s: the room has no events", room)
		}
	}
}

// compareTerms reports every message whose indexed terms differ.
func compareTerms(rep *Report, room string, want, got map[ulid.ULID][]string) {
	for id, w := range want {
		if g, ok := got[id]; !ok {
			rep.problem("search index of room %s: message %s is not indexed", room, id)
		} else if !slices.Equal(w, g) {
			rep.problem("search index of room %s: message %s is indexed with %d terms that differ from its text's %d", room, id, len(g), len(w))
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			rep.problem("search index of room %s: message %s is indexed and has no text (deleted or gone)", room, id)
		}
	}
}

// blockLive is the count of a block's messages retention has not removed.
func blockLive(v []byte) int {
	if len(v) < 2 {
		return 0
	}
	return int(binary.BigEndian.Uint16(v))
}

// rebuildDerived rebuilds what followers derive from room's message
// states, for a repair that rebuilt those states without telling them.
func rebuildDerived(tx *bbolt.Tx, room []byte) error {
	if err := (mentionIndex{}).rebuild(tx, room); err != nil {
		return err
	}
	_, err := rebuildSearchRoom(tx, room)
	return err
}

// searchTail is the size of d's index's tail.
func (d *DB) searchTail() int {
	if d.searchTailSize > 0 {
		return d.searchTailSize
	}
	return defaultSearchTail
}

// openSearch builds the index of a file that has none, before the writer
// starts: a file written before the index existed, or whose reindex did
// not finish.
func (d *DB) openSearch(db *bbolt.DB) error {
	var done bool
	if err := db.View(func(tx *bbolt.Tx) error { done = searchIndexed(tx); return nil }); err != nil || done {
		return err
	}
	start := time.Now()
	n, err := buildSearch(db)
	if err != nil {
		return fmt.Errorf("build the search index: %w", err)
	}
	if n > 0 {
		d.Logger.Info("built the search index", "path", d.Path, "messages", n, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}
