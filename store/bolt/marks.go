package bolt

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// Read markers live in their own bucket, not in a room's log:
//
//	marks/<person>\x00<room>   16-byte id of the newest event person saw in room
var bucketMarks = []byte("marks")

func markKey(person, room string) []byte {
	k := make([]byte, 0, len(person)+1+len(room))
	k = append(k, person...)
	k = append(k, 0)
	return append(k, room...)
}

// Mark implements store.Marks.
func (d *DB) Mark(ctx context.Context, person, room string) (ulid.ULID, error) {
	var id ulid.ULID
	err := d.view(func(tx *bbolt.Tx) error {
		copy(id[:], tx.Bucket(bucketMarks).Get(markKey(person, room)))
		return ctx.Err()
	})
	return id, err
}

// SetMark implements store.Marks. Markers move often, from many clients at
// once: bbolt's Batch commits concurrent ones together, one fsync for all.
func (d *DB) SetMark(ctx context.Context, person, room string, id ulid.ULID) (ulid.ULID, error) {
	var stored ulid.ULID
	err := d.batchCtx(ctx, func(tx *bbolt.Tx) error {
		rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
		if rb == nil {
			return store.ErrNotFound
		}
		if newest, _ := rb.Bucket(bucketLog).Cursor().Last(); newest == nil || bytes.Compare(id[:], newest) > 0 {
			return store.Invalid("id", "is after the newest event of the room")
		}
		marks := tx.Bucket(bucketMarks)
		k := markKey(person, room)
		copy(stored[:], marks.Get(k))
		if id.Compare(stored) <= 0 {
			return nil
		}
		stored = id
		return marks.Put(k, id.Bytes())
	})
	if err != nil {
		return ulid.ULID{}, err
	}
	return stored, ctx.Err()
}

// batch runs fn in a write transaction that bbolt may share with other
// concurrent calls (so fn may run more than once), failing with ErrClosed
// after Close.
func (d *DB) batch(fn func(*bbolt.Tx) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed || d.db == nil {
		return store.ErrClosed
	}
	return d.db.Batch(fn)
}

// Unread implements store.Marks, in one read transaction.
func (d *DB) Unread(ctx context.Context, q store.UnreadQuery) ([]store.Unread, error) {
	out := make([]store.Unread, len(q.Rooms))
	err := d.view(func(tx *bbolt.Tx) error {
		marks := tx.Bucket(bucketMarks)
		at := map[string]int{}
		for i, room := range q.Rooms {
			out[i].Room = room
			copy(out[i].Mark[:], marks.Get(markKey(q.Person, room)))
			at[room] = i
			rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
			if rb == nil || rb.Bucket(bucketMsgs) == nil {
				continue
			}
			n, err := countUnread(rb, room, q.Author, out[i].Mark, q.Limit)
			if err != nil {
				return err
			}
			out[i].Messages = n
		}
		countMentions(tx, store.MentionName(q.Author), out, at, q.Limit)
		return ctx.Err()
	})
	return out, err
}

// countUnread counts, up to limit, room's messages after mark that are not
// deleted and not by author. It looks at each message's stored JSON rather
// than decoding it: the author is a fixed prefix of it, and a deleted
// message's state holds "redacted":true, which no text can (its quotes
// would be escaped).
func countUnread(rb *bbolt.Bucket, room, author string, mark ulid.ULID, limit int) (int, error) {
	roomJSON, _ := json.Marshal(room)
	authorJSON, _ := json.Marshal(author)
	own := append(append(append([]byte(`","room":`), roomJSON...), `,"type":"message","author":`...), authorJSON...)
	own = append(own, ',')
	const idEnd = len(`{"id":"`) + ulid.EncodedSize
	log, c := rb.Bucket(bucketLog), rb.Bucket(bucketMsgs).Cursor()
	n := 0
	k, v := c.Seek(mark[:])
	if k != nil && bytes.Equal(k, mark[:]) {
		k, v = c.Next()
	}
	for ; k != nil && n < limit; k, v = c.Next() {
		js := v
		if len(v) == 0 {
			var err error
			if _, js, err = decodeValue(log.Get(k)); err != nil {
				return n, err
			}
		}
		if len(js) > idEnd && bytes.HasPrefix(js[idEnd:], own) || bytes.Contains(js, []byte(`"redacted":true`)) {
			continue
		}
		n++
	}
	return n, nil
}

// countMentions counts, into out, the mentions of name after each room's
// marker, up to limit per room: one pass over name's mentions from the
// oldest marker on.
func countMentions(tx *bbolt.Tx, name string, out []store.Unread, at map[string]int, limit int) {
	if name == "" || len(out) == 0 {
		return
	}
	b := tx.Bucket(bucketMentions).Bucket([]byte(name))
	if b == nil {
		return
	}
	from := out[0].Mark
	for _, u := range out {
		if u.Mark.Compare(from) < 0 {
			from = u.Mark
		}
	}
	full := 0
	c := b.Cursor()
	for k, v := c.Seek(from[:]); k != nil && full < len(out); k, v = c.Next() {
		i, ok := at[string(v)]
		if !ok || bytes.Compare(k, out[i].Mark[:]) <= 0 || out[i].Mentions >= limit {
			continue
		}
		if out[i].Mentions++; out[i].Mentions == limit {
			full++
		}
	}
}
