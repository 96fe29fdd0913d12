package bolt

import (
	"bytes"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// schemaVersion1 is the layout before client ids were scoped to their
// author and room settings left the rooms bucket:
//
//	cids/<room>\x00<cid>      16-byte id
//	rooms/<room>/settings     the room's own Retention
var schemaVersion1 = []byte{1}

// migrateFrom1 upgrades a schema 1 file to the current layout inside tx:
// each client id gains the author of its event, and each room's settings
// move to the settings bucket. A client id whose event is gone (a damaged
// index) is forgotten: it only ever served to answer a retry.
func migrateFrom1(tx *bbolt.Tx) error {
	rooms, cids, byID := tx.Bucket(bucketRooms), tx.Bucket(bucketCIDs), tx.Bucket(bucketCIDsByID)
	type entry struct{ old, id []byte }
	var entries []entry // a bucket must not change while ForEach walks it
	if err := cids.ForEach(func(k, v []byte) error {
		entries = append(entries, entry{bytes.Clone(k), bytes.Clone(v)})
		return nil
	}); err != nil {
		return err
	}
	for _, en := range entries {
		if err := cids.Delete(en.old); err != nil {
			return err
		}
		room, cid, ok := bytes.Cut(en.old, []byte{0})
		rec, err := getRecord(rooms, string(room), en.id)
		var e store.Event
		if err == nil && ok {
			err = e.UnmarshalJSON(rec.JSON)
		}
		if err != nil || !ok || e.ClientID != string(cid) {
			if err := byID.Delete(en.id); err != nil {
				return err
			}
			continue
		}
		k := clientIDKey(e.Room, e.Author, e.ClientID)
		if err := cids.Put(k, en.id); err != nil {
			return err
		}
		if err := byID.Put(en.id, k); err != nil {
			return err
		}
	}
	var names [][]byte
	if err := rooms.ForEachBucket(func(name []byte) error {
		names = append(names, bytes.Clone(name))
		return nil
	}); err != nil {
		return err
	}
	for _, name := range names {
		rb := rooms.Bucket(name)
		if v := rb.Get(keyRoomSettings1); v != nil {
			if err := tx.Bucket(bucketSettings).Put(name, bytes.Clone(v)); err != nil {
				return fmt.Errorf("room %s: %w", name, err)
			}
			if err := rb.Delete(keyRoomSettings1); err != nil {
				return err
			}
		}
	}
	return tx.Bucket(bucketMeta).Put(keyVersion, schemaVersion)
}

// keyRoomSettings1 is where schema 1 kept a room's settings, in its bucket.
var keyRoomSettings1 = []byte("settings")
