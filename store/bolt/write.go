package bolt

import (
	"fmt"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// commit stores batch in one transaction. Ids are assigned inside it, in
// queue order, so commit order, id order and publish order are one order.
// A request that breaks a rule of the log (unknown target, not the author)
// fails alone; if the commit fails every request gets the error and nothing
// is published. Ids drawn by a failed commit are skipped, never reused.
//
// A delete is answered like any other change, once committed: its redacted
// ids are queued in the same transaction for the scrubber, which overwrites
// the stale copies bbolt left in free pages in the background.
func (d *DB) commit(batch []*appendReq) {
	results := make([]appendResult, len(batch))
	var (
		recs     []store.Record
		redacted int
	)
	start := time.Now()
	err := d.db.Update(func(tx *bbolt.Tx) error {
		w := &batchWriter{d: d, tx: tx, rooms: tx.Bucket(bucketRooms), touched: map[string]*roomBuckets{}}
		recs = recs[:0]
		for i, req := range batch {
			results[i] = appendResult{}
			if err := req.ctx.Err(); err != nil {
				results[i].err = err
				continue
			}
			var res appendResult
			var err error
			switch {
			case req.op != nil:
				res, err = req.op(tx)
			case req.imp != nil:
				res, err = w.importEvents(req.imp)
			default:
				res, err = w.store(req)
			}
			if err != nil {
				return err
			}
			results[i] = res
			if res.created {
				recs = append(recs, res.rec)
			}
		}
		if err := w.finish(); err != nil {
			return err
		}
		redacted = len(w.redacted)
		// Imports may store ids below the last one: only ever raise it.
		meta := tx.Bucket(bucketMeta)
		if last := meta.Get(keyLastID); w.lastID != (ulid.ULID{}) && (len(last) != 16 || w.lastID.Compare(ulid.ULID(last)) > 0) {
			if err := meta.Put(keyLastID, w.lastID.Bytes()); err != nil {
				return err
			}
		}
		if d.beforeCommit != nil {
			return d.beforeCommit(tx)
		}
		return nil
	})
	if err != nil {
		d.Logger.Error("commit failed", "events", len(batch), "err", err)
		for i := range results {
			results[i] = appendResult{err: fmt.Errorf("commit: %w", err)}
		}
		recs = nil
	} else {
		d.commits.Add(1)
		if fn := d.observe.Load(); fn != nil && *fn != nil {
			(*fn)(len(recs), time.Since(start))
		}
		if redacted > 0 {
			d.scrubs.queued(redacted)
		}
		if d.eraseQueued.Swap(false) {
			d.wakeEraser()
		}
		if n := d.releasedFiles.Swap(0); n > 0 {
			d.scrubs.queued(int(n))
		}
	}
	// Publish before answering: once an append is acknowledged, every
	// subscriber already has it queued, and a stream opened afterwards
	// without a cursor does not see it.
	if len(recs) > 0 {
		for s := range *d.subs.Load() {
			s.fn(recs)
		}
	}
	for i, req := range batch {
		req.done <- results[i]
	}
}

// batchWriter stores the requests of one transaction.
type batchWriter struct {
	d        *DB
	tx       *bbolt.Tx
	rooms    *bbolt.Bucket
	touched  map[string]*roomBuckets
	redacted []ulid.ULID
	lastID   ulid.ULID // the highest id stored
	// at, when set, is the time a replica applies at (the cluster's D),
	// standing in for the clock.
	at time.Time
}

// now is the time the batch applies at: the clock, or a replica's D.
func (w *batchWriter) now() time.Time {
	if !w.at.IsZero() {
		return w.at
	}
	return w.d.Now()
}

// roomBuckets are one room's buckets and what the batch added to it.
type roomBuckets struct {
	name                   string
	room, log, msgs, edits *bbolt.Bucket
	added                  uint64
}

// room returns a room's buckets, creating the room only if create is set.
func (w *batchWriter) room(name string, create bool) (*roomBuckets, error) {
	if rb := w.touched[name]; rb != nil {
		return rb, nil
	}
	b := w.rooms.Bucket([]byte(name))
	if b == nil {
		if !create {
			return nil, nil
		}
		var err error
		if b, err = w.rooms.CreateBucket([]byte(name)); err != nil {
			return nil, fmt.Errorf("create room %s: %w", name, err)
		}
	}
	rb := &roomBuckets{name: name, room: b}
	for _, sub := range []struct {
		dst  **bbolt.Bucket
		name []byte
	}{{&rb.log, bucketLog}, {&rb.msgs, bucketMsgs}, {&rb.edits, bucketEdits}} {
		bb, err := b.CreateBucketIfNotExists(sub.name)
		if err != nil {
			return nil, fmt.Errorf("room %s: %w", name, err)
		}
		bb.FillPercent = 0.95 // keys only ever grow: pack pages full
		*sub.dst = bb
	}
	w.touched[name] = rb
	return rb, nil
}

// store appends one request's event, or answers without appending. Errors
// it returns abort the transaction; a request's own failure is in the result.
func (w *batchWriter) store(req *appendReq) (appendResult, error) {
	e := req.ev
	cids := w.tx.Bucket(bucketCIDs)
	var cidKey []byte
	if e.ClientID != "" {
		cidKey = clientIDKey(e.Room, e.Author, e.ClientID)
		if v := cids.Get(cidKey); v != nil {
			rec, err := getRecord(w.rooms, e.Room, v)
			if err != nil {
				return appendResult{}, fmt.Errorf("client id %q: %w", e.ClientID, err)
			}
			return appendResult{rec: rec}, nil
		}
	}
	rb, err := w.room(e.Room, e.Type == store.TypeMessage)
	if err != nil {
		return appendResult{}, err
	}
	if e.Type == store.TypeMessage {
		if e.ReplyTo != (ulid.ULID{}) && rb.msgs.Get(e.ReplyTo[:]) == nil {
			return appendResult{err: store.Invalid("reply_to", "no such message in this room")}, nil
		}
		if len(e.Files) > 0 {
			e.Files = slices.Clone(e.Files) // the caller's
			if err := fillFiles(w.tx, &e); err != nil {
				return appendResult{err: err}, nil
			}
			req.enc = e.EncodeParts()
		}
	} else {
		if rb == nil {
			return appendResult{err: noMessage(e.Target, e.Room)}, nil
		}
		m, err := w.message(rb, e.Target)
		if err != nil {
			return appendResult{err: err}, nil
		}
		if err := m.Permit(e); err != nil {
			return appendResult{err: err}, nil
		}
		// Keep "moderated" only on a change that needed it, so an import
		// of this event passes the same Permit.
		if used := m.Moderated(e); used != e.Moderate {
			e.Moderate = used
			req.enc = e.EncodeParts()
		}
		e.Time = w.now() // for the dry run; the id's time is set below
		if next := m.Clone(); !next.Apply(e) {
			// Nothing would change: answer with the current state.
			js, err := m.MarshalJSON()
			if err != nil {
				return appendResult{}, err
			}
			return appendResult{rec: store.Record{ID: m.ID, Room: m.Room, Type: store.TypeMessage, JSON: js}}, nil
		}
	}

	if e.Type == store.TypeMessage && e.Moderate {
		e.Moderate = false
		req.enc = e.EncodeParts()
	}
	if req.id != (ulid.ULID{}) {
		e.ID = req.id // a replica's: derived from the cluster stream
	} else if e.ID, err = w.d.ids.next(w.d.Now()); err != nil {
		return appendResult{err: err}, nil
	}
	e.Time = time.UnixMilli(int64(e.ID.Time())).UTC()
	val, js := assemble(req.enc, e.Type, e.ID)
	key := e.ID.Bytes()
	if err := rb.log.Put(key, val); err != nil {
		return appendResult{}, err
	}
	rb.added++
	w.lastID = e.ID
	if w.d.search != nil {
		// The terms of the text and author, tokenized by the caller: the
		// writer only stores them (searchIndex.follow takes them for this
		// text and author).
		w.d.search.hint = termHint{text: e.Text, author: e.Author, terms: req.terms, ok: req.terms != nil}
	}
	err = w.index(rb, e, key)
	if w.d.search != nil {
		w.d.search.hint = termHint{}
	}
	if err != nil {
		return appendResult{}, err
	}
	if cidKey != nil {
		if err := cids.Put(cidKey, key); err != nil {
			return appendResult{}, err
		}
		if err := w.tx.Bucket(bucketCIDsByID).Put(key, cidKey); err != nil {
			return appendResult{}, err
		}
	}
	return appendResult{rec: store.Record{ID: e.ID, Room: e.Room, Type: e.Type, JSON: js}, created: true}, nil
}

// index folds a stored event into the room's message index: a new message
// gets an entry, a change updates its target's state, a delete redacts.
// key is e's id as a key.
func (w *batchWriter) index(rb *roomBuckets, e store.Event, key []byte) error {
	if e.Type == store.TypeMessage {
		if err := rb.msgs.Put(key, []byte{}); err != nil || len(w.d.followers) == 0 {
			return err
		}
		m := store.NewMessage(e)
		return w.d.tell(w.tx, rb.name, nil, &m)
	}
	m, err := w.message(rb, e.Target)
	if err != nil {
		return fmt.Errorf("index %s: %w", e.ID, err)
	}
	old := m.Clone()
	switch e.Type {
	case store.TypeEdit:
		err = rb.edits.Put(append(e.Target.Bytes(), key...), []byte{})
	case store.TypeDelete:
		err = w.redact(rb, e.Target)
	}
	if err != nil {
		return err
	}
	if !m.Apply(e) {
		return nil // a change that changed nothing: stored, but nothing follows
	}
	js, err := m.MarshalJSON()
	if err != nil {
		return err
	}
	if err := rb.msgs.Put(e.Target.Bytes(), js); err != nil {
		return err
	}
	return w.d.tell(w.tx, rb.name, &old, &m)
}

// noMessage is the error for a change whose target is not a message of room.
func noMessage(id ulid.ULID, room string) error {
	return store.NotFound(fmt.Sprintf("message %s in room %s", id, room))
}

// message returns the current state of message id in rb, or a
// *store.NotFoundError.
func (w *batchWriter) message(rb *roomBuckets, id ulid.ULID) (store.Message, error) {
	return readMessage(rb.log, rb.msgs, rb.name, id)
}

// readMessage returns the current state of message id from a room's log and
// message index (either may be nil: a room without events), or a
// *store.NotFoundError.
func readMessage(log, msgs *bbolt.Bucket, room string, id ulid.ULID) (store.Message, error) {
	var v []byte
	if msgs != nil {
		v = msgs.Get(id[:])
	}
	if v == nil {
		return store.Message{}, noMessage(id, room)
	}
	var m store.Message
	if len(v) == 0 { // unchanged: the state is the message event
		typ, js, err := decodeValue(log.Get(id[:]))
		if err != nil || typ != store.TypeMessage {
			return m, fmt.Errorf("message %s: index and log disagree (%v)", id, err)
		}
		v = js
	}
	if err := m.UnmarshalJSON(v); err != nil {
		return m, fmt.Errorf("message %s: %w", id, err)
	}
	return m, nil
}

// redact removes the text of message id and of its edits, in place: the one
// change the log ever makes to a stored event. The stale copies bbolt leaves
// in freed pages are scrubbed after the commit: the ids are queued for the
// scrubber in this transaction, so a crash cannot lose them.
func (w *batchWriter) redact(rb *roomBuckets, id ulid.ULID) error {
	ids := []ulid.ULID{id}
	c := rb.edits.Cursor()
	for k, _ := c.Seek(id[:]); k != nil && len(k) == 32 && string(k[:16]) == string(id[:]); k, _ = c.Next() {
		var edit ulid.ULID
		copy(edit[:], k[16:])
		ids = append(ids, edit)
	}
	for _, rid := range ids {
		typ, js, err := decodeValue(rb.log.Get(rid[:]))
		if err != nil {
			return fmt.Errorf("redact %s: %w", rid, err)
		}
		var e store.Event
		if err := e.UnmarshalJSON(js); err != nil {
			return fmt.Errorf("redact %s: %w", rid, err)
		}
		if w.d.Replica {
			// Its gap record, as it was applied (files included).
			if err := queueErase(w.tx, rid, js); err != nil {
				return err
			}
		}
		e.Redact()
		red, err := e.MarshalJSON()
		if err != nil {
			return err
		}
		if err := rb.log.Put(rid.Bytes(), encodeValue(typ, red)); err != nil {
			return err
		}
	}
	scrub := w.tx.Bucket(bucketScrub)
	for _, rid := range ids {
		if err := scrub.Put(rid.Bytes(), []byte(rb.name)); err != nil {
			return err
		}
	}
	w.redacted = append(w.redacted, ids...)
	return nil
}

// finish updates the counts of the rooms the batch added to.
func (w *batchWriter) finish() error {
	for _, rb := range w.touched {
		if rb.added > 0 {
			if err := putCount(rb.room, getCount(rb.room)+rb.added); err != nil {
				return err
			}
		}
	}
	return nil
}

// getRecord reads the record with the given 16-byte id from room's log,
// copying it out of the transaction.
func getRecord(rooms *bbolt.Bucket, room string, id []byte) (store.Record, error) {
	rb := rooms.Bucket([]byte(room))
	if rb == nil {
		return store.Record{}, store.ErrNotFound
	}
	v := rb.Bucket(bucketLog).Get(id)
	if v == nil {
		return store.Record{}, store.ErrNotFound
	}
	typ, js, err := decodeValue(v)
	if err != nil {
		return store.Record{}, err
	}
	var rec store.Record
	copy(rec.ID[:], id)
	rec.Room, rec.Type, rec.JSON = room, typ, append([]byte(nil), js...)
	return rec, nil
}

// clientIDKey is the key of a client id: scoped to its room and author,
// so one author's retry never answers with another's event. Neither a room
// name nor an author contains a NUL, so the key parses back unambiguously.
func clientIDKey(room, author, cid string) []byte {
	k := make([]byte, 0, len(room)+len(author)+2+len(cid))
	k = append(k, room...)
	k = append(k, 0)
	k = append(k, author...)
	k = append(k, 0)
	return append(k, cid...)
}
