package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// testMarksNeverMoveBack: a read marker only moves forward, per person and
// room, never past the room's newest event, and only in a room that exists.
func testMarksNeverMoveBack(t *testing.T, open Opener) {
	l := open(t, Options{})
	ctx := context.Background()
	a := MustAppend(t, l, "r", "alice", "one")
	b := MustAppend(t, l, "r", "alice", "two")
	MustAppend(t, l, "s", "alice", "elsewhere")
	set := func(person, room string, id ulid.ULID, want ulid.ULID) {
		t.Helper()
		if got, err := l.SetMark(ctx, person, room, id); err != nil || got != want {
			t.Fatalf("SetMark(%s, %s, %s): got %s, %v; want %s", person, room, id, got, err, want)
		}
	}
	set("p", "r", b.ID, b.ID)
	set("p", "r", a.ID, b.ID)        // older: changes nothing
	set("p", "r", ulid.ULID{}, b.ID) // zero too
	set("q", "r", a.ID, a.ID)        // another person
	set("p", "s", ulid.ULID{}, ulid.ULID{})
	for _, tc := range []struct {
		person, room string
		want         ulid.ULID
	}{{"p", "r", b.ID}, {"q", "r", a.ID}, {"p", "s", ulid.ULID{}}, {"nobody", "r", ulid.ULID{}}} {
		if got, err := l.Mark(ctx, tc.person, tc.room); err != nil || got != tc.want {
			t.Errorf("Mark(%s, %s): got %s, %v; want %s", tc.person, tc.room, got, err, tc.want)
		}
	}
	if _, err := l.SetMark(ctx, "p", "nowhere", a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a room without events: got %v, want ErrNotFound", err)
	}
	var future ulid.ULID
	future.SetTime(ulid.Timestamp(time.Now().Add(time.Hour)))
	if _, err := l.SetMark(ctx, "p", "r", future); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("an id past the room's newest event: got %v, want ErrInvalid", err)
	}
}

// testUnreadCounts: unread counts are messages after the marker, by
// others, not deleted; mentions count those that mention the person; both
// stop at the limit.
func testUnreadCounts(t *testing.T, open Opener) {
	l := open(t, Options{})
	ctx := context.Background()
	add := func(room, author, text string) store.Record { return MustAppend(t, l, room, author, text) }
	change := func(e store.Event) {
		t.Helper()
		if _, created, err := appendEvent(l, e); err != nil || !created {
			t.Fatalf("%s: created %v, %v", e.Type, created, err)
		}
	}
	m1 := add("r", "alice", "hello")
	m2 := add("r", "bob", "hi @alice")
	m3 := add("r", "carol", "@ALICE look")
	add("r", "alice", "my own @alice")
	change(store.Event{Room: "r", Type: store.TypeEdit, Author: "alice", Target: m1.ID, Text: "hello!"})
	change(store.Event{Room: "r", Type: store.TypeReaction, Author: "bob", Target: m2.ID, Emoji: "👍"})
	m5 := add("r", "bob", "soon deleted, @alice")
	change(store.Event{Room: "r", Type: store.TypeDelete, Author: "bob", Target: m5.ID})
	add("s", "bob", "in s")
	unread := func(person string, limit int) []store.Unread {
		t.Helper()
		got, err := l.Unread(ctx, store.UnreadQuery{Person: person, Author: "alice", Rooms: []string{"r", "s", "none"}, Limit: limit})
		if err != nil || len(got) != 3 {
			t.Fatalf("unread: %+v, %v", got, err)
		}
		return got
	}
	expect := func(got []store.Unread, want ...store.Unread) {
		t.Helper()
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("room %s: got %+v, want %+v", want[i].Room, got[i], want[i])
			}
		}
	}
	expect(unread("p", 100), store.Unread{Room: "r", Messages: 2, Mentions: 2}, store.Unread{Room: "s", Messages: 1}, store.Unread{Room: "none"})
	if _, err := l.SetMark(ctx, "p", "r", m2.ID); err != nil {
		t.Fatal(err)
	}
	expect(unread("p", 100), store.Unread{Room: "r", Mark: m2.ID, Messages: 1, Mentions: 1})
	expect(unread("q", 1), store.Unread{Room: "r", Messages: 1, Mentions: 1}, store.Unread{Room: "s", Messages: 1})
	change(store.Event{Room: "r", Type: store.TypeEdit, Author: "carol", Target: m3.ID, Text: "look"})
	expect(unread("p", 100), store.Unread{Room: "r", Mark: m2.ID, Messages: 1, Mentions: 0})
}

// testRoomsCountMessages: a room counts its messages that are not deleted:
// not edits or reactions; a delete, retention and import keep it right.
func testRoomsCountMessages(t *testing.T, open Opener) {
	l := open(t, Options{})
	ctx := context.Background()
	var msgs []store.Record
	for i := 0; i < 3; i++ {
		msgs = append(msgs, MustAppend(t, l, "r", "alice", "m"))
	}
	appendEvent(l, store.Event{Room: "r", Type: store.TypeEdit, Author: "alice", Target: msgs[0].ID, Text: "edited"})
	appendEvent(l, store.Event{Room: "r", Type: store.TypeReaction, Author: "bob", Target: msgs[1].ID, Emoji: "👍"})
	appendEvent(l, store.Event{Room: "r", Type: store.TypeDelete, Author: "alice", Target: msgs[2].ID})
	appendEvent(l, store.Event{Room: "r", Type: store.TypeDelete, Author: "alice", Target: msgs[2].ID}) // twice: nothing
	count := func(l store.Log) store.Room {
		t.Helper()
		rooms, err := l.Rooms(ctx)
		if err != nil || len(rooms) != 1 {
			t.Fatalf("rooms: %+v, %v", rooms, err)
		}
		return rooms[0]
	}
	if r := count(l); r.Messages != 2 || r.Events != 6 {
		t.Fatalf("got %d messages, %d events; want 2 and 6", r.Messages, r.Events)
	}
	dst := open(t, Options{})
	if _, err := dst.Import(ctx, "r", bytes.NewReader(exportRaw(t, l, "r"))); err != nil {
		t.Fatal(err)
	}
	if r := count(dst); r.Messages != 2 {
		t.Fatalf("imported: got %d messages, want 2", r.Messages)
	}

	pruned := open(t, Options{Retention: store.Retention{Events: 2}, PruneEvery: 10 * time.Millisecond})
	for i := 0; i < 5; i++ {
		MustAppend(t, pruned, "r", "alice", "m")
	}
	waitUntil(t, "retention keeps 2 events", func() bool { return count(pruned).Events == 2 })
	if r := count(pruned); r.Messages != 2 {
		t.Fatalf("after retention: got %d messages, want 2", r.Messages)
	}
}
