package bolt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// importChunk is how many events one import transaction stores.
const importChunk = 5000

// Import reads a JSON-lines export of room (one event per line, as export
// writes it) and stores the events it does not have yet, ids preserved.
//
// The whole input is checked first, and nothing is stored if any line is
// wrong: the error is an *ImportError naming the line. The rules are an
// append's (text limit, who may change a message, no change to a deleted
// one) plus an import's own: lines in id order, none dated more than
// MaxClockSkew ahead of Now, references inside the file or the room. Then it
// is stored in transactions of importChunk events; an I/O failure there
// leaves a prefix stored, which a second import of the same file completes,
// because events already stored are skipped. New events must be newer than
// the room's newest event. Later appends get ids above every imported id.
// Imported events are not published on streams: they are history.
func (d *DB) Import(ctx context.Context, room string, src io.ReadSeeker) (store.ImportReport, error) {
	if d.Replica {
		return store.ImportReport{}, ErrReplica
	}
	if err := store.ValidateRoom(room); err != nil {
		return store.ImportReport{}, err
	}
	// The objects of imported files must stay until their records commit.
	d.files.mu.RLock()
	defer d.files.mu.RUnlock()
	rep, err := d.checkImport(ctx, room, src)
	if err != nil {
		return rep, err
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return rep, err
	}
	chunk := make([]store.Event, 0, importChunk)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		r, err := d.enqueueImport(ctx, chunk)
		rep.Imported += r.Imported
		rep.Skipped += r.Skipped
		chunk = chunk[:0]
		return err
	}
	err = d.eachLine(src, func(n int, line []byte) error {
		e, _ := store.ParseImportLine(line, d.MaxTextBytes) // checked above
		chunk = append(chunk, e)
		if len(chunk) == importChunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return rep, fmt.Errorf("import stopped after %d events (importing the same file again completes it): %w", rep.Imported+rep.Skipped, err)
	}
	return rep, nil
}

// CheckImport checks an import of room as Import does, storing nothing: a
// cluster node checks a file against its replica before publishing it.
func (d *DB) CheckImport(ctx context.Context, room string, src io.ReadSeeker) (store.ImportReport, error) {
	if err := store.ValidateRoom(room); err != nil {
		return store.ImportReport{}, err
	}
	return d.checkImport(ctx, room, src)
}

