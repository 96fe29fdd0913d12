package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// keyPruned is rooms/<room>/pruned: the id of the newest pruned event.
var keyPruned = []byte("pruned")

// RoomRetention returns a room's own retention (nil: it follows the
// default, DB.Retention). A room needs no events to have settings.
func (d *DB) RoomRetention(ctx context.Context, room string) (*store.Retention, error) {
	if err := store.ValidateRoom(room); err != nil {
		return nil, err
	}
	var r *store.Retention
	err := d.view(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketSettings).Get([]byte(room)); v != nil {
			r = &store.Retention{}
			return json.Unmarshal(v, r)
		}
		return ctx.Err()
	})
	return r, err
}

// SetRoomRetention sets a room's own retention; nil returns it to the
// default. Pruning applies it at its next run. The room need not have
// events yet.
func (d *DB) SetRoomRetention(ctx context.Context, room string, r *store.Retention) error {
	if err := store.ValidateRoom(room); err != nil {
		return err
	}
	if r != nil {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	return d.updateCtx(ctx, func(tx *bbolt.Tx) error {
		settings := tx.Bucket(bucketSettings)
		if r == nil {
			return settings.Delete([]byte(room))
		}
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return settings.Put([]byte(room), v)
	})
}

// Horizon implements Log.
func (d *DB) Horizon(ctx context.Context, room string) (pruned, oldest ulid.ULID, err error) {
	err = d.view(func(tx *bbolt.Tx) error {
		rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
		if rb == nil {
			return nil
		}
		copy(pruned[:], rb.Get(keyPruned))
		if k, _ := rb.Bucket(bucketLog).Cursor().First(); k != nil {
			copy(oldest[:], k)
		}
		return ctx.Err()
	})
	return pruned, oldest, err
}

// pruneRooms applies every room's retention at time now, each room in
// transactions of at most pruneChunk events, and returns how many events
// it deleted.
func (d *DB) pruneRooms(now time.Time) (int, error) {
	return d.pruneRoomsBy(now, d.Retention)
}

// pruneRoomsBy is pruneRooms with def as the retention of rooms without
// their own: a replica prunes by the cluster's setting, not its flags.
func (d *DB) pruneRoomsBy(now time.Time, def store.Retention) (int, error) {
	var rooms []string
	err := d.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRooms).ForEachBucket(func(k []byte) error {
			rooms = append(rooms, string(k))
			return nil
		})
	})
	total := 0
	for _, room := range rooms {
		for err == nil {
			var n int
			n, err = d.pruneChunk(room, now, def)
			total += n
			if n < pruneChunk {
				break
			}
		}
	}
	return total, err
}

// pruneChunk deletes up to pruneChunk of room's oldest events that its
// retention no longer keeps, with their index entries and client ids.
func (d *DB) pruneChunk(room string, now time.Time, def store.Retention) (int, error) {
	n := 0
	err := d.update(func(tx *bbolt.Tx) error {
		rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
		if rb == nil {
			return nil
		}
		ret := def
		if v := tx.Bucket(bucketSettings).Get([]byte(room)); v != nil {
			if err := json.Unmarshal(v, &ret); err != nil {
				return fmt.Errorf("room %s settings: %w", room, err)
			}
		}
		if ret.Events <= 0 && ret.For <= 0 {
			return nil
		}
		var cutoff ulid.ULID // events below it are too old
		if ret.For > 0 {
			_ = cutoff.SetTime(ulid.Timestamp(now.Add(-time.Duration(ret.For))))
		}
		count := getCount(rb)
		logB, msgs, edits := rb.Bucket(bucketLog), rb.Bucket(bucketMsgs), rb.Bucket(bucketEdits)
		cids, cidsByID := tx.Bucket(bucketCIDs), tx.Bucket(bucketCIDsByID)
		var last []byte
		c := logB.Cursor()
		for k, v := c.First(); k != nil && n < pruneChunk; k, v = c.First() {
			tooMany := ret.Events > 0 && count > uint64(ret.Events)
			tooOld := ret.For > 0 && bytes.Compare(k, cutoff[:]) < 0
			if !tooMany && !tooOld {
				break
			}
			typ, js, err := decodeValue(v)
			if err != nil {
				return fmt.Errorf("room %s: %w", room, err)
			}
			if d.Replica {
				// The cluster stream must lose it too (replica_erase.go).
				if err := queueErase(tx, ulid.ULID(k), js); err != nil {
					return err
				}
			}
			if typ == store.TypeMessage {
				if err := d.forget(tx, room, logB, msgs, k); err != nil {
					return err
				}
				if err := msgs.Delete(k); err != nil {
					return err
				}
				ec := edits.Cursor()
				for ek, _ := ec.Seek(k); ek != nil && bytes.HasPrefix(ek, k); ek, _ = ec.Seek(k) {
					if err := ec.Delete(); err != nil {
						return err
					}
				}
			}
			if ck := cidsByID.Get(k); ck != nil {
				if err := cids.Delete(ck); err != nil {
					return err
				}
				if err := cidsByID.Delete(k); err != nil {
					return err
				}
			}
			last = append(last[:0], k...)
			if err := c.Delete(); err != nil {
				return err
			}
			count--
			n++
		}
		if n == 0 {
			return nil
		}
		if err := rb.Put(keyPruned, last); err != nil {
			return err
		}
		return putCount(rb, count)
	})
	return n, err
}

// forget tells the followers that retention removes message key of room.
func (d *DB) forget(tx *bbolt.Tx, room string, logB, msgs *bbolt.Bucket, key []byte) error {
	if len(d.followers) == 0 {
		return nil
	}
	m, err := readMessage(logB, msgs, room, ulid.ULID(key))
	if err != nil {
		return err
	}
	return d.tell(tx, room, &m, nil)
}
