package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// What the log keeps beside the message index, in the transaction of each
// change of a message's state (a follower, see follow.go):
//
//	counts/<room>           8-byte count of the room's messages not deleted
//	mentions/<name>/<id>    the room of message id, which notifies name now
var (
	bucketCounts   = []byte("counts")
	bucketMentions = []byte("mentions")
)

// mentionIndex is the follower that keeps the message counts and the
// mention index.
type mentionIndex struct{}

// follow implements follower.
func (mentionIndex) follow(tx *bbolt.Tx, room string, old, new *store.Message) error {
	var before, after store.Message
	if old != nil {
		before = *old
	}
	if new != nil {
		after = *new
	}
	live := func(m store.Message) bool { return m.ID != (ulid.ULID{}) && !m.Redacted }
	var delta int64
	switch {
	case !live(before) && live(after):
		delta = 1
	case live(before) && !live(after):
		delta = -1
	}
	if err := addCount(tx.Bucket(bucketCounts), []byte(room), delta); err != nil {
		return err
	}
	was, now := before.Notified(), after.Notified()
	id := after.ID
	if new == nil {
		id = before.ID
	}
	mentions := tx.Bucket(bucketMentions)
	for _, name := range was {
		if !slices.Contains(now, name) {
			if err := forgetMention(mentions, name, id); err != nil {
				return err
			}
		}
	}
	for _, name := range now {
		if slices.Contains(was, name) {
			continue
		}
		b, err := mentions.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		if err := b.Put(id.Bytes(), []byte(room)); err != nil {
			return err
		}
	}
	return nil
}

// forgetMention removes message id from name's mentions.
func forgetMention(mentions *bbolt.Bucket, name string, id ulid.ULID) error {
	b := mentions.Bucket([]byte(name))
	if b == nil {
		return nil
	}
	return b.Delete(id[:])
}

// addCount adds delta to the counter under key of bucket b.
func addCount(b *bbolt.Bucket, key []byte, delta int64) error {
	var n uint64
	v := b.Get(key)
	if len(v) == 8 {
		if delta == 0 {
			return nil
		}
		n = binary.BigEndian.Uint64(v)
	}
	var nv [8]byte
	binary.BigEndian.PutUint64(nv[:], uint64(max(int64(n)+delta, 0)))
	return b.Put(key, nv[:])
}

