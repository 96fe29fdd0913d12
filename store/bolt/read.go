package bolt

import (
	"bytes"
	"context"
	"slices"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// ReadAfter implements Log. Each room is read from its own index, so the cost
// is proportional to the records returned, not to the size of the log.
func (d *DB) ReadAfter(ctx context.Context, rooms []string, after ulid.ULID, limit int) ([]store.Record, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Record
	err := d.view(func(tx *bbolt.Tx) error {
		var err error
		out, err = readAfter(tx, rooms, after, limit)
		if err != nil {
			return err
		}
		return ctx.Err()
	})
	return out, err
}

// ReadReplay implements Log: the records and the gaps come from one read
// transaction, so pruning, which deletes in write transactions, is either
// wholly before both or wholly after.
func (d *DB) ReadReplay(ctx context.Context, rooms []string, after ulid.ULID, limit int) (store.Replay, error) {
	var out store.Replay
	err := d.view(func(tx *bbolt.Tx) error {
		for _, room := range rooms {
			if g, ok := gapAfter(tx, room, after); ok {
				out.Gaps = append(out.Gaps, g)
			}
		}
		var err error
		if out.Records, err = readAfter(tx, rooms, after, limit); err != nil {
			return err
		}
		return ctx.Err()
	})
	return out, err
}

// gapAfter reports whether retention deleted events of room with ids
// greater than after, and what it left.
func gapAfter(tx *bbolt.Tx, room string, after ulid.ULID) (store.Gap, bool) {
	rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
	if rb == nil {
		return store.Gap{}, false
	}
	g := store.Gap{Room: room}
	copy(g.Pruned[:], rb.Get(keyPruned))
	if g.Pruned.Compare(after) <= 0 {
		return store.Gap{}, false
	}
	if k, _ := rb.Bucket(bucketLog).Cursor().First(); k != nil {
		copy(g.Oldest[:], k)
	}
	return g, true
}

// readAfter merges the rooms' logs after the id after, up to limit records,
// copied out of tx.
func readAfter(tx *bbolt.Tx, rooms []string, after ulid.ULID, limit int) ([]store.Record, error) {
	if limit <= 0 {
		return nil, nil
	}
	var cur []*roomCursor
	for _, room := range rooms {
		c := openCursor(tx, room)
		if c == nil {
			continue
		}
		c.seekAfter(after)
		if c.k != nil {
			cur = append(cur, c)
		}
	}
	var (
		out   []store.Record
		arena []byte
	)
	for len(out) < limit && len(cur) > 0 {
		// Few rooms per stream: a linear scan for the smallest key beats a heap.
		lo := 0
		for i := 1; i < len(cur); i++ {
			if bytes.Compare(cur[i].k, cur[lo].k) < 0 {
				lo = i
			}
		}
		c := cur[lo]
		rec, err := c.record(&arena)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
		if c.k, c.v = c.c.Next(); c.k == nil {
			cur = append(cur[:lo], cur[lo+1:]...)
		}
	}
	return out, nil
}

// ReadBefore implements Log.
func (d *DB) ReadBefore(ctx context.Context, room string, before ulid.ULID, limit int) ([]store.Record, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Record
	err := d.view(func(tx *bbolt.Tx) error {
		c := openCursor(tx, room)
		if c == nil {
			return nil
		}
		if before == (ulid.ULID{}) {
			c.k, c.v = c.c.Last()
		} else if c.k, c.v = c.c.Seek(before[:]); c.k == nil {
			c.k, c.v = c.c.Last()
		} else {
			c.k, c.v = c.c.Prev()
		}
		var arena []byte
		for ; c.k != nil && len(out) < limit; c.k, c.v = c.c.Prev() {
			rec, err := c.record(&arena)
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		return ctx.Err()
	})
	return out, err
}

// Rooms implements Log.
func (d *DB) Rooms(ctx context.Context) ([]store.Room, error) {
	var out []store.Room
	err := d.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRooms).ForEachBucket(func(name []byte) error {
			rb := tx.Bucket(bucketRooms).Bucket(name)
			r := store.Room{Name: string(name), Events: getCount(rb), Messages: messageCount(tx, name)}
			if k, _ := rb.Bucket(bucketLog).Cursor().Last(); k != nil {
				copy(r.LastID[:], k)
			}
			out = append(out, r)
			return ctx.Err()
		})
	})
	return out, err
}

// roomCursor walks one room's log inside a read transaction.
type roomCursor struct {
	room string
	c    *bbolt.Cursor
	k, v []byte
}

func openCursor(tx *bbolt.Tx, room string) *roomCursor {
	rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
	if rb == nil {
		return nil
	}
	return &roomCursor{room: room, c: rb.Bucket(bucketLog).Cursor()}
}

// seekAfter positions the cursor on the first key greater than after.
func (c *roomCursor) seekAfter(after ulid.ULID) {
	c.k, c.v = c.c.Seek(after[:])
	if c.k != nil && bytes.Equal(c.k, after[:]) {
		c.k, c.v = c.c.Next()
	}
}

// record copies the current record out of the transaction into arena, which
// it grows: one allocation per many records instead of one per record.
func (c *roomCursor) record(arena *[]byte) (store.Record, error) {
	typ, js, err := decodeValue(c.v)
	if err != nil {
		return store.Record{}, err
	}
	if cap(*arena)-len(*arena) < len(js) {
		*arena = make([]byte, 0, max(64<<10, len(js)))
	}
	start := len(*arena)
	*arena = append(*arena, js...)
	rec := store.Record{Room: c.room, Type: typ, JSON: (*arena)[start:len(*arena):len(*arena)]}
	copy(rec.ID[:], c.k)
	return rec, nil
}

// Messages implements Log. It reads the message index, not the log, so a
// page costs the same however many events the room has.
func (d *DB) Messages(ctx context.Context, room string, p store.Page) ([]store.Record, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	if p.Around != (ulid.ULID{}) {
		return d.messagesAround(ctx, room, p)
	}
	var out []store.Record
	err := d.view(func(tx *bbolt.Tx) error {
		rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
		if rb == nil || rb.Bucket(bucketMsgs) == nil {
			return nil
		}
		log, c := rb.Bucket(bucketLog), rb.Bucket(bucketMsgs).Cursor()
		var k, v []byte
		step := c.Prev
		switch {
		case p.Forward:
			step = c.Next
			if k, v = c.Seek(p.After[:]); k != nil && bytes.Equal(k, p.After[:]) {
				k, v = c.Next()
			}
		case p.Before == (ulid.ULID{}):
			k, v = c.Last()
		default:
			if k, v = c.Seek(p.Before[:]); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		var arena []byte
		for ; k != nil && len(out) < p.Limit; k, v = step() {
			js := v
			if len(v) == 0 { // unchanged: the message event is the state
				var err error
				if _, js, err = decodeValue(log.Get(k)); err != nil {
					return err
				}
			}
			if cap(arena)-len(arena) < len(js) {
				arena = make([]byte, 0, max(64<<10, len(js)))
			}
			start := len(arena)
			arena = append(arena, js...)
			rec := store.Record{Room: room, Type: store.TypeMessage, JSON: arena[start:len(arena):len(arena)]}
			copy(rec.ID[:], k)
			out = append(out, rec)
		}
		if !p.Forward {
			slices.Reverse(out)
		}
		return ctx.Err()
	})
	return out, err
}
