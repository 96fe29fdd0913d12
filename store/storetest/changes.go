package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

func testChangeRules(t *testing.T, open Opener) {
	l := open(t, Options{})
	msg := MustAppend(t, l, "a", "alice", "hello")
	other := MustAppend(t, l, "b", "alice", "elsewhere")
	gone := MustAppend(t, l, "a", "alice", "to delete")
	if _, created, err := appendEvent(l, store.Event{Room: "a", Type: store.TypeDelete, Author: "alice", Target: gone.ID}); err != nil || !created {
		t.Fatalf("delete: %v %v", created, err)
	}
	unknown := ulid.MustParse("01M802EGKM2R908TN6558B93Q5")
	for _, tc := range []struct {
		name string
		e    store.Event
		want error
	}{
		{"edit by another author", store.Event{Room: "a", Type: store.TypeEdit, Author: "bob", Target: msg.ID, Text: "x"}, store.ErrForbidden},
		{"delete by another author", store.Event{Room: "a", Type: store.TypeDelete, Author: "bob", Target: msg.ID}, store.ErrForbidden},
		{"edit of an unknown message", store.Event{Room: "a", Type: store.TypeEdit, Author: "alice", Target: unknown, Text: "x"}, store.ErrNotFound},
		{"edit of a message in another room", store.Event{Room: "a", Type: store.TypeEdit, Author: "alice", Target: other.ID, Text: "x"}, store.ErrNotFound},
		{"change in a room that does not exist", store.Event{Room: "nope", Type: store.TypeReaction, Author: "alice", Target: msg.ID, Emoji: "👍"}, store.ErrNotFound},
		{"edit of a deleted message", store.Event{Room: "a", Type: store.TypeEdit, Author: "alice", Target: gone.ID, Text: "x"}, store.ErrConflict},
		{"reaction to a deleted message", store.Event{Room: "a", Type: store.TypeReaction, Author: "bob", Target: gone.ID, Emoji: "👍"}, store.ErrConflict},
		{"reply to an unknown message", store.Event{Room: "a", Author: "bob", Text: "re", ReplyTo: unknown}, store.ErrInvalid},
		{"reply to a message in another room", store.Event{Room: "a", Author: "bob", Text: "re", ReplyTo: other.ID}, store.ErrInvalid},
		{"edit without target", store.Event{Room: "a", Type: store.TypeEdit, Author: "alice", Text: "x"}, store.ErrInvalid},
		{"empty edit", store.Event{Room: "a", Type: store.TypeEdit, Author: "alice", Target: msg.ID}, store.ErrInvalid},
		{"emoji with letters", store.Event{Room: "a", Type: store.TypeReaction, Author: "bob", Target: msg.ID, Emoji: "ok"}, store.ErrInvalid},
		{"emoji with a slash", store.Event{Room: "a", Type: store.TypeReaction, Author: "bob", Target: msg.ID, Emoji: "👍/"}, store.ErrInvalid},
		{"emoji of punctuation", store.Event{Room: "a", Type: store.TypeReaction, Author: "bob", Target: msg.ID, Emoji: "?%"}, store.ErrInvalid},
		{"emoji too long", store.Event{Room: "a", Type: store.TypeReaction, Author: "bob", Target: msg.ID, Emoji: strings.Repeat("👍", 9)}, store.ErrInvalid},
		{"empty emoji", store.Event{Room: "a", Type: store.TypeReaction, Author: "bob", Target: msg.ID}, store.ErrInvalid},
		{"client-set redaction", store.Event{Room: "a", Author: "bob", Text: "x", Redacted: true}, store.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := appendEvent(l, tc.e); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	rooms, _ := l.Rooms(context.Background())
	if len(rooms) != 2 || rooms[0].Events != 3 {
		t.Fatalf("failed changes stored something: %+v", rooms)
	}

	// Changes that change nothing answer with the state and store nothing.
	for _, tc := range []struct {
		name string
		e    store.Event
	}{
		{"second delete", store.Event{Room: "a", Type: store.TypeDelete, Author: "alice", Target: gone.ID}},
		{"edit to the same text", store.Event{Room: "a", Type: store.TypeEdit, Author: "alice", Target: msg.ID, Text: "hello"}},
		{"removing a reaction never made", store.Event{Room: "a", Type: store.TypeReaction, Author: "bob", Target: msg.ID, Emoji: "👍", Remove: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, created, err := appendEvent(l, tc.e)
			if err != nil || created || rec.ID != tc.e.Target || rec.Type != store.TypeMessage {
				t.Fatalf("got %s created=%v err=%v, want the target's state", rec.JSON, created, err)
			}
		})
	}
	if _, created, _ := appendEvent(l, store.Event{Room: "a", Type: store.TypeReaction, Author: "bob", Target: msg.ID, Emoji: "👍"}); !created {
		t.Fatal("first reaction not stored")
	}
	rec, created, _ := appendEvent(l, store.Event{Room: "a", Type: store.TypeReaction, Author: "bob", Target: msg.ID, Emoji: "👍"})
	if created || !strings.Contains(string(rec.JSON), `"reactions":[{"emoji":"👍","count":1,"authors":["bob"]}]`) {
		t.Fatalf("second identical reaction: created=%v %s", created, rec.JSON)
	}
}

func testMessagesFoldChanges(t *testing.T, open Opener) {
	l := open(t, Options{})
	m := MustAppend(t, l, "a", "alice", "first")
	reply, _, err := appendEvent(l, store.Event{Room: "a", Author: "bob", Text: "re", ReplyTo: m.ID})
	if err != nil {
		t.Fatal(err)
	}
	edit, _, _ := appendEvent(l, store.Event{Room: "a", Type: store.TypeEdit, Author: "alice", Target: m.ID, Text: "first, fixed"})
	appendEvent(l, store.Event{Room: "a", Type: store.TypeReaction, Author: "bob", Target: m.ID, Emoji: "🎉"})
	appendEvent(l, store.Event{Room: "a", Type: store.TypeReaction, Author: "carol", Target: m.ID, Emoji: "🎉"})
	appendEvent(l, store.Event{Room: "a", Type: store.TypeReaction, Author: "carol", Target: m.ID, Emoji: "👍"})
	appendEvent(l, store.Event{Room: "a", Type: store.TypeReaction, Author: "carol", Target: m.ID, Emoji: "👍", Remove: true})
	appendEvent(l, store.Event{Room: "a", Type: store.TypeDelete, Author: "bob", Target: reply.ID})

	page, err := l.Messages(context.Background(), "a", store.Page{Limit: 50})
	if err != nil || len(page) != 2 {
		t.Fatalf("got %d messages, %v", len(page), err)
	}
	editTime := time.UnixMilli(int64(edit.ID.Time())).UTC().Format(store.TimeFormat)
	want0 := fmt.Sprintf(`{"id":"%s","room":"a","type":"message","author":"alice","text":"first, fixed","time":"%s","edited_at":"%s","reactions":[{"emoji":"🎉","count":2,"authors":["bob","carol"]}]}`,
		m.ID, time.UnixMilli(int64(m.ID.Time())).UTC().Format(store.TimeFormat), editTime)
	if string(page[0].JSON) != want0 {
		t.Fatalf("got  %s\nwant %s", page[0].JSON, want0)
	}
	var tomb store.Message
	json.Unmarshal(page[1].JSON, &tomb)
	if !tomb.Redacted || tomb.Text != "" || tomb.DeletedAt.IsZero() || tomb.ReplyTo != m.ID {
		t.Fatalf("tombstone: %s", page[1].JSON)
	}
}

// TestFoldIncrementalEqualsScratch: random sequences of messages, edits,
// deletes and reactions leave the incremental index equal to a fold of the
// raw log from scratch.
func testFoldIncrementalEqualsScratch(t *testing.T, open Opener) {
	authors := []string{"ann", "bo", "cy"}
	emojis := []string{"👍", "🎉", "❤️"}
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			l := open(t, Options{})
			rng := rand.New(rand.NewPCG(seed, 7))
			var msgs []ulid.ULID
			for i := 0; i < 300; i++ {
				e := store.Event{Room: "r", Author: authors[rng.IntN(len(authors))]}
				if len(msgs) > 0 {
					e.Target = msgs[rng.IntN(len(msgs))]
				}
				switch op := rng.IntN(10); {
				case op < 3 || len(msgs) == 0:
					e.Type, e.Text, e.Target = store.TypeMessage, fmt.Sprint("m", i), ulid.ULID{}
					if len(msgs) > 0 && rng.IntN(3) == 0 {
						e.ReplyTo = msgs[rng.IntN(len(msgs))]
					}
				case op < 5:
					e.Type, e.Text = store.TypeEdit, fmt.Sprint("e", i)
				case op < 6:
					e.Type = store.TypeDelete
				default:
					e.Type, e.Emoji, e.Remove = store.TypeReaction, emojis[rng.IntN(len(emojis))], rng.IntN(3) == 0
				}
				rec, created, err := l.Append(context.Background(), e)
				if err != nil && !errors.Is(err, store.ErrForbidden) && !errors.Is(err, store.ErrConflict) {
					t.Fatalf("op %d %+v: %v", i, e, err)
				}
				if created && e.Type == store.TypeMessage {
					msgs = append(msgs, rec.ID)
				}
			}
			raw, err := l.ReadAfter(context.Background(), []string{"r"}, ulid.ULID{}, 100_000)
			if err != nil {
				t.Fatal(err)
			}
			var events []store.Event
			for _, r := range raw {
				e, err := r.Decode()
				if err != nil {
					t.Fatal(err)
				}
				events = append(events, e)
			}
			want := store.Fold(events)
			page, err := l.Messages(context.Background(), "r", store.Page{Forward: true, Limit: 100_000})
			if err != nil || len(page) != len(want) {
				t.Fatalf("index has %d messages (%v), fold %d", len(page), err, len(want))
			}
			for i := range want {
				wj, _ := want[i].MarshalJSON()
				if !bytes.Equal(page[i].JSON, wj) {
					t.Fatalf("message %d:\nindex %s\nfold  %s", i, page[i].JSON, wj)
				}
				var got store.Message
				if err := json.Unmarshal(page[i].JSON, &got); err != nil || !reflect.DeepEqual(got.Reactions, want[i].Reactions) {
					t.Fatalf("message %d does not round-trip: %v", i, err)
				}
			}
		})
	}
}