// checkImport validates every line, the references between them, and the
// file against the room.
func (d *DB) checkImport(ctx context.Context, room string, src io.ReadSeeker) (store.ImportReport, error) {
	var (
		rep      store.ImportReport
		prev     ulid.ULID
		messages = map[ulid.ULID]bool{}
		external = map[ulid.ULID]int{} // targets outside the file → first line
		now      = d.Now()
	)
	err := d.eachLine(src, func(n int, line []byte) error {
		rep.Lines = n
		e, err := store.ParseImportLine(line, d.MaxTextBytes)
		if err == nil {
			err = store.CheckIDTime(e.ID, now, d.MaxClockSkew)
		}
		switch {
		case err != nil:
		case e.Room != room:
			err = fmt.Errorf("event of room %q in an import into %q", e.Room, room)
		case e.ID.Compare(prev) <= 0:
			err = fmt.Errorf("id %s does not follow %s: lines must be in id order", e.ID, prev)
		case e.Type == store.TypeMessage:
			messages[e.ID] = true
			if e.ReplyTo != (ulid.ULID{}) && !messages[e.ReplyTo] {
				if _, ok := external[e.ReplyTo]; !ok {
					external[e.ReplyTo] = n
				}
			}
		case !messages[e.Target]:
			if _, ok := external[e.Target]; !ok {
				external[e.Target] = n
			}
		}
		if err != nil {
			return &store.ImportError{Line: n, Err: err}
		}
		prev = e.ID
		return ctx.Err()
	})
	if err != nil {
		return rep, err
	}
	if rep.Lines == 0 {
		return rep, &store.ImportError{Line: 1, Err: errors.New("nothing to import")}
	}
	// References to messages before the file must be in the room already.
	err = d.view(func(tx *bbolt.Tx) error {
		rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
		// Report the first line that fails, whatever the map's order.
		var first *store.ImportError
		for id, n := range external {
			if (first == nil || n < first.Line) && (rb == nil || rb.Bucket(bucketMsgs) == nil || rb.Bucket(bucketMsgs).Get(id[:]) == nil) {
				first = &store.ImportError{Line: n, Err: fmt.Errorf("refers to message %s, which is neither earlier in the file nor in the room", id)}
			}
		}
		if first != nil {
			return first
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return rep, err
	}
	return rep, d.checkAgainstRoom(room, src)
}

// checkAgainstRoom checks each line against what room holds: an event the
// room has must be identical, a new one must be newer than the room's
// newest event and obey the change rules of an append.
func (d *DB) checkAgainstRoom(room string, src io.Reader) error {
	return d.view(func(tx *bbolt.Tx) error {
		rules := importRules{room: room, states: map[ulid.ULID]importedMessage{}, authors: map[string]string{}}
		var newest ulid.ULID
		if rb := tx.Bucket(bucketRooms).Bucket([]byte(room)); rb != nil {
			rules.log, rules.msgs = rb.Bucket(bucketLog), rb.Bucket(bucketMsgs)
			if k, _ := rules.log.Cursor().Last(); k != nil {
				copy(newest[:], k)
			}
		}
		return d.eachLine(src, func(n int, line []byte) error {
			e, _ := store.ParseImportLine(line, d.MaxTextBytes)
			if rules.log != nil {
				if v := rules.log.Get(e.ID[:]); v != nil {
					_, js, _ := decodeValue(v)
					if !store.SameEvent(js, e) {
						return &store.ImportError{Line: n, Err: fmt.Errorf("event %s is already stored with other content", e.ID)}
					}
					return nil
				}
			}
			if e.ID.Compare(newest) <= 0 {
				return &store.ImportError{Line: n, Err: fmt.Errorf("event %s is older than the room's newest event %s: import only into an empty room or after where it ends", e.ID, newest)}
			}
			if err := rules.check(e); err != nil {
				return &store.ImportError{Line: n, Err: err}
			}
			if err := d.checkImportedFiles(tx, e); err != nil {
				return &store.ImportError{Line: n, Err: err}
			}
			return nil
		})
	})
}

// importRules folds the new events of an import, as far as the change
// rules need: each message's author and whether it was deleted.
type importRules struct {
	room      string
	log, msgs *bbolt.Bucket // the room's, nil if it has none
	states    map[ulid.ULID]importedMessage
	authors   map[string]string // interned: one string per author
}

type importedMessage struct {
	author  string
	deleted bool
}

// check applies store.Message.Permit to a new event, as an append would.
func (r *importRules) check(e store.Event) error {
	if e.Type == store.TypeMessage {
		a, ok := r.authors[e.Author]
		if !ok {
			a, r.authors[e.Author] = e.Author, e.Author
		}
		r.states[e.ID] = importedMessage{author: a}
		return nil
	}
	st, ok := r.states[e.Target]
	if !ok { // a message the room has: its state now
		m, err := readMessage(r.log, r.msgs, r.room, e.Target)
		if err != nil {
			return err
		}
		st = importedMessage{author: m.Author, deleted: m.Redacted}
	}
	m := store.Message{Author: st.author, Redacted: st.deleted}
	if err := m.Permit(e); err != nil {
		if errors.Is(err, store.ErrForbidden) {
			return fmt.Errorf("%s by %q of a message by %q: %w (an admin's change carries \"moderated\":true)", e.Type, e.Author, st.author, err)
		}
		return fmt.Errorf("%s of message %s: %w", e.Type, e.Target, err)
	}
	if e.Type == store.TypeDelete {
		st.deleted = true
	}
	r.states[e.Target] = st
	return nil
}

// eachLine calls fn with every line of r and its 1-based number. A line
// longer than any event the log can hold is an *ImportError.
func (d *DB) eachLine(r io.Reader, fn func(n int, line []byte) error) error {
	limit := store.ImportLineLimit(d.MaxTextBytes)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), limit)
	n := 1
	for ; sc.Scan(); n++ {
		if err := fn(n, sc.Bytes()); err != nil {
			return err
		}
	}
	switch err := sc.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		return &store.ImportError{Line: n, Err: fmt.Errorf("longer than %d bytes, more than any event can be", limit)}
	case err != nil:
		return fmt.Errorf("reading import: %w", err)
	}
	return nil
}

