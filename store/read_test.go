package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
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

// seedRoom appends n events to room from 256 writers, many per transaction.
func seedRoom(tb testing.TB, d *DB, room string, n int) {
	tb.Helper()
	var next atomic.Int64
	errs := make(chan error, 256)
	for w := 0; w < 256; w++ {
		go func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if _, _, err := d.Append(context.Background(), Event{Room: room, Type: TypeMessage, Author: "seed", Text: fmt.Sprint("message ", i)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < 256; w++ {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkMessagesPage reads the newest page of 50 messages, and a page in
// the middle, in rooms of 1,000 and 1,000,000 events: the cost must not
// depend on the room's size, because pages come from the message index.
func BenchmarkMessagesPage(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			d := mustOpenDB(b, "", func(d *DB) { d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) })
			seedRoom(b, d, "r", n)
			mid, err := d.ReadAfter(context.Background(), []string{"r"}, ulid.ULID{}, n/2)
			if err != nil {
				b.Fatal(err)
			}
			before := mid[len(mid)-1].ID
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := Page{Limit: 50}
				if i%2 == 1 {
					p.Before = before
				}
				page, err := d.Messages(context.Background(), "r", p)
				if err != nil || len(page) != 50 {
					b.Fatalf("got %d, %v", len(page), err)
				}
			}
		})
	}
}
