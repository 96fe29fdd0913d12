package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// A replica queues, in the transaction that applies a delete or a
// retention prune, every stream sequence whose event left the replica (or
// lost its text), so the node's eraser removes it from the cluster stream
// even if the node dies right after the commit (docs/cluster.md, gaps):
//
//	erase/<seq>   8-byte big-endian stream sequence → the 16-byte id
//	              derived from it (the event's, unless imported), then the
//	              event's JSON as the gap record carries it: as applied,
//	              text dropped, not marked redacted
//
// Every node applies the same stream to the same state, so every node
// queues the same sequences with the same bytes, and any of them may
// erase: recording the gap and removing the message are both idempotent.
var bucketErase = []byte("erase")

// EraseItem is a stream sequence a replica queued for removal from the
// cluster stream, with what its gap record says.
type EraseItem struct {
	Seq uint64
	// ID is derived from the sequence (the event's id, unless it was
	// imported); its time is the sequence's D.
	ID ulid.ULID
	// Event is the event's JSON as it was applied, without its text and
	// its files' names; empty for a sequence that stored none.
	Event []byte
	// NoEvent is set when the sequence produced no event (Event is empty):
	// ID is then derived from it, and Room names the room applying it
	// created, if any. The eraser must remove these from the stream before
	// any other item (replica_noevent.go).
	NoEvent bool
	Room    string
	// Register is, instead of an event, the file registration the
	// sequence made.
	Register *FileGap
}

// fileGapValue begins the queued JSON of a FileGap.
const fileGapValue = `{"register":`

// queueFileGap queues stream sequence seq, applied at D = chain, which
// registered a file, with its gap record.
func queueFileGap(tx *bbolt.Tx, seq uint64, chain time.Time, g FileGap) error {
	js, err := json.Marshal(struct {
		Register FileGap `json:"register"`
	}{g})
	if err != nil {
		return err
	}
	b, err := tx.CreateBucketIfNotExists(bucketErase)
	if err != nil {
		return err
	}
	id := DerivedID(chain, seq)
	return b.Put(seqKey(seq), append(id[:], js...))
}

// bucketImportSeq maps, on a replica, an imported event's id (16 bytes),
// which names no sequence, to the 8-byte stream sequence that imported it
// and that sequence's 8-byte D (unix ms), until the event is queued for
// erasure.
var bucketImportSeq = []byte("importseq")

// noteImportSeq records that stream sequence seq, applied at D = at,
// stored event id, if id is not derived from it (an import).
func noteImportSeq(tx *bbolt.Tx, id ulid.ULID, seq uint64, at time.Time) error {
	if _, ok := SeqOf(id); ok {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketImportSeq)
	if err != nil {
		return err
	}
	var v [16]byte
	binary.BigEndian.PutUint64(v[:8], seq)
	binary.BigEndian.PutUint64(v[8:], uint64(at.UnixMilli()))
	return b.Put(id[:], v[:])
}

// queueErase queues the stream sequence of event id, stored as js, for
// erasure: the sequence its id was derived from, or the one that imported
// it. The queue keeps an id derived from the sequence and its D, whose
// time the gap record carries.
func queueErase(tx *bbolt.Tx, id ulid.ULID, js []byte) error {
	seq, ok := SeqOf(id)
	if !ok {
		b := tx.Bucket(bucketImportSeq)
		var v []byte
		if b != nil {
			v = b.Get(id[:])
		}
		if len(v) != 16 {
			return nil // erased already, or stored before imports were noted
		}
		seq = binary.BigEndian.Uint64(v[:8])
		at := time.UnixMilli(int64(binary.BigEndian.Uint64(v[8:]))).UTC()
		if err := b.Delete(id[:]); err != nil {
			return err
		}
		id = DerivedID(at, seq)
	}
	var e store.Event
	if err := e.UnmarshalJSON(js); err != nil {
		return fmt.Errorf("queue erase of %s: %w", id, err)
	}
	if e.Text != "" || e.Redacted || len(e.Files) > 0 {
		// The gap record is the event as it was applied, with its text
		// and its files' names dropped: a node rebuilding checks the
		// changes between it and its delete or prune against it (a
		// reaction to a message that was not yet deleted was accepted), and
		// attaches its files so that the delete or prune releases them as
		// it did everywhere else. A delete redacts it again.
		e.Text, e.Redacted = "", false
		e.Files = slices.Clone(e.Files)
		for i := range e.Files {
			e.Files[i].Name = ""
		}
		var err error
		if js, err = e.MarshalJSON(); err != nil {
			return err
		}
	}
	b, err := tx.CreateBucketIfNotExists(bucketErase)
	if err != nil {
		return err
	}
	v := make([]byte, 0, 16+len(js))
	v = append(append(v, id[:]...), js...)
	return b.Put(seqKey(seq), v)
}

