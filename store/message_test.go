package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

func appendEvent(tb testing.TB, d *DB, e Event) (Record, bool, error) {
	tb.Helper()
	if e.Type == "" {
		e.Type = TypeMessage
	}
	return d.Append(context.Background(), e)
}

func TestChangeRules(t *testing.T) {
	d := mustOpenDB(t, "")
	msg := mustAppend(t, d, "a", "alice", "hello")
	other := mustAppend(t, d, "b", "alice", "elsewhere")
	gone := mustAppend(t, d, "a", "alice", "to delete")
	if _, created, err := appendEvent(t, d, Event{Room: "a", Type: TypeDelete, Author: "alice", Target: gone.ID}); err != nil || !created {
		t.Fatalf("delete: %v %v", created, err)
	}
	unknown := ulid.MustParse("01M802EGKM2R908TN6558B93Q5")
	for _, tc := range []struct {
		name string
		e    Event
		want error
	}{
		{"edit by another author", Event{Room: "a", Type: TypeEdit, Author: "bob", Target: msg.ID, Text: "x"}, ErrForbidden},
		{"delete by another author", Event{Room: "a", Type: TypeDelete, Author: "bob", Target: msg.ID}, ErrForbidden},
		{"edit of an unknown message", Event{Room: "a", Type: TypeEdit, Author: "alice", Target: unknown, Text: "x"}, ErrNotFound},
		{"edit of a message in another room", Event{Room: "a", Type: TypeEdit, Author: "alice", Target: other.ID, Text: "x"}, ErrNotFound},
		{"change in a room that does not exist", Event{Room: "nope", Type: TypeReaction, Author: "alice", Target: msg.ID, Emoji: "👍"}, ErrNotFound},
		{"edit of a deleted message", Event{Room: "a", Type: TypeEdit, Author: "alice", Target: gone.ID, Text: "x"}, ErrConflict},
		{"reaction to a deleted message", Event{Room: "a", Type: TypeReaction, Author: "bob", Target: gone.ID, Emoji: "👍"}, ErrConflict},
		{"reply to an unknown message", Event{Room: "a", Author: "bob", Text: "re", ReplyTo: unknown}, ErrInvalid},
		{"reply to a message in another room", Event{Room: "a", Author: "bob", Text: "re", ReplyTo: other.ID}, ErrInvalid},
		{"edit without target", Event{Room: "a", Type: TypeEdit, Author: "alice", Text: "x"}, ErrInvalid},
		{"empty edit", Event{Room: "a", Type: TypeEdit, Author: "alice", Target: msg.ID}, ErrInvalid},
		{"emoji with letters", Event{Room: "a", Type: TypeReaction, Author: "bob", Target: msg.ID, Emoji: "ok"}, ErrInvalid},
		{"emoji with a slash", Event{Room: "a", Type: TypeReaction, Author: "bob", Target: msg.ID, Emoji: "👍/"}, ErrInvalid},
		{"emoji of punctuation", Event{Room: "a", Type: TypeReaction, Author: "bob", Target: msg.ID, Emoji: "?%"}, ErrInvalid},
		{"emoji too long", Event{Room: "a", Type: TypeReaction, Author: "bob", Target: msg.ID, Emoji: strings.Repeat("👍", 9)}, ErrInvalid},
		{"empty emoji", Event{Room: "a", Type: TypeReaction, Author: "bob", Target: msg.ID}, ErrInvalid},
		{"client-set redaction", Event{Room: "a", Author: "bob", Text: "x", Redacted: true}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := appendEvent(t, d, tc.e); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	rooms, _ := d.Rooms(context.Background())
	if len(rooms) != 2 || rooms[0].Events != 3 {
		t.Fatalf("failed changes stored something: %+v", rooms)
	}

	// Changes that change nothing answer with the state and store nothing.
	for _, tc := range []struct {
		name string
		e    Event
	}{
		{"second delete", Event{Room: "a", Type: TypeDelete, Author: "alice", Target: gone.ID}},
		{"edit to the same text", Event{Room: "a", Type: TypeEdit, Author: "alice", Target: msg.ID, Text: "hello"}},
		{"removing a reaction never made", Event{Room: "a", Type: TypeReaction, Author: "bob", Target: msg.ID, Emoji: "👍", Remove: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, created, err := appendEvent(t, d, tc.e)
			if err != nil || created || rec.ID != tc.e.Target || rec.Type != TypeMessage {
				t.Fatalf("got %s created=%v err=%v, want the target's state", rec.JSON, created, err)
			}
		})
	}
	if _, created, _ := appendEvent(t, d, Event{Room: "a", Type: TypeReaction, Author: "bob", Target: msg.ID, Emoji: "👍"}); !created {
		t.Fatal("first reaction not stored")
	}
	rec, created, _ := appendEvent(t, d, Event{Room: "a", Type: TypeReaction, Author: "bob", Target: msg.ID, Emoji: "👍"})
	if created || !strings.Contains(string(rec.JSON), `"reactions":[{"emoji":"👍","count":1,"authors":["bob"]}]`) {
		t.Fatalf("second identical reaction: created=%v %s", created, rec.JSON)
	}
}

func TestMessagesFoldChanges(t *testing.T) {
	d := mustOpenDB(t, "")
	m := mustAppend(t, d, "a", "alice", "first")
	reply, _, err := appendEvent(t, d, Event{Room: "a", Author: "bob", Text: "re", ReplyTo: m.ID})
	if err != nil {
		t.Fatal(err)
	}
	edit, _, _ := appendEvent(t, d, Event{Room: "a", Type: TypeEdit, Author: "alice", Target: m.ID, Text: "first, fixed"})
	appendEvent(t, d, Event{Room: "a", Type: TypeReaction, Author: "bob", Target: m.ID, Emoji: "🎉"})
	appendEvent(t, d, Event{Room: "a", Type: TypeReaction, Author: "carol", Target: m.ID, Emoji: "🎉"})
	appendEvent(t, d, Event{Room: "a", Type: TypeReaction, Author: "carol", Target: m.ID, Emoji: "👍"})
	appendEvent(t, d, Event{Room: "a", Type: TypeReaction, Author: "carol", Target: m.ID, Emoji: "👍", Remove: true})
	appendEvent(t, d, Event{Room: "a", Type: TypeDelete, Author: "bob", Target: reply.ID})

	page, err := d.Messages(context.Background(), "a", Page{Limit: 50})
	if err != nil || len(page) != 2 {
		t.Fatalf("got %d messages, %v", len(page), err)
	}
	editTime := time.UnixMilli(int64(edit.ID.Time())).UTC().Format(TimeFormat)
	want0 := fmt.Sprintf(`{"id":"%s","room":"a","type":"message","author":"alice","text":"first, fixed","time":"%s","edited_at":"%s","reactions":[{"emoji":"🎉","count":2,"authors":["bob","carol"]}]}`,
		m.ID, time.UnixMilli(int64(m.ID.Time())).UTC().Format(TimeFormat), editTime)
	if string(page[0].JSON) != want0 {
		t.Fatalf("got  %s\nwant %s", page[0].JSON, want0)
	}
	var tomb Message
	json.Unmarshal(page[1].JSON, &tomb)
	if !tomb.Redacted || tomb.Text != "" || tomb.DeletedAt.IsZero() || tomb.ReplyTo != m.ID {
		t.Fatalf("tombstone: %s", page[1].JSON)
	}
}

// TestFoldIncrementalEqualsScratch: random sequences of messages, edits,
// deletes and reactions leave the incremental index equal to a fold of the
// raw log from scratch.
func TestFoldIncrementalEqualsScratch(t *testing.T) {
	authors := []string{"ann", "bo", "cy"}
	emojis := []string{"👍", "🎉", "❤️"}
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			d := mustOpenDB(t, "")
			rng := rand.New(rand.NewPCG(seed, 7))
			var msgs []ulid.ULID
			for i := 0; i < 300; i++ {
				e := Event{Room: "r", Author: authors[rng.IntN(len(authors))]}
				if len(msgs) > 0 {
					e.Target = msgs[rng.IntN(len(msgs))]
				}
				switch op := rng.IntN(10); {
				case op < 3 || len(msgs) == 0:
					e.Type, e.Text, e.Target = TypeMessage, fmt.Sprint("m", i), ulid.ULID{}
					if len(msgs) > 0 && rng.IntN(3) == 0 {
						e.ReplyTo = msgs[rng.IntN(len(msgs))]
					}
				case op < 5:
					e.Type, e.Text = TypeEdit, fmt.Sprint("e", i)
				case op < 6:
					e.Type = TypeDelete
				default:
					e.Type, e.Emoji, e.Remove = TypeReaction, emojis[rng.IntN(len(emojis))], rng.IntN(3) == 0
				}
				rec, created, err := d.Append(context.Background(), e)
				if err != nil && !errors.Is(err, ErrForbidden) && !errors.Is(err, ErrConflict) {
					t.Fatalf("op %d %+v: %v", i, e, err)
				}
				if created && e.Type == TypeMessage {
					msgs = append(msgs, rec.ID)
				}
			}
			raw, err := d.ReadAfter(context.Background(), []string{"r"}, ulid.ULID{}, 100_000)
			if err != nil {
				t.Fatal(err)
			}
			var events []Event
			for _, r := range raw {
				e, err := r.Decode()
				if err != nil {
					t.Fatal(err)
				}
				events = append(events, e)
			}
			want := Fold(events)
			page, err := d.Messages(context.Background(), "r", Page{Forward: true, Limit: 100_000})
			if err != nil || len(page) != len(want) {
				t.Fatalf("index has %d messages (%v), fold %d", len(page), err, len(want))
			}
			for i := range want {
				wj, _ := want[i].MarshalJSON()
				if !bytes.Equal(page[i].JSON, wj) {
					t.Fatalf("message %d:\nindex %s\nfold  %s", i, page[i].JSON, wj)
				}
				var got Message
				if err := json.Unmarshal(page[i].JSON, &got); err != nil || !reflect.DeepEqual(got.Reactions, want[i].Reactions) {
					t.Fatalf("message %d does not round-trip: %v", i, err)
				}
			}
		})
	}
}

