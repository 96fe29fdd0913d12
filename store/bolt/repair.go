package bolt

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// DropFutureEvents repairs a stopped server's file whose id sequence was
// pushed into the future (by an import, before imports were held to the
// clock): it removes every event dated more than the default clock skew
// after now, writing each one's JSON line to dropped first, rebuilds the
// message index of the rooms it changed from their remaining events, and
// sets the newest id back to the newest one kept. It returns how many
// events it removed. The text of deleted messages stays deleted: dropping a
// delete never brings it back.
//
// Events are kept per room in id order, and a change or a reply always
// comes after what it refers to, so what remains refers only to what
// remains. Everything happens in one transaction: a failure changes
// nothing.
func DropFutureEvents(path string, now time.Time, dropped io.Writer) (int, error) {
	db, err := openBolt(path, false, defaultLockTimeout)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var (
		last    ulid.ULID
		pending int
	)
	if err := initSchema(db, &last, &pending); err != nil {
		return 0, err
	}
	var limit ulid.ULID // the first id dated in the future
	_ = limit.SetTime(ulid.Timestamp(now.Add(defaultMaxClockSkew)) + 1)
	n := 0
	err = db.Update(func(tx *bbolt.Tx) error {
		rooms := tx.Bucket(bucketRooms)
		var names [][]byte
		rooms.ForEachBucket(func(k []byte) error { names = append(names, bytes.Clone(k)); return nil })
		var newest ulid.ULID
		for _, name := range names {
			m, err := dropRoomFuture(tx, rooms, name, limit, dropped)
			if err != nil {
				return fmt.Errorf("room %s: %w", name, err)
			}
			n += m
			if rb := rooms.Bucket(name); rb != nil {
				if k, _ := rb.Bucket(bucketLog).Cursor().Last(); k != nil && bytes.Compare(k, newest[:]) > 0 {
					copy(newest[:], k)
				}
			}
		}
		return tx.Bucket(bucketMeta).Put(keyLastID, newest.Bytes())
	})
	return n, err
}

// dropRoomFuture removes room name's events from limit on, with their
// client ids and edit index entries, and refolds its message index. A room
// left without events goes.
func dropRoomFuture(tx *bbolt.Tx, rooms *bbolt.Bucket, name []byte, limit ulid.ULID, dropped io.Writer) (int, error) {
	rb := rooms.Bucket(name)
	logB, edits := rb.Bucket(bucketLog), rb.Bucket(bucketEdits)
	cids, byID := tx.Bucket(bucketCIDs), tx.Bucket(bucketCIDsByID)
	n := 0
	c := logB.Cursor()
	for k, v := c.Seek(limit[:]); k != nil; k, v = c.Seek(limit[:]) {
		typ, js, err := decodeValue(v)
		if err != nil {
			return n, err
		}
		if _, err := dropped.Write(append(bytes.Clone(js), '\n')); err != nil {
			return n, err
		}
		if typ == store.TypeEdit {
			var e store.Event
			if err := e.UnmarshalJSON(js); err != nil {
				return n, err
			}
			if err := edits.Delete(append(e.Target.Bytes(), k...)); err != nil {
				return n, err
			}
		}
		if ck := byID.Get(k); ck != nil {
			if err := cids.Delete(ck); err != nil {
				return n, err
			}
			if err := byID.Delete(k); err != nil {
				return n, err
			}
		}
		if err := c.Delete(); err != nil {
			return n, err
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	count := getCount(rb) - uint64(n)
	if k, _ := logB.Cursor().First(); k == nil {
		if err := rooms.DeleteBucket(name); err != nil {
			return n, err
		}
		return n, rebuildDerived(tx, name)
	}
	if err := putCount(rb, count); err != nil {
		return n, err
	}
	if err := refoldMessages(rb); err != nil {
		return n, err
	}
	return n, rebuildDerived(tx, name)
}

// refoldMessages rebuilds a room's message index from a fold of its log.
func refoldMessages(rb *bbolt.Bucket) error {
	logB := rb.Bucket(bucketLog)
	var events []store.Event
	err := logB.ForEach(func(k, v []byte) error {
		_, js, err := decodeValue(v)
		var e store.Event
		if err == nil {
			err = e.UnmarshalJSON(js)
		}
		events = append(events, e)
		return err
	})
	if err != nil {
		return err
	}
	if err := rb.DeleteBucket(bucketMsgs); err != nil {
		return err
	}
	msgs, err := rb.CreateBucket(bucketMsgs)
	if err != nil {
		return err
	}
	for _, m := range store.Fold(events) {
		state, err := m.MarshalJSON()
		if err != nil {
			return err
		}
		// The index keeps a state only where it differs from the event.
		if _, js, _ := decodeValue(logB.Get(m.ID[:])); bytes.Equal(state, js) {
			state = []byte{}
		}
		if err := msgs.Put(m.ID.Bytes(), state); err != nil {
			return err
		}
	}
	return nil
}
