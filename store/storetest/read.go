package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

func testReadAfterMergesRoomsInIDOrder(t *testing.T, open Opener) {
	l := open(t, Options{})
	var all []store.Record
	for i := 0; i < 30; i++ {
		all = append(all, MustAppend(t, l, []string{"a", "b", "c"}[i%3], "x", fmt.Sprint(i)))
	}
	ctx := context.Background()
	got, err := l.ReadAfter(ctx, []string{"a", "c", "nope"}, all[4].ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var want []store.Record
	for _, r := range all[5:] {
		if r.Room != "b" {
			want = append(want, r)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID || string(got[i].JSON) != string(want[i].JSON) || got[i].Room != want[i].Room {
			t.Fatalf("record %d: got %s, want %s", i, got[i].JSON, want[i].JSON)
		}
	}
	// The limit cuts the merged sequence.
	if got, _ := l.ReadAfter(ctx, []string{"a", "b", "c"}, ulid.ULID{}, 7); len(got) != 7 || got[6].ID != all[6].ID {
		t.Fatalf("limited read: got %d records", len(got))
	}
}

func testReadBeforePagesBackwards(t *testing.T, open Opener) {
	l := open(t, Options{})
	var all []store.Record
	for i := 0; i < 25; i++ {
		all = append(all, MustAppend(t, l, "a", "x", fmt.Sprint(i)))
		MustAppend(t, l, "noise", "x", "other room")
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		before     ulid.ULID
		limit      int
		start, end int // want all[start:end]
	}{
		{"newest", ulid.ULID{}, 10, 15, 25},
		{"before the 10th", all[10].ID, 5, 5, 10},
		{"before the 3rd, short page", all[3].ID, 10, 0, 3},
		{"before the first", all[0].ID, 10, 0, 0},
		{"before a later id in another room", ulid.MustParse("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"), 2, 23, 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.ReadBefore(ctx, "a", tc.before, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			want := all[tc.start:tc.end]
			if len(got) != len(want) {
				t.Fatalf("got %d records, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i].ID != want[i].ID {
					t.Fatalf("record %d: got %s, want %s", i, got[i].ID, want[i].ID)
				}
			}
		})
	}
}

func testRoomsCountsEvents(t *testing.T, open Opener) {
	l := open(t, Options{})
	var last store.Record
	for i := 0; i < 3; i++ {
		last = MustAppend(t, l, "b", "x", "y")
	}
	MustAppend(t, l, "a", "x", "y")
	rooms, err := l.Rooms(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rooms) != 2 || rooms[0].Name != "a" || rooms[1] != (store.Room{Name: "b", Events: 3, Messages: 3, LastID: last.ID}) {
		t.Fatalf("got %+v", rooms)
	}
}