// TestDeleteLeavesNoTraceOfTheText: after a delete, the text is in no read
// path and nowhere in the bytes of the file, old pages included.
func TestDeleteLeavesNoTraceOfTheText(t *testing.T) {
	d := mustOpenDB(t, "")
	secret, edited := "launch code 7401-ALPHA", "launch code 7401-BRAVO"
	m := mustAppend(t, d, "a", "alice", secret)
	// Plenty of writes to the same pages, so bbolt leaves stale copies.
	for i := 0; i < 50; i++ {
		mustAppend(t, d, "a", "bob", fmt.Sprint("chatter ", i))
		appendEvent(t, d, Event{Room: "a", Type: TypeReaction, Author: fmt.Sprint("r", i), Target: m.ID, Emoji: "👍"})
	}
	appendEvent(t, d, Event{Room: "a", Type: TypeEdit, Author: "alice", Target: m.ID, Text: edited})
	for i := 0; i < 20; i++ {
		mustAppend(t, d, "a", "bob", fmt.Sprint("more ", i))
	}
	before, _ := os.ReadFile(d.Path)
	if !bytes.Contains(before, []byte(secret)) {
		t.Fatal("test is void: the text was never in the file")
	}
	if _, created, err := appendEvent(t, d, Event{Room: "a", Type: TypeDelete, Author: "alice", Target: m.ID}); err != nil || !created {
		t.Fatalf("delete: %v %v", created, err)
	}
	ctx := context.Background()
	raw, _ := d.ReadAfter(ctx, []string{"a"}, ulid.ULID{}, 1000)
	page, _ := d.Messages(ctx, "a", Page{Forward: true, Limit: 1000})
	for _, recs := range [][]Record{raw, page} {
		for _, r := range recs {
			if bytes.Contains(r.JSON, []byte("7401")) {
				t.Fatalf("read path still has the text: %s", r.JSON)
			}
		}
	}
	after, err := os.ReadFile(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secret, edited, "7401"} {
		if i := bytes.Index(after, []byte(s)); i >= 0 {
			t.Fatalf("the file still holds %q at offset %d", s, i)
		}
	}
	// The file is still sound and later writes work.
	mustAppend(t, d, "a", "bob", "after the delete")
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2 := mustOpenDB(t, d.Path)
	d2.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check after scrub: %v", err)
		}
		return nil
	})
	if page, err := d2.Messages(ctx, "a", Page{Limit: 1000}); err != nil || len(page) != 72 {
		t.Fatalf("after reopen: %d messages, %v", len(page), err)
	}
}

