package storetest

import (
	"context"
	"slices"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// Mark implements store.Marks.
func (f *Fake) Mark(ctx context.Context, person, room string) (ulid.ULID, error) {
	var id ulid.ULID
	err := f.read(ctx, OpMarks, func() (int, error) {
		id = f.marks[markKey(person, room)]
		return 0, nil
	})
	return id, err
}

// SetMark implements store.Marks.
func (f *Fake) SetMark(ctx context.Context, person, room string, id ulid.ULID) (ulid.ULID, error) {
	if err := ctx.Err(); err != nil {
		return ulid.ULID{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return ulid.ULID{}, err
	}
	r := f.rooms[room]
	if r == nil || len(r.log) == 0 {
		return ulid.ULID{}, store.ErrNotFound
	}
	if id.Compare(r.log[len(r.log)-1].ID) > 0 {
		return ulid.ULID{}, store.Invalid("id", "is after the newest event of the room")
	}
	k := markKey(person, room)
	if id.Compare(f.marks[k]) > 0 {
		f.marks[k] = id
	}
	return f.marks[k], nil
}

func markKey(person, room string) string { return person + "\x00" + room }

// Unread implements store.Marks.
func (f *Fake) Unread(ctx context.Context, q store.UnreadQuery) ([]store.Unread, error) {
	out := make([]store.Unread, len(q.Rooms))
	name := store.MentionName(q.Author)
	err := f.read(ctx, OpMarks, func() (int, error) {
		for i, room := range q.Rooms {
			u := store.Unread{Room: room, Mark: f.marks[markKey(q.Person, room)]}
			if r := f.rooms[room]; r != nil {
				for _, id := range r.order {
					m := r.msgs[id]
					if id.Compare(u.Mark) <= 0 || m.Redacted || m.Author == q.Author {
						continue
					}
					u.Messages = min(u.Messages+1, q.Limit)
					if name != "" && slices.Contains(m.Notified(), name) {
						u.Mentions = min(u.Mentions+1, q.Limit)
					}
				}
			}
			out[i] = u
		}
		return len(out), nil
	})
	return out, err
}

// Mentions implements store.Log: the states are read in one snapshot,
// then filtered by readable outside the Fake's lock.
func (f *Fake) Mentions(ctx context.Context, name string, before ulid.ULID, limit int, readable func(string) (bool, error)) ([]store.Record, error) {
	var found []store.Record
	err := f.read(ctx, OpMentions, func() (int, error) {
		for room, r := range f.rooms {
			for _, id := range r.order {
				m := r.msgs[id]
				if before != (ulid.ULID{}) && id.Compare(before) >= 0 || !slices.Contains(m.Notified(), name) {
					continue
				}
				js, err := m.MarshalJSON()
				if err != nil {
					return 0, err
				}
				found = append(found, store.Record{ID: id, Room: room, Type: store.TypeMessage, JSON: js})
			}
		}
		return len(found), nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(found, func(a, b store.Record) int { return b.ID.Compare(a.ID) })
	canRead := map[string]bool{}
	var out []store.Record
	for _, rec := range found {
		if len(out) == limit {
			break
		}
		ok, known := canRead[rec.Room]
		if !known {
			if ok, err = readable(rec.Room); err != nil {
				return nil, err
			}
			canRead[rec.Room] = ok
		}
		if ok {
			out = append(out, rec)
		}
	}
	return out, nil
}
