package storetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// Import implements store.Log. The whole input is checked, then stored at
// once: a Fake has no partial imports.
func (f *Fake) Import(ctx context.Context, room string, src io.ReadSeeker) (store.ImportReport, error) {
	if err := store.ValidateRoom(room); err != nil {
		return store.ImportReport{}, err
	}
	events, rep, err := parseImport(room, src, f.MaxTextBytes, f.Now(), f.MaxClockSkew)
	if err != nil {
		return rep, err
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return rep, err
	}
	if err := f.checkImport(room, events); err != nil {
		return rep, err
	}
	if err := f.checkImportedFiles(events); err != nil {
		return rep, err
	}
	r := f.room(room)
	for _, e := range events {
		if r.findIn(e.ID) >= 0 {
			rep.Skipped++
			continue
		}
		js, err := e.MarshalJSON()
		if err != nil {
			return rep, err
		}
		if err := f.add(r, store.Record{ID: e.ID, Room: room, Type: e.Type, JSON: js}, e); err != nil {
			return rep, err
		}
		f.rememberClientID(e)
		if e.ID.Compare(f.last) > 0 {
			f.last = e.ID
		}
		rep.Imported++
	}
	return rep, nil
}

// parseImport reads the lines of an import into room: each a valid event
// of room within the text limit, in id order, dated no later than skew
// after now. Line n is events[n-1].
func parseImport(room string, src io.Reader, maxText int, now time.Time, skew time.Duration) ([]store.Event, store.ImportReport, error) {
	var (
		events []store.Event
		rep    store.ImportReport
	)
	limit := store.ImportLineLimit(maxText)
	sc := bufio.NewScanner(src)
	sc.Buffer(nil, limit)
	for sc.Scan() {
		rep.Lines++
		e, err := store.ParseImportLine(sc.Bytes(), maxText)
		if err == nil {
			err = store.CheckIDTime(e.ID, now, skew)
		}
		switch {
		case err != nil:
		case e.Room != room:
			err = fmt.Errorf("event of room %q in an import into %q", e.Room, room)
		case len(events) > 0 && e.ID.Compare(events[len(events)-1].ID) <= 0:
			err = fmt.Errorf("id %s does not follow %s: lines must be in id order", e.ID, events[len(events)-1].ID)
		}
		if err != nil {
			return nil, rep, &store.ImportError{Line: rep.Lines, Err: err}
		}
		events = append(events, e)
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, rep, &store.ImportError{Line: rep.Lines + 1, Err: fmt.Errorf("the line is longer than %d bytes, more than any event", limit)}
	} else if err != nil {
		return nil, rep, fmt.Errorf("reading import: %w", err)
	}
	if len(events) == 0 {
		return nil, rep, &store.ImportError{Line: 1, Err: errors.New("nothing to import")}
	}
	return events, rep, nil
}

// checkImport applies the rules between an import and the room: what an
// event refers to is earlier in the file or in the room; each change is
// permitted against its message's state as the file leaves it (the rules
// of Append); events the room has are identical; new ones come after its
// newest. f.mu must be held.
func (f *Fake) checkImport(room string, events []store.Event) error {
	r := f.rooms[room]
	// What the rules need of each message the file adds or changes: its
	// author and whether a delete went before (a message of the file is
	// exported redacted when a later line deletes it).
	state := map[ulid.ULID]store.Message{}
	for n, e := range events {
		ref := e.Target
		if e.Type == store.TypeMessage {
			state[e.ID], ref = store.Message{Author: e.Author}, e.ReplyTo
		}
		if ref == (ulid.ULID{}) {
			continue
		}
		m, ok := state[ref]
		if !ok && r.hasMessage(ref) {
			m, ok = store.Message{Author: r.msgs[ref].Author, Redacted: r.msgs[ref].Redacted}, true
		}
		if !ok {
			return &store.ImportError{Line: n + 1, Err: fmt.Errorf("refers to message %s, which is neither earlier in the file nor in the room", ref)}
		}
		if e.Type == store.TypeMessage || r.findIn(e.ID) >= 0 {
			continue // a reply, or a change the room has already
		}
		if err := m.Permit(e); err != nil {
			return &store.ImportError{Line: n + 1, Err: fmt.Errorf("%s of message %s: %w", e.Type, e.Target, err)}
		}
		m.Redacted = m.Redacted || e.Type == store.TypeDelete
		state[ref] = m
	}
	var newest ulid.ULID
	if r != nil && len(r.log) > 0 {
		newest = r.log[len(r.log)-1].ID
	}
	for n, e := range events {
		if i := r.findIn(e.ID); i >= 0 {
			if !store.SameEvent(r.log[i].JSON, e) {
				return &store.ImportError{Line: n + 1, Err: fmt.Errorf("event %s is already stored with other content", e.ID)}
			}
		} else if e.ID.Compare(newest) <= 0 {
			return &store.ImportError{Line: n + 1, Err: fmt.Errorf("event %s is older than the room's newest event %s: import only into an empty room or after where it ends", e.ID, newest)}
		}
	}
	return nil
}

