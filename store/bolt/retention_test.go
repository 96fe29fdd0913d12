package bolt

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/storetest"
)

func TestRetentionKeepsTheNewestEvents(t *testing.T) {
	d := mustOpenDB(t, "")
	ctx := context.Background()
	var a []store.Record
	for i := 0; i < 12; i++ {
		rec, _, err := d.Append(ctx, store.Event{Room: "a", Type: store.TypeMessage, Author: "x", Text: fmt.Sprint(i), ClientID: fmt.Sprint("c", i)})
		if err != nil {
			t.Fatal(err)
		}
		a = append(a, rec)
		mustAppend(t, d, "b", "x", fmt.Sprint(i))
	}
	// An edit of a message that will be pruned stays, and harms nothing.
	appendEvent(t, d, store.Event{Room: "a", Type: store.TypeEdit, Author: "x", Target: a[0].ID, Text: "late edit"})
	if err := d.SetRoomRetention(ctx, "a", &store.Retention{Events: 5}); err != nil {
		t.Fatal(err)
	}
	// Settings made before a room's first event apply once it has events.
	if err := d.SetRoomRetention(ctx, "later", &store.Retention{Events: 2}); err != nil {
		t.Fatalf("retention of a room without events: %v", err)
	}
	for i := 0; i < 4; i++ {
		mustAppend(t, d, "later", "x", fmt.Sprint(i))
	}
	if err := d.SetRoomRetention(ctx, "a", &store.Retention{Events: -1}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("negative retention: %v", err)
	}
	n, err := d.pruneRooms(d.Now())
	if err != nil || n != 8+2 {
		t.Fatalf("pruned %d, %v; want 10", n, err)
	}
	if rooms, _ := d.Rooms(ctx); rooms[2].Name != "later" || rooms[2].Events != 2 {
		t.Fatalf("room later: got %+v, want 2 events kept", rooms[2])
	}
	left, _ := d.ReadAfter(ctx, []string{"a"}, ulid.ULID{}, 100)
	if len(left) != 5 || left[0].ID != a[8].ID {
		t.Fatalf("room a kept %d events starting %s", len(left), left[0].ID)
	}
	if b, _ := d.ReadAfter(ctx, []string{"b"}, ulid.ULID{}, 100); len(b) != 12 {
		t.Fatalf("room b (no retention) kept %d", len(b))
	}
	pruned, oldest, err := d.Horizon(ctx, "a")
	if err != nil || pruned != a[7].ID || oldest != a[8].ID {
		t.Fatalf("horizon: %s %s %v; want %s %s", pruned, oldest, err, a[7].ID, a[8].ID)
	}
	if rooms, _ := d.Rooms(ctx); rooms[0].Events != 5 {
		t.Fatalf("count after pruning: %+v", rooms[0])
	}
	if page, _ := d.Messages(ctx, "a", store.Page{Limit: 50}); len(page) != 4 {
		t.Fatalf("message index after pruning: %d entries", len(page))
	}
	// A pruned event's client id is forgotten; a kept one is not.
	if _, created, _ := d.Append(ctx, store.Event{Room: "a", Type: store.TypeMessage, Author: "x", Text: "again", ClientID: "c0"}); !created {
		t.Fatal("client id of a pruned event still deduplicates")
	}
	if _, created, _ := d.Append(ctx, store.Event{Room: "a", Type: store.TypeMessage, Author: "x", Text: "again", ClientID: "c11"}); created {
		t.Fatal("client id of a kept event forgotten")
	}
	d.Close()
	mustVerify(t, d.Path)
}

func TestRetentionByAge(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	d := mustOpenDB(t, "", func(d *DB) { d.Now = clock.Now; d.Retention = store.Retention{For: store.Duration(time.Hour)} })
	var recs []store.Record
	for _, step := range []time.Duration{0, 30 * time.Minute, 90 * time.Minute} {
		clock.Set(clock.Now().Add(step))
		recs = append(recs, mustAppend(t, d, "a", "x", step.String()))
	}
	clock.Set(clock.Now().Add(time.Minute)) // 2h01 after the first
	if n, err := d.pruneRooms(clock.Now()); err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want the two older than an hour", n, err)
	}
	if left, _ := d.ReadAfter(context.Background(), []string{"a"}, ulid.ULID{}, 10); len(left) != 1 || left[0].ID != recs[2].ID {
		t.Fatalf("kept %d", len(left))
	}
}
