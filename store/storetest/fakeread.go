package storetest

import (
	"context"
	"slices"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// read runs one read: the BeforeRead hook, then fn on a snapshot (under the
// read lock), then the AfterRead hook with what fn counted.
func (f *Fake) read(ctx context.Context, op Op, fn func() (int, error)) error {
	h := f.currentHooks()
	if h.BeforeRead != nil {
		if err := h.BeforeRead(ctx, op); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.RLock()
	err := f.usable()
	n := 0
	if err == nil {
		n, err = fn()
	}
	f.mu.RUnlock()
	if err != nil {
		return err
	}
	if h.AfterRead != nil {
		h.AfterRead(ctx, op, n)
	}
	return nil
}

// ReadAfter implements store.Log.
func (f *Fake) ReadAfter(ctx context.Context, rooms []string, after ulid.ULID, limit int) ([]store.Record, error) {
	var out []store.Record
	err := f.read(ctx, OpReadAfter, func() (int, error) {
		out = f.after(rooms, after, limit)
		return len(out), nil
	})
	return out, err
}

// ReadReplay implements store.Log: records and gaps come from one snapshot.
func (f *Fake) ReadReplay(ctx context.Context, rooms []string, after ulid.ULID, limit int) (store.Replay, error) {
	var out store.Replay
	err := f.read(ctx, OpReadReplay, func() (int, error) {
		for _, name := range rooms {
			if r := f.rooms[name]; r != nil && r.pruned.Compare(after) > 0 {
				g := store.Gap{Room: name, Pruned: r.pruned}
				if len(r.log) > 0 {
					g.Oldest = r.log[0].ID
				}
				out.Gaps = append(out.Gaps, g)
			}
		}
		out.Records = f.after(rooms, after, limit)
		return len(out.Records), nil
	})
	return out, err
}

// after merges the rooms' records after the id after, up to limit, into a
// new slice. f.mu must be held.
func (f *Fake) after(rooms []string, after ulid.ULID, limit int) []store.Record {
	var out []store.Record
	for _, name := range slices.Compact(slices.Sorted(slices.Values(rooms))) {
		if r := f.rooms[name]; r != nil {
			out = append(out, r.log[r.after(after):]...)
		}
	}
	slices.SortFunc(out, func(a, b store.Record) int { return a.ID.Compare(b.ID) })
	return out[:min(len(out), max(limit, 0))]
}

// ReadBefore implements store.Log.
func (f *Fake) ReadBefore(ctx context.Context, room string, before ulid.ULID, limit int) ([]store.Record, error) {
	var out []store.Record
	err := f.read(ctx, OpReadBefore, func() (int, error) {
		r := f.rooms[room]
		if r == nil || limit <= 0 {
			return 0, nil
		}
		end := len(r.log)
		if before != (ulid.ULID{}) {
			end = r.find(before)
		}
		out = slices.Clone(r.log[max(0, end-limit):end])
		return len(out), nil
	})
	return out, err
}

// Messages implements store.Log.
func (f *Fake) Messages(ctx context.Context, room string, p store.Page) ([]store.Record, error) {
	var out []store.Record
	err := f.read(ctx, OpMessages, func() (int, error) {
		r := f.rooms[room]
		if p.Around != (ulid.ULID{}) {
			if r == nil {
				return 0, store.ErrNotFound
			}
			if _, ok := r.msgs[p.Around]; !ok {
				return 0, store.ErrNotFound
			}
		}
		if r == nil || p.Limit <= 0 {
			return 0, nil
		}
		search := func(id ulid.ULID) int {
			i, _ := slices.BinarySearchFunc(r.order, id, ulid.ULID.Compare)
			return i
		}
		var page []ulid.ULID
		switch {
		case p.Around != (ulid.ULID{}):
			before, after := store.AroundSplit(p.Limit)
			at := search(p.Around)
			page = r.order[max(0, at-before):min(len(r.order), at+1+after)]
		case p.Forward:
			start := search(p.After)
			if start < len(r.order) && r.order[start] == p.After {
				start++
			}
			page = r.order[start:min(len(r.order), start+p.Limit)]
		default:
			end := len(r.order)
			if p.Before != (ulid.ULID{}) {
				end = search(p.Before)
			}
			page = r.order[max(0, end-p.Limit):end]
		}
		for _, id := range page {
			js, err := r.msgs[id].MarshalJSON()
			if err != nil {
				return 0, err
			}
			out = append(out, store.Record{ID: id, Room: room, Type: store.TypeMessage, JSON: js})
		}
		return len(out), nil
	})
	return out, err
}

// Horizon implements store.Log.
func (f *Fake) Horizon(ctx context.Context, room string) (pruned, oldest ulid.ULID, err error) {
	err = f.read(ctx, OpHorizon, func() (int, error) {
		if r := f.rooms[room]; r != nil {
			pruned = r.pruned
			if len(r.log) > 0 {
				oldest = r.log[0].ID
			}
		}
		return 0, nil
	})
	return pruned, oldest, err
}

// Rooms implements store.Log.
func (f *Fake) Rooms(ctx context.Context) ([]store.Room, error) {
	var out []store.Room
	err := f.read(ctx, OpRooms, func() (int, error) {
		for name, r := range f.rooms {
			room := store.Room{Name: name, Events: uint64(len(r.log))}
			for _, m := range r.msgs {
				if !m.Redacted {
					room.Messages++
				}
			}
			if len(r.log) > 0 {
				room.LastID = r.log[len(r.log)-1].ID
			}
			out = append(out, room)
		}
		slices.SortFunc(out, func(a, b store.Room) int { return strings.Compare(a.Name, b.Name) })
		return len(out), nil
	})
	return out, err
}