func testModeratorChangesOthersMessages(t *testing.T, open Opener) {
	l := open(t, Options{})
	msg := MustAppend(t, l, "a", "alice", "hello")
	if _, created, err := appendEvent(l, store.Event{Room: "a", Type: store.TypeEdit, Author: "root", Target: msg.ID, Text: "[moderated]", Moderate: true}); err != nil || !created {
		t.Fatalf("moderated edit: created %v, %v", created, err)
	}
	if _, created, err := appendEvent(l, store.Event{Room: "a", Type: store.TypeDelete, Author: "root", Target: msg.ID, Moderate: true}); err != nil || !created {
		t.Fatalf("moderated delete: created %v, %v", created, err)
	}
	recs, err := l.Messages(context.Background(), "a", store.Page{Limit: 10})
	if err != nil || len(recs) != 1 {
		t.Fatalf("messages: %v %v", recs, err)
	}
	var m store.Message
	if err := m.UnmarshalJSON(recs[0].JSON); err != nil {
		t.Fatal(err)
	}
	if m.Author != "alice" || !m.Redacted {
		t.Fatalf("got author %q redacted %v, want alice's message redacted", m.Author, m.Redacted)
	}
}

// testModeratedIsKeptOnlyWhenUsed: a moderator's change of another author's
// message is stored with "moderated":true, their change of their own
// message, or a reaction, without.
func testModeratedIsKeptOnlyWhenUsed(t *testing.T, open Opener) {
	l := open(t, Options{})
	alice := MustAppend(t, l, "a", "alice", "hello")
	own := MustAppend(t, l, "a", "root", "mine")
	for _, tc := range []struct {
		name string
		e    store.Event
		want bool
	}{
		{"edit of another's message", store.Event{Room: "a", Type: store.TypeEdit, Author: "root", Target: alice.ID, Text: "[edited]", Moderate: true}, true},
		{"edit of one's own message", store.Event{Room: "a", Type: store.TypeEdit, Author: "root", Target: own.ID, Text: "mine, edited", Moderate: true}, false},
		{"reaction", store.Event{Room: "a", Type: store.TypeReaction, Author: "root", Target: alice.ID, Emoji: "👍", Moderate: true}, false},
		{"delete of another's message", store.Event{Room: "a", Type: store.TypeDelete, Author: "root", Target: alice.ID, Moderate: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, created, err := appendEvent(l, tc.e)
			if err != nil || !created {
				t.Fatalf("created %v, %v", created, err)
			}
			e, err := rec.Decode()
			if err != nil || e.Moderate != tc.want || bytes.Contains(rec.JSON, []byte(`"moderated"`)) != tc.want {
				t.Fatalf("got %s, want moderated %v", rec.JSON, tc.want)
			}
			stored, _ := l.ReadAfter(context.Background(), []string{"a"}, ulid.ULID{}, 100)
			if last := stored[len(stored)-1]; !bytes.Equal(last.JSON, rec.JSON) {
				t.Fatalf("stored %s, answered %s", last.JSON, rec.JSON)
			}
		})
	}
}
