package bolt

import (
	"context"
	"slices"

	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// messagesAround reads the page of room's messages centred on p.Around (see
// store.Page) from the message index: one seek, then steps to either side.
func (d *DB) messagesAround(ctx context.Context, room string, p store.Page) ([]store.Record, error) {
	nBefore, nAfter := store.AroundSplit(p.Limit)
	var out []store.Record
	err := d.view(func(tx *bbolt.Tx) error {
		rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
		if rb == nil || rb.Bucket(bucketMsgs) == nil {
			return store.ErrNotFound
		}
		log, c := rb.Bucket(bucketLog), rb.Bucket(bucketMsgs).Cursor()
		k, v := c.Seek(p.Around[:])
		if k == nil || string(k) != string(p.Around[:]) {
			return store.ErrNotFound
		}
		var arena []byte
		var err error
		// Older ones first, newest to oldest, then reversed.
		for k, v := c.Prev(); k != nil && len(out) < nBefore; k, v = c.Prev() {
			if out, err = appendState(out, &arena, room, log, k, v); err != nil {
				return err
			}
		}
		slices.Reverse(out)
		c.Seek(p.Around[:])
		for n := 0; k != nil && n <= nAfter; n++ {
			if out, err = appendState(out, &arena, room, log, k, v); err != nil {
				return err
			}
			k, v = c.Next()
		}
		return ctx.Err()
	})
	return out, err
}

// appendState appends the record of the message state at key k (value v of
// the message index) to out, copied into arena, which it grows.
func appendState(out []store.Record, arena *[]byte, room string, log *bbolt.Bucket, k, v []byte) ([]store.Record, error) {
	js := v
	if len(v) == 0 { // unchanged: the message event is the state
		var err error
		if _, js, err = decodeValue(log.Get(k)); err != nil {
			return out, err
		}
	}
	if cap(*arena)-len(*arena) < len(js) {
		*arena = make([]byte, 0, max(64<<10, len(js)))
	}
	start := len(*arena)
	*arena = append(*arena, js...)
	rec := store.Record{Room: room, Type: store.TypeMessage, JSON: (*arena)[start:len(*arena):len(*arena)]}
	copy(rec.ID[:], k)
	return append(out, rec), nil
}
