package storetest

import (
	"bytes"
	"context"
	"errors"
	"time"

	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// testMentionsAreDerived: a log stores the names a message or an edit
// mentions with it, as MentionsIn finds them, whatever the event says; an
// edit replaces them in the message's state and a delete erases them with
// the text.
func testMentionsAreDerived(t *testing.T, open Opener) {
	l := open(t, Options{})
	ctx := context.Background()
	msg, _, err := l.Append(ctx, store.Event{Room: "r", Type: store.TypeMessage, Author: "alice", Text: "hi @Bob and @carol", Mentions: []string{"mallory"}})
	if err != nil || !strings.Contains(string(msg.JSON), `,"mentions":["bob","carol"]}`) {
		t.Fatalf("message: got %s, %v; want mentions bob and carol", msg.JSON, err)
	}
	state := func() string {
		t.Helper()
		recs, err := l.Messages(ctx, "r", store.Page{Limit: 1})
		if err != nil || len(recs) != 1 {
			t.Fatalf("messages: %v, %v", recs, err)
		}
		return string(recs[0].JSON)
	}
	if got := state(); !strings.Contains(got, `"mentions":["bob","carol"]`) {
		t.Fatalf("state: got %s", got)
	}
	edit, _, err := l.Append(ctx, store.Event{Room: "r", Type: store.TypeEdit, Author: "alice", Target: msg.ID, Text: "now @dave"})
	if err != nil || !strings.Contains(string(edit.JSON), `"mentions":["dave"]`) {
		t.Fatalf("edit: got %s, %v", edit.JSON, err)
	}
	if got := state(); !strings.Contains(got, `"mentions":["dave"]`) || strings.Contains(got, "bob") {
		t.Fatalf("state after the edit: got %s, want dave only", got)
	}
	react, _, _ := l.Append(ctx, store.Event{Room: "r", Type: store.TypeReaction, Author: "bob", Target: msg.ID, Emoji: "👍"})
	if strings.Contains(string(react.JSON), "mentions") {
		t.Fatalf("reaction: got %s", react.JSON)
	}
	if _, _, err := l.Append(ctx, store.Event{Room: "r", Type: store.TypeDelete, Author: "alice", Target: msg.ID}); err != nil {
		t.Fatal(err)
	}
	recs, _ := l.ReadAfter(ctx, []string{"r"}, prevID(msg.ID), 10)
	for _, rec := range append(recs, store.Record{JSON: []byte(state())}) {
		if strings.Contains(string(rec.JSON), "mentions") {
			t.Fatalf("after the delete: %s still names who it mentioned", rec.JSON)
		}
	}
}

// testMentionsListed: Mentions lists the messages that mention a name now,
// newest first, in pages, only in rooms the caller may read; an edit adds
// or removes a message, a delete and retention remove it, an import adds
// what it brings, and nobody is listed for mentioning themselves.
func testMentionsListed(t *testing.T, open Opener) {
	l := open(t, Options{})
	ctx := context.Background()
	all := func(string) (bool, error) { return true, nil }
	r1 := MustAppend(t, l, "x", "alice", "@bob hi")
	r2 := MustAppend(t, l, "y", "carol", "hey @Bob")
	MustAppend(t, l, "x", "bob", "@bob, note to self")
	r4 := MustAppend(t, l, "y", "alice", "no mention")
	r5 := MustAppend(t, l, "x", "dave", "@bob again")
	list := func(l store.Log, before ulid.ULID, limit int, readable func(string) (bool, error)) string {
		t.Helper()
		recs, err := l.Mentions(ctx, "bob", before, limit, readable)
		if err != nil {
			t.Fatalf("mentions: %v", err)
		}
		var texts []string
		for _, rec := range recs {
			var m store.Message
			if err := m.UnmarshalJSON(rec.JSON); err != nil || rec.Room != m.Room || rec.ID != m.ID {
				t.Fatalf("record %+v: %v", rec, err)
			}
			texts = append(texts, m.Text)
		}
		return strings.Join(texts, "|")
	}
	check := func(got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	check(list(l, ulid.ULID{}, 10, all), "@bob again|hey @Bob|@bob hi")
	check(list(l, ulid.ULID{}, 2, all), "@bob again|hey @Bob")
	check(list(l, r2.ID, 2, all), "@bob hi")
	check(list(l, ulid.ULID{}, 10, func(room string) (bool, error) { return room == "x", nil }), "@bob again|@bob hi")
	boom := errors.New("accounts unreadable")
	if _, err := l.Mentions(ctx, "bob", ulid.ULID{}, 10, func(string) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Fatalf("readable failing: got %v", err)
	}

	appendEvent(l, store.Event{Room: "y", Type: store.TypeEdit, Author: "carol", Target: r2.ID, Text: "hey nobody"})
	appendEvent(l, store.Event{Room: "y", Type: store.TypeEdit, Author: "alice", Target: r4.ID, Text: "now @bob"})
	appendEvent(l, store.Event{Room: "x", Type: store.TypeDelete, Author: "dave", Target: r5.ID})
	check(list(l, ulid.ULID{}, 10, all), "now @bob|@bob hi")

	dst := open(t, Options{})
	if _, err := dst.Import(ctx, "x", bytes.NewReader(exportRaw(t, l, "x"))); err != nil {
		t.Fatal(err)
	}
	check(list(dst, ulid.ULID{}, 10, all), "@bob hi")
	_ = r1

	pruned := open(t, Options{Retention: store.Retention{Events: 1}, PruneEvery: 10 * time.Millisecond})
	MustAppend(t, pruned, "x", "alice", "@bob one")
	MustAppend(t, pruned, "x", "alice", "@bob two")
	waitUntil(t, "retention keeps one event", func() bool {
		rooms, _ := pruned.Rooms(ctx)
		return len(rooms) == 1 && rooms[0].Events == 1
	})
	check(list(pruned, ulid.ULID{}, 10, all), "@bob two")
}