// messageCount reads a room's count of messages not deleted.
func messageCount(tx *bbolt.Tx, room []byte) uint64 {
	if v := tx.Bucket(bucketCounts).Get(room); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// countMessages gives every room of a file written before message counts
// existed its count, once, at Open.
func countMessages(db *bbolt.DB) error {
	return db.Update(func(tx *bbolt.Tx) error {
		rooms, counts := tx.Bucket(bucketRooms), tx.Bucket(bucketCounts)
		return rooms.ForEachBucket(func(name []byte) error {
			msgs, log := rooms.Bucket(name).Bucket(bucketMsgs), rooms.Bucket(name).Bucket(bucketLog)
			if counts.Get(name) != nil || msgs == nil || log == nil {
				return nil
			}
			var n int64
			err := msgs.ForEach(func(k, v []byte) error {
				if len(v) == 0 { // unchanged: the state is the message event
					_, v, _ = decodeValue(log.Get(k))
				}
				if !bytes.Contains(v, []byte(`"redacted":true`)) {
					n++
				}
				return nil
			})
			if err != nil {
				return err
			}
			return addCount(counts, name, n)
		})
	})
}

// Mentions implements store.Log. It reads name's mention index newest
// first, in batches: candidates in one transaction, whether their rooms
// are readable outside it, their states in another.
func (d *DB) Mentions(ctx context.Context, name string, before ulid.ULID, limit int, readable func(string) (bool, error)) ([]store.Record, error) {
	var out []store.Record
	canRead := map[string]bool{}
	for len(out) < limit {
		cands, err := d.mentionCandidates(name, before, max(2*(limit-len(out)), 64))
		if err != nil || len(cands) == 0 {
			return out, err
		}
		before = cands[len(cands)-1].id
		for _, c := range cands {
			if _, known := canRead[c.room]; !known {
				ok, err := readable(c.room)
				if err != nil {
					return nil, err
				}
				canRead[c.room] = ok
			}
		}
		err = d.view(func(tx *bbolt.Tx) error {
			var arena []byte
			for _, c := range cands {
				rb := tx.Bucket(bucketRooms).Bucket([]byte(c.room))
				if len(out) == limit || !canRead[c.room] || rb == nil {
					continue
				}
				msgs := rb.Bucket(bucketMsgs)
				v := msgs.Get(c.id[:])
				if v == nil {
					continue // deleted by retention since
				}
				var err error
				if out, err = appendState(out, &arena, c.room, rb.Bucket(bucketLog), c.id[:], v); err != nil {
					return err
				}
			}
			return ctx.Err()
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// mentionCandidate is an entry of the mention index.
type mentionCandidate struct {
	id   ulid.ULID
	room string
}

// mentionCandidates reads up to n entries of name's mentions below before
// (zero: from the newest), newest first.
func (d *DB) mentionCandidates(name string, before ulid.ULID, n int) ([]mentionCandidate, error) {
	var out []mentionCandidate
	err := d.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketMentions).Bucket([]byte(name))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		if before == (ulid.ULID{}) {
			k, v = c.Last()
		} else if k, v = c.Seek(before[:]); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && len(out) < n; k, v = c.Prev() {
			out = append(out, mentionCandidate{id: ulid.ULID(k), room: string(v)})
		}
		return nil
	})
	return out, err
}

// verifyMentions checks the message counts and the mention index against
// the message states, which verifyRoom checks against the log.
func verifyMentions(rep *Report, tx *bbolt.Tx) {
	want := map[string]string{} // name NUL id → room
	rooms := tx.Bucket(bucketRooms)
	rooms.ForEachBucket(func(name []byte) error {
		rb := rooms.Bucket(name)
		msgs, log := rb.Bucket(bucketMsgs), rb.Bucket(bucketLog)
		if msgs == nil || log == nil {
			return nil // verifyRoom said so
		}
		var n uint64
		msgs.ForEach(func(k, v []byte) error {
			if len(v) == 0 {
				_, v, _ = decodeValue(log.Get(k))
			}
			var m store.Message
			if json.Unmarshal(v, &m) != nil || m.Redacted {
				return nil
			}
			n++
			for _, who := range m.Notified() {
				want[who+"\x00"+string(k)] = string(name)
			}
			return nil
		})
		if counts := tx.Bucket(bucketCounts); counts != nil && counts.Get(name) != nil && messageCount(tx, name) != n {
			rep.problem("room %s: message count says %d, the index has %d messages not deleted", name, messageCount(tx, name), n)
		}
		return nil
	})
	mentions := tx.Bucket(bucketMentions)
	if mentions == nil {
		if len(want) > 0 {
			rep.problem("messages mention people, and there is no mention index")
		}
		return
	}
	mentions.ForEachBucket(func(who []byte) error {
		return mentions.Bucket(who).ForEach(func(k, v []byte) error {
			key := string(who) + "\x00" + string(k)
			if room, ok := want[key]; !ok || room != string(v) {
				rep.problem("mention index: %s in room %s, which no message's state has", who, v)
			}
			delete(want, key)
			return nil
		})
	})
	for key, room := range want {
		who, _, _ := strings.Cut(key, "\x00")
		rep.problem("mention index: a message of room %s mentions %s, and the index lacks it", room, who)
	}
}

// rebuild recomputes room's message count and mention entries from its
// message index, for a repair that rebuilt that index without telling the
// followers (DropFutureEvents). A room that is gone loses both.
func (mentionIndex) rebuild(tx *bbolt.Tx, room []byte) error {
	mentions, counts := tx.Bucket(bucketMentions), tx.Bucket(bucketCounts)
	var stale [][2][]byte // name, id
	err := mentions.ForEachBucket(func(name []byte) error {
		return mentions.Bucket(name).ForEach(func(k, v []byte) error {
			if bytes.Equal(v, room) {
				stale = append(stale, [2][]byte{bytes.Clone(name), bytes.Clone(k)})
			}
			return nil
		})
	})
	for _, s := range stale {
		if err == nil {
			err = mentions.Bucket(s[0]).Delete(s[1])
		}
	}
	if err == nil {
		err = counts.Delete(room)
	}
	rb := tx.Bucket(bucketRooms).Bucket(room)
	if err != nil || rb == nil {
		return err
	}
	msgs, log := rb.Bucket(bucketMsgs), rb.Bucket(bucketLog)
	return msgs.ForEach(func(k, v []byte) error {
		if len(v) == 0 {
			_, v, _ = decodeValue(log.Get(k))
		}
		var m store.Message
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("message %x: %w", k, err)
		}
		m.Room = string(room)
		return mentionIndex{}.follow(tx, string(room), nil, &m)
	})
}
