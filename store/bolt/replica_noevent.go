package bolt

import (
	"context"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// A stream message whose apply produced no event (an edit to the text the
// message already has, a change refused by a rule, a post deduplicated by
// its client id, an import of an event the log has, a file registration
// refused) changes nothing but the replica's position, yet its text (or
// file name) stays in the stream. A replica queues
// its sequence, when it carries text, in the transaction that applies it:
//
//	erase_none/<seq>   8-byte big-endian stream sequence → its 16-byte
//	                   derived id (the time is the sequence's D), then the
//	                   name of the room applying it created, if any
//
// The gap record of such a sequence says it produced no event, and a node
// applying that record ends in the same state: its D, and the room (a post
// refused in a room that did not exist still creates the room's buckets).
// These are kept apart from erase/ because they must leave the stream
// before anything a delete or a prune queued: a no-op edit checked on a
// rebuild against its message's gap record (text dropped) would produce
// an edit (EraseItem.NoEvent).
var bucketEraseNone = []byte("erase_none")

// ErrOutcomeErased is the outcome of a gap record that says its sequence
// produced no event: the node applying the record cannot say which rule
// the change broke, or what it answered. A change waiting for it (another
// node erased it before this one applied it) is answered this.
var ErrOutcomeErased = store.Unavailable("stored, but the cluster erased it before this node applied it: it stored no event (refused, or it changed nothing)")

// queueNoEvent queues the sequence of en, applied at D = at, which
// produced no event, if it carries text; room names the room its apply
// created, if any. Reports whether it queued.
func (w *batchWriter) queueNoEvent(en Entry, at time.Time, room string) (bool, error) {
	if en.Event.Text == "" {
		return false, nil
	}
	return true, queueNoEventSeq(w.tx, en.Seq, at, room)
}

// queueNoEventSeq queues sequence seq, applied at D = at, which produced
// no event (an event, or an op refused whose message carries what a user
// sent: Entry.EraseRefused).
func queueNoEventSeq(tx *bbolt.Tx, seq uint64, at time.Time, room string) error {
	b, err := tx.CreateBucketIfNotExists(bucketEraseNone)
	if err != nil {
		return err
	}
	id := DerivedID(at, seq)
	v := make([]byte, 0, 16+len(room))
	v = append(append(v, id[:]...), room...)
	return b.Put(seqKey(seq), v)
}

// applyNoEvent applies the gap record of a sequence that produced no
// event: it creates the room that sequence created, if any.
func (w *batchWriter) applyNoEvent(en Entry) error {
	if en.Event.Room == "" {
		return nil
	}
	if err := store.ValidateRoom(en.Event.Room); err != nil {
		return fmt.Errorf("gap record %d: %w", en.Seq, err)
	}
	_, err := w.room(en.Event.Room, true)
	return err
}

// roomCreated returns room if it exists now and did not before (existed).
func (w *batchWriter) roomCreated(room string, existed bool) string {
	if !existed && w.rooms.Bucket([]byte(room)) != nil {
		return room
	}
	return ""
}

func decodeNoEventItem(k, v []byte) (EraseItem, error) {
	if len(k) != 8 || len(v) < 16 {
		return EraseItem{}, fmt.Errorf("erase queue: corrupt no-event entry of %d and %d bytes", len(k), len(v))
	}
	it := EraseItem{Seq: seqOfKey(k), NoEvent: true, Room: string(v[16:])}
	copy(it.ID[:], v[:16])
	return it, nil
}

// NoEventQueue returns up to n queued sequences that produced no event, in
// sequence order.
func (d *DB) NoEventQueue(ctx context.Context, n int) ([]EraseItem, error) {
	var items []EraseItem
	err := d.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEraseNone)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(items) < n; k, v = c.Next() {
			it, err := decodeNoEventItem(k, v)
			if err != nil {
				return err
			}
			items = append(items, it)
		}
		return ctx.Err()
	})
	return items, err
}
