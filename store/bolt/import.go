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
// wrong: the error is an *ImportError naming the line. Then it is stored in
// transactions of importChunk events; an I/O failure there leaves a prefix
// stored, which a second import of the same file completes, because events
// already stored are skipped. New events must be newer than the room's
// newest event. Later appends get ids above every imported id. Imported
// events are not published on streams: they are history.
func (d *DB) Import(ctx context.Context, room string, src io.ReadSeeker) (store.ImportReport, error) {
	if err := store.ValidateRoom(room); err != nil {
		return store.ImportReport{}, err
	}
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
	err = eachLine(src, func(n int, line []byte) error {
		e, _ := store.ParseImportLine(line) // checked above
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

// checkImport validates every line and the references between them.
func (d *DB) checkImport(ctx context.Context, room string, src io.ReadSeeker) (store.ImportReport, error) {
	var (
		rep      store.ImportReport
		prev     ulid.ULID
		messages = map[ulid.ULID]bool{}
		external = map[ulid.ULID]int{} // targets outside the file → first line
		newest   ulid.ULID             // the room's newest stored event
	)
	err := d.view(func(tx *bbolt.Tx) error {
		if rb := tx.Bucket(bucketRooms).Bucket([]byte(room)); rb != nil {
			if k, _ := rb.Bucket(bucketLog).Cursor().Last(); k != nil {
				copy(newest[:], k)
			}
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	err = eachLine(src, func(n int, line []byte) error {
		rep.Lines = n
		e, err := store.ParseImportLine(line)
		if err != nil {
			return &store.ImportError{Line: n, Err: err}
		}
		switch {
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
	// References to messages before the file must be in the room already;
	// events the room has must be identical; new ones must come after it.
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
	return rep, d.view(func(tx *bbolt.Tx) error {
		rb := tx.Bucket(bucketRooms).Bucket([]byte(room))
		return eachLine(src, func(n int, line []byte) error {
			e, _ := store.ParseImportLine(line)
			if rb != nil {
				if v := rb.Bucket(bucketLog).Get(e.ID[:]); v != nil {
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
			return nil
		})
	})
}

// eachLine calls fn with every line of r and its 1-based number.
func eachLine(r io.Reader, fn func(n int, line []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		if err := fn(n, sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
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
			ck := clientIDKey(e.Room, e.ClientID)
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
