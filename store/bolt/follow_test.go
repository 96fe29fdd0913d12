package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// mirror is a follower that keeps, in memory, the state it was told of
// each message: it must always equal the log's message index.
type mirror struct {
	states map[ulid.ULID]store.Message
	fail   error // returned by follow, when set
}

func (m *mirror) follow(_ *bbolt.Tx, room string, old, new *store.Message) error {
	if m.fail != nil {
		return m.fail
	}
	switch {
	case old == nil && new == nil:
		return errors.New("told of a change from nothing to nothing")
	case old == nil:
		if _, ok := m.states[new.ID]; ok {
			return fmt.Errorf("told of message %s twice as new", new.ID)
		}
		m.states[new.ID] = new.Clone()
	default:
		have, ok := m.states[old.ID]
		hj, _ := have.MarshalJSON()
		oj, _ := old.MarshalJSON()
		if !ok || !bytes.Equal(hj, oj) {
			return fmt.Errorf("told of a change of %s from %s, but it was %s", old.ID, oj, hj)
		}
		if new == nil {
			delete(m.states, old.ID)
		} else {
			m.states[old.ID] = new.Clone()
		}
	}
	return nil
}

// equals fails tb unless the mirror holds exactly room's messages, as the
// log's index states them.
func (m *mirror) equals(tb testing.TB, d *DB, room string) {
	tb.Helper()
	page, err := d.Messages(context.Background(), room, store.Page{Forward: true, Limit: 1_000_000})
	if err != nil {
		tb.Fatal(err)
	}
	if len(page) != len(m.states) {
		tb.Fatalf("got %d messages followed, want the index's %d", len(m.states), len(page))
	}
	for _, rec := range page {
		st, ok := m.states[rec.ID]
		js, _ := st.MarshalJSON()
		if !ok || !bytes.Equal(js, rec.JSON) {
			tb.Fatalf("message %s: got %s followed, want %s", rec.ID, js, rec.JSON)
		}
	}
}

// TestFollowersSeeEveryStateChange: through random appends, imports and
// retention, a follower told of each change holds exactly the message
// states the log holds.
func TestFollowersSeeEveryStateChange(t *testing.T) {
	authors := []string{"ann", "bo"}
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 11))
			src := &mirror{states: map[ulid.ULID]store.Message{}}
			d := mustOpenDB(t, "", func(d *DB) { d.followers = []follower{src} })
			var msgs []ulid.ULID
			for i := 0; i < 200; i++ {
				e := store.Event{Room: "r", Author: authors[rng.IntN(len(authors))]}
				switch op := rng.IntN(10); {
				case op < 4 || len(msgs) == 0:
					e.Type, e.Text = store.TypeMessage, fmt.Sprint("m", i)
				case op < 6:
					e.Type, e.Text, e.Target = store.TypeEdit, fmt.Sprint("e", i), msgs[rng.IntN(len(msgs))]
				case op < 7:
					e.Type, e.Target = store.TypeDelete, msgs[rng.IntN(len(msgs))]
				default:
					e.Type, e.Target, e.Emoji, e.Remove = store.TypeReaction, msgs[rng.IntN(len(msgs))], "👍", rng.IntN(2) == 0
				}
				rec, created, err := d.Append(context.Background(), e)
				if err != nil && !errors.Is(err, store.ErrForbidden) && !errors.Is(err, store.ErrConflict) {
					t.Fatalf("op %d: %v", i, err)
				}
				if created && e.Type == store.TypeMessage {
					msgs = append(msgs, rec.ID)
				}
			}
			src.equals(t, d, "r")

			// An import tells the followers of another log the same states.
			dst := &mirror{states: map[ulid.ULID]store.Message{}}
			d2 := mustOpenDB(t, "", func(d *DB) { d.followers = []follower{dst} })
			if _, err := d2.Import(context.Background(), "r", bytes.NewReader(exportRaw(t, d, "r"))); err != nil {
				t.Fatal(err)
			}
			dst.equals(t, d2, "r")

			// Retention removes messages from the followers too.
			if err := d.SetRoomRetention(context.Background(), "r", &store.Retention{Events: 50}); err != nil {
				t.Fatal(err)
			}
			if _, err := d.pruneRooms(d.Now()); err != nil {
				t.Fatal(err)
			}
			src.equals(t, d, "r")
		})
	}
}

// TestFollowerFailureAbortsTheAppend: what a follower keeps cannot lag the
// log: its failure fails the append, and nothing is stored.
func TestFollowerFailureAbortsTheAppend(t *testing.T) {
	m := &mirror{states: map[ulid.ULID]store.Message{}}
	d := mustOpenDB(t, "", func(d *DB) { d.followers = []follower{m} })
	mustAppend(t, d, "r", "ann", "kept")
	m.fail = errors.New("index full")
	if _, _, err := d.Append(context.Background(), store.Event{Room: "r", Type: store.TypeMessage, Author: "ann", Text: "lost"}); err == nil {
		t.Fatal("append succeeded while its follower failed")
	}
	m.fail = nil
	m.equals(t, d, "r")
}