// findIn returns the index of the record with id, or -1 (r may be nil).
func (r *fakeRoom) findIn(id ulid.ULID) int {
	if r == nil {
		return -1
	}
	if i := r.find(id); i < len(r.log) && r.log[i].ID == id {
		return i
	}
	return -1
}

// Backup implements store.Log: it writes every room's log as JSON lines,
// rooms in name order. The copy is for inspection; nothing reads it back.
func (f *Fake) Backup(w io.Writer, size func(int64)) (int64, error) {
	f.mu.RLock()
	err := f.usable()
	var buf bytes.Buffer
	names := make([]string, 0, len(f.rooms))
	for name := range f.rooms {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, rec := range f.rooms[name].log {
			buf.Write(rec.JSON)
			buf.WriteByte('\n')
		}
	}
	f.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	if size != nil {
		size(int64(buf.Len()))
	}
	return buf.WriteTo(w)
}

// Size implements store.Log: the bytes of the events' JSON.
func (f *Fake) Size() (int64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var n int64
	for _, r := range f.rooms {
		for _, rec := range r.log {
			n += int64(len(rec.JSON))
		}
	}
	return n, f.usable()
}

// RoomRetention implements store.Log.
func (f *Fake) RoomRetention(ctx context.Context, room string) (*store.Retention, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if err := f.usable(); err != nil {
		return nil, err
	}
	if r, ok := f.settings[room]; ok {
		return &r, nil
	}
	return nil, ctx.Err()
}

// SetRoomRetention implements store.Log.
func (f *Fake) SetRoomRetention(ctx context.Context, room string, r *store.Retention) error {
	if err := store.ValidateRoom(room); err != nil {
		return err
	}
	if r != nil {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return err
	}
	if r == nil {
		delete(f.settings, room)
	} else {
		f.settings[room] = *r
	}
	return ctx.Err()
}

// Prune applies retention now, as background pruning does: each room
// loses its oldest events beyond its own Retention or the Fake's, with
// their client ids. It returns how many events it deleted.
func (f *Fake) Prune() (int, error) {
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return 0, err
	}
	now, n := f.Now(), 0
	for name, r := range f.rooms {
		ret, ok := f.settings[name]
		if !ok {
			ret = f.Retention
		}
		withFiles := map[ulid.ULID]store.Message{}
		for id, m := range r.msgs {
			if len(m.Files) > 0 {
				withFiles[id] = m
			}
		}
		for _, id := range r.prune(ret, now) {
			if m, ok := withFiles[id]; ok {
				f.followFiles(name, &m, nil)
			}
			if k, ok := f.cidOf[id]; ok {
				delete(f.cids, k)
				delete(f.cidOf, id)
			}
			n++
		}
	}
	return n, nil
}

// pruneLoop prunes every PruneEvery until Close.
func (f *Fake) pruneLoop() {
	defer f.pruner.Done()
	t := time.NewTicker(f.PruneEvery)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
			f.Prune()
		}
	}
}