// enqueueImport stores a checked chunk through the writer, which owns the
// id sequence.
func (d *DB) enqueueImport(ctx context.Context, events []store.Event) (store.ImportReport, error) {
	req := &appendReq{ctx: ctx, imp: append([]store.Event(nil), events...), done: make(chan appendResult, 1)}
	d.mu.RLock()
	if d.closed || d.db == nil {
		d.mu.RUnlock()
		return store.ImportReport{}, store.ErrClosed
	}
	d.queue <- req
	d.mu.RUnlock()
	r := <-req.done
	return r.imported, r.err
}

// importEvents stores events that are not in the log yet, folding them into
// the message index as appends would, and advances the id sequence.
func (w *batchWriter) importEvents(events []store.Event) (appendResult, error) {
	var res appendResult
	// Checked before, but this is where the id sequence moves: refuse the
	// chunk whole rather than let any id take it into the future.
	now := w.now()
	for _, e := range events {
		if err := store.CheckIDTime(e.ID, now, w.d.MaxClockSkew); err != nil {
			res.err = err
			return res, nil
		}
	}
	for _, e := range events {
		rb, err := w.room(e.Room, true)
		if err != nil {
			return res, err
		}
		key := e.ID.Bytes()
		if rb.log.Get(key) != nil {
			res.imported.Skipped++
			continue
		}
		js, err := e.MarshalJSON()
		if err != nil {
			return res, err
		}
		if err := rb.log.Put(key, encodeValue(e.Type, js)); err != nil {
			return res, err
		}
		rb.added++
		if err := w.index(rb, e, key); err != nil {
			return res, err
		}
		if e.ClientID != "" {
			ck := clientIDKey(e.Room, e.Author, e.ClientID)
			if w.tx.Bucket(bucketCIDs).Get(ck) == nil {
				if err := w.tx.Bucket(bucketCIDs).Put(ck, key); err != nil {
					return res, err
				}
				if err := w.tx.Bucket(bucketCIDsByID).Put(key, ck); err != nil {
					return res, err
				}
			}
		}
		w.d.ids.advance(e.ID)
		res.imported.Imported++
		if e.ID.Compare(w.lastID) > 0 {
			w.lastID = e.ID
		}
	}
	return res, nil
}

// checkImportedFiles checks the files a new message of an import carries:
// each one's object must be in Blobs with its size, and an id the log
// knows must be the same content in the same room, not carried by another
// message.
func (d *DB) checkImportedFiles(tx *bbolt.Tx, e store.Event) error {
	for _, ref := range e.Files {
		if err := store.ValidateSHA256(ref.SHA256); err != nil {
			return fmt.Errorf("file %s: %w", ref.ID, err)
		}
		if f, err := getFile(tx, ref.ID); err == nil {
			if f.SHA256 != ref.SHA256 || f.Room != e.Room || !f.Pending() && f.Message != e.ID {
				return fmt.Errorf("file %s exists with other content", ref.ID)
			}
		}
		size, err := d.BlobStore.Stat(ref.SHA256)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("file %s: its bytes (%s) are not in the import: import the zip export", ref.ID, ref.SHA256)
		}
		if err != nil {
			return err
		}
		if size != ref.Size {
			return fmt.Errorf("file %s: %d bytes, not %d", ref.ID, size, ref.Size)
		}
	}
	return nil
}