func seqOfKey(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func decodeEraseItem(k, v []byte) (EraseItem, error) {
	if len(k) != 8 || len(v) < 16 {
		return EraseItem{}, fmt.Errorf("erase queue: corrupt entry of %d and %d bytes", len(k), len(v))
	}
	it := EraseItem{Seq: binary.BigEndian.Uint64(k), Event: append([]byte(nil), v[16:]...)}
	copy(it.ID[:], v[:16])
	if bytes.HasPrefix(it.Event, []byte(fileGapValue)) {
		var r struct {
			Register FileGap `json:"register"`
		}
		if err := json.Unmarshal(it.Event, &r); err != nil {
			return it, fmt.Errorf("erase queue %d: %w", it.Seq, err)
		}
		it.Event, it.Register = nil, &r.Register
	}
	return it, nil
}

// EraseQueue returns up to n queued items with sequences above after, in
// sequence order: those of erase/ and of erase_none/ together.
func (d *DB) EraseQueue(ctx context.Context, after uint64, n int) ([]EraseItem, error) {
	var items []EraseItem
	err := d.view(func(tx *bbolt.Tx) error {
		var ev, none *bbolt.Cursor
		var ek, evv, nk, nv []byte
		if b := tx.Bucket(bucketErase); b != nil {
			ev = b.Cursor()
			ek, evv = ev.Seek(seqKey(after + 1))
		}
		if b := tx.Bucket(bucketEraseNone); b != nil {
			none = b.Cursor()
			nk, nv = none.Seek(seqKey(after + 1))
		}
		for len(items) < n && (ek != nil || nk != nil) {
			var (
				it  EraseItem
				err error
			)
			if nk == nil || ek != nil && string(ek) < string(nk) {
				it, err = decodeEraseItem(ek, evv)
				ek, evv = ev.Next()
			} else {
				it, err = decodeNoEventItem(nk, nv)
				nk, nv = none.Next()
			}
			if err != nil {
				return err
			}
			items = append(items, it)
		}
		return ctx.Err()
	})
	return items, err
}

// Queued returns the queued item of seq, and false if none is queued
// (never, or erased already).
func (d *DB) Queued(seq uint64) (EraseItem, bool, error) {
	var (
		it EraseItem
		ok bool
	)
	err := d.view(func(tx *bbolt.Tx) error {
		for _, q := range []struct {
			name   []byte
			decode func(k, v []byte) (EraseItem, error)
		}{{bucketErase, decodeEraseItem}, {bucketEraseNone, decodeNoEventItem}} {
			b := tx.Bucket(q.name)
			if b == nil {
				continue
			}
			if v := b.Get(seqKey(seq)); v != nil {
				var err error
				it, err = q.decode(seqKey(seq), v)
				ok = err == nil
				return err
			}
		}
		return nil
	})
	return it, ok, err
}

// EraseQueueLen returns how many sequences are queued for erasure, of
// erase/ and erase_none/ together.
func (d *DB) EraseQueueLen() (int, error) {
	n := 0
	err := d.view(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketErase, bucketEraseNone} {
			if b := tx.Bucket(name); b != nil {
				n += b.Stats().KeyN
			}
		}
		return nil
	})
	return n, err
}

// Erased removes seq from the erase queue: the stream no longer has it.
func (d *DB) Erased(seq uint64) error {
	return d.update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketErase, bucketEraseNone} {
			if b := tx.Bucket(name); b != nil {
				if err := b.Delete(seqKey(seq)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// queueRedacted queues the events a delete applied in this batch redacted.
func (w *batchWriter) queueRedacted(room string, ids []ulid.ULID) error {
	if len(ids) == 0 {
		return nil
	}
	rb, err := w.room(room, false)
	if err != nil || rb == nil {
		return err
	}
	for _, id := range ids {
		if seq, ok := SeqOf(id); !ok || w.tx.Bucket(bucketErase) != nil && w.tx.Bucket(bucketErase).Get(seqKey(seq)) != nil {
			continue // queued by redact, as it was before the delete
		}
		_, js, err := decodeValue(rb.log.Get(id[:]))
		if err != nil {
			return fmt.Errorf("queue erase of %s: %w", id, err)
		}
		if err := queueErase(w.tx, id, js); err != nil {
			return err
		}
	}
	return nil
}
