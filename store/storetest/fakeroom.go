package storetest

import (
	"fmt"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// fakeRoom is one room of a Fake: its log and the state of its messages.
// The Fake's lock guards it.
type fakeRoom struct {
	log    []store.Record              // id order: appends and imports add at the end, retention deletes from the front
	msgs   map[ulid.ULID]store.Message // each message's current state
	order  []ulid.ULID                 // the ids of msgs, in id order
	edits  map[ulid.ULID][]ulid.ULID   // message → its edits, to redact with it
	pruned ulid.ULID                   // the newest event retention deleted
}

// find returns the index in r.log of the first record with an id at or
// above id (len(r.log) if none).
func (r *fakeRoom) find(id ulid.ULID) int {
	i, _ := slices.BinarySearchFunc(r.log, id, func(rec store.Record, id ulid.ULID) int { return rec.ID.Compare(id) })
	return i
}

// after returns the index of the first record with an id above id.
func (r *fakeRoom) after(id ulid.ULID) int {
	i := r.find(id)
	if i < len(r.log) && r.log[i].ID == id {
		i++
	}
	return i
}

// hasMessage reports whether message id is in the room (r may be nil).
func (r *fakeRoom) hasMessage(id ulid.ULID) bool {
	if r == nil {
		return false
	}
	_, ok := r.msgs[id]
	return ok
}

// add stores rec, the record of e, after every record of the room, and
// folds e into the state of the message it is or changes.
func (r *fakeRoom) add(rec store.Record, e store.Event) error {
	if n := len(r.log); n > 0 && rec.ID.Compare(r.log[n-1].ID) <= 0 {
		return fmt.Errorf("record %s does not follow %s", rec.ID, r.log[n-1].ID)
	}
	r.log = append(r.log, rec)
	if e.Type == store.TypeMessage {
		r.msgs[e.ID] = store.NewMessage(e)
		r.order = append(r.order, e.ID)
		return nil
	}
	m, ok := r.msgs[e.Target]
	if !ok {
		return nil // its message is gone: the change changes nothing
	}
	switch e.Type {
	case store.TypeEdit:
		r.edits[e.Target] = append(r.edits[e.Target], e.ID)
	case store.TypeDelete:
		if err := r.redact(e.Target); err != nil {
			return err
		}
	}
	m.Apply(e)
	r.msgs[e.Target] = m
	return nil
}

// redact removes the text of message id and of its edits. Records already
// handed out keep their JSON: it is replaced, never changed in place.
func (r *fakeRoom) redact(id ulid.ULID) error {
	for _, rid := range append([]ulid.ULID{id}, r.edits[id]...) {
		i := r.find(rid)
		if i == len(r.log) || r.log[i].ID != rid {
			continue // pruned
		}
		e, err := r.log[i].Decode()
		if err != nil {
			return fmt.Errorf("redact %s: %w", rid, err)
		}
		e.Redact()
		if r.log[i].JSON, err = e.MarshalJSON(); err != nil {
			return err
		}
	}
	return nil
}

// prune deletes the oldest events that ret no longer keeps at time now,
// with their message state, and returns their ids.
func (r *fakeRoom) prune(ret store.Retention, now time.Time) []ulid.ULID {
	var cutoff ulid.ULID // events below it are too old
	if ret.For > 0 {
		_ = cutoff.SetTime(ulid.Timestamp(now.Add(-time.Duration(ret.For))))
	}
	n := 0
	for n < len(r.log) {
		tooMany := ret.Events > 0 && len(r.log)-n > ret.Events
		tooOld := ret.For > 0 && r.log[n].ID.Compare(cutoff) < 0
		if !tooMany && !tooOld {
			break
		}
		n++
	}
	if n == 0 {
		return nil
	}
	gone := make([]ulid.ULID, n)
	for i, rec := range r.log[:n] {
		gone[i] = rec.ID
		delete(r.msgs, rec.ID)
		delete(r.edits, rec.ID)
	}
	r.pruned = gone[n-1]
	r.log = slices.Delete(r.log, 0, n)
	i, _ := slices.BinarySearchFunc(r.order, r.pruned, ulid.ULID.Compare)
	if i < len(r.order) && r.order[i] == r.pruned {
		i++
	}
	r.order = slices.Delete(r.order, 0, i)
	return gone
}