func TestValidateEmojiAcceptsRealEmoji(t *testing.T) {
	for _, e := range []string{"👍", "👍🏽", "❤️", "👨‍👩‍👧", "#️⃣", "🇫🇷", "©️"} {
		if err := ValidateEmoji(e); err != nil {
			t.Errorf("ValidateEmoji(%q): %v", e, err)
		}
	}
}

func TestModeratorChangesOthersMessages(t *testing.T) {
	d := mustOpenDB(t, "")
	msg := mustAppend(t, d, "a", "alice", "hello")
	if _, created, err := appendEvent(t, d, Event{Room: "a", Type: TypeEdit, Author: "root", Target: msg.ID, Text: "[moderated]", Moderate: true}); err != nil || !created {
		t.Fatalf("moderated edit: created %v, %v", created, err)
	}
	if _, created, err := appendEvent(t, d, Event{Room: "a", Type: TypeDelete, Author: "root", Target: msg.ID, Moderate: true}); err != nil || !created {
		t.Fatalf("moderated delete: created %v, %v", created, err)
	}
	recs, err := d.Messages(context.Background(), "a", Page{Limit: 10})
	if err != nil || len(recs) != 1 {
		t.Fatalf("messages: %v %v", recs, err)
	}
	var m Message
	if err := m.UnmarshalJSON(recs[0].JSON); err != nil {
		t.Fatal(err)
	}
	if m.Author != "alice" || !m.Redacted {
		t.Fatalf("got author %q redacted %v, want alice's message redacted", m.Author, m.Redacted)
	}
}
