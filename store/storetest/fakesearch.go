package storetest

import (
	"context"
	"slices"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/search"
)

// OpSearch names Search, for Hooks.
const OpSearch Op = "Search"

// Search implements store.Log by reading every message state of rooms: no
// index, so it is the reference an index is checked against.
func (f *Fake) Search(ctx context.Context, rooms []string, q *search.Query, before ulid.ULID, limit int) ([]store.SearchHit, error) {
	if limit <= 0 || q == nil {
		return nil, nil
	}
	var out []store.SearchHit
	err := f.read(ctx, OpSearch, func() (int, error) {
		seen := map[string]bool{}
		for _, room := range rooms {
			r := f.rooms[room]
			if seen[room] || r == nil {
				continue
			}
			seen[room] = true
			for _, id := range r.order {
				m := r.msgs[id]
				ok, hl := store.SearchMatch(q, room, &m, before)
				if !ok {
					continue
				}
				js, err := m.MarshalJSON()
				if err != nil {
					return 0, err
				}
				out = append(out, store.SearchHit{Record: store.Record{ID: id, Room: room, Type: store.TypeMessage, JSON: js}, Highlights: hl})
			}
		}
		slices.SortFunc(out, func(a, b store.SearchHit) int { return b.Record.ID.Compare(a.Record.ID) })
		out = out[:min(len(out), limit)]
		return len(out), nil
	})
	return out, err
}
