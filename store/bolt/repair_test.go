package bolt

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/storetest"
)

// TestDropFutureEventsRepairsAPoisonedFile: on a file whose ids were pushed
// into the future, DropFutureEvents removes exactly the future-dated events
// (handing them over), leaves a file that verifies, brings the id sequence
// back to the clock, and never brings deleted text back; counts and
// mentions (checked by verify) follow.
func TestDropFutureEventsRepairsAPoisonedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	clock := storetest.NewClock(time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC))
	d := mustOpenDB(t, path, func(d *DB) { d.Now = clock.Now })
	keep := mustAppend(t, d, "r", "alice", "keep me")
	gone := mustAppend(t, d, "r", "bob", "deleted after the poisoning")
	appendEvent(t, d, store.Event{Room: "r", Type: store.TypeReaction, Author: "bob", Target: keep.ID, Emoji: "👍"})
	mustAppend(t, d, "s", "carol", "another room")
	clock.Set(time.Date(9999, 6, 1, 0, 0, 0, 0, time.UTC)) // as a poisoned sequence would
	appendEvent(t, d, store.Event{Room: "r", Type: store.TypeEdit, Author: "alice", Target: keep.ID, Text: "edited in 9999, @zed"})
	appendEvent(t, d, store.Event{Room: "r", Type: store.TypeDelete, Author: "bob", Target: gone.ID})
	appendEvent(t, d, store.Event{Room: "r", Author: "dave", Text: "posted in 9999 for @yan", ClientID: "c1"})
	mustAppend(t, d, "later", "erin", "a room born in 9999 for @xi")
	d.Close()

	var dropped bytes.Buffer
	n, err := DropFutureEvents(path, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), &dropped)
	if err != nil || n != 4 {
		t.Fatalf("dropped %d, %v; want 4", n, err)
	}
	for _, s := range []string{"edited in 9999", `"type":"delete"`, "posted in 9999", "a room born in 9999"} {
		if !strings.Contains(dropped.String(), s) {
			t.Errorf("the dropped events lack %q:\n%s", s, dropped.String())
		}
	}
	mustVerify(t, path)

	clock.Set(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
	d = mustOpenDB(t, path, func(d *DB) { d.Now = clock.Now })
	if next := mustAppend(t, d, "r", "x", "now"); next.ID.Time() > uint64(clock.Now().UnixMilli()) {
		t.Fatalf("the id sequence is still ahead of the clock: %s", next.ID)
	}
	page, _ := d.Messages(context.Background(), "r", store.Page{Forward: true, Limit: 10})
	var states []string
	for _, m := range page {
		states = append(states, string(m.JSON))
	}
	all := strings.Join(states, "\n")
	if !strings.Contains(all, `"text":"keep me"`) || strings.Contains(all, "edited in 9999") || strings.Contains(all, "deleted after") || !strings.Contains(all, `"redacted":true`) {
		t.Fatalf("messages after the repair:\n%s", all)
	}
	if rooms, _ := d.Rooms(context.Background()); len(rooms) != 2 {
		t.Fatalf("rooms after the repair: %+v, want r and s", rooms)
	}
	if _, created, _ := d.Append(context.Background(), store.Event{Room: "r", Type: store.TypeMessage, Author: "dave", Text: "again", ClientID: "c1"}); !created {
		t.Fatal("the client id of a dropped event still deduplicates")
	}
}
