package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/oklog/ulid/v2"
)

func TestReadAfterMergesRoomsInIDOrder(t *testing.T) {
	d := mustOpenDB(t, "")
	var all []Record
	for i := 0; i < 30; i++ {
		all = append(all, mustAppend(t, d, []string{"a", "b", "c"}[i%3], "x", fmt.Sprint(i)))
	}
	ctx := context.Background()
	got, err := d.ReadAfter(ctx, []string{"a", "c", "nope"}, all[4].ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var want []Record
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
	if got, _ := d.ReadAfter(ctx, []string{"a", "b", "c"}, ulid.ULID{}, 7); len(got) != 7 || got[6].ID != all[6].ID {
		t.Fatalf("limited read: got %d records", len(got))
	}
}

func TestReadBeforePagesBackwards(t *testing.T) {
	d := mustOpenDB(t, "")
	var all []Record
	for i := 0; i < 25; i++ {
		all = append(all, mustAppend(t, d, "a", "x", fmt.Sprint(i)))
		mustAppend(t, d, "noise", "x", "other room")
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
			got, err := d.ReadBefore(ctx, "a", tc.before, tc.limit)
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

func TestRoomsCountsEvents(t *testing.T) {
	d := mustOpenDB(t, "")
	var last Record
	for i := 0; i < 3; i++ {
		last = mustAppend(t, d, "b", "x", "y")
	}
	mustAppend(t, d, "a", "x", "y")
	rooms, err := d.Rooms(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rooms) != 2 || rooms[0].Name != "a" || rooms[1] != (Room{Name: "b", Events: 3, LastID: last.ID}) {
		t.Fatalf("got %+v", rooms)
	}
}

// BenchmarkReadAfterInBigLog shows that reading a small room costs the same
// however large the rest of the log is.
func BenchmarkReadAfterInBigLog(b *testing.B) {
	for _, others := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("others=%d", others), func(b *testing.B) {
			d := mustOpenDB(b, "")
			seedRoom(b, d, "big", others)
			seedRoom(b, d, "small", 100)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				recs, err := d.ReadAfter(context.Background(), []string{"small"}, ulid.ULID{}, 1000)
				if err != nil || len(recs) != 100 {
					b.Fatalf("got %d, %v", len(recs), err)
				}
			}
		})
	}
}

// seedRoom appends n events to room, many per transaction, concurrently.
func seedRoom(tb testing.TB, d *DB, room string, n int) {
	tb.Helper()
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			_, _, err := d.Append(context.Background(), Event{Room: room, Type: TypeMessage, Author: "seed", Text: fmt.Sprint("message ", i)})
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
}
