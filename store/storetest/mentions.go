package storetest

import (
	"context"
	"strings"
	"testing"

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
