package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// testReplayReportsGaps: ReadReplay returns ReadAfter's records and a gap
// for each room whose retention deleted events after the cursor, and none
// for a room that lost only events at or before it.
func testReplayReportsGaps(t *testing.T, open Opener) {
	l := open(t, Options{Retention: store.Retention{Events: 3}, PruneEvery: 10 * time.Millisecond})
	ctx := context.Background()
	var a, b []store.Record
	for i := 0; i < 8; i++ {
		a = append(a, MustAppend(t, l, "a", "x", fmt.Sprint("a", i)))
	}
	for i := 0; i < 2; i++ {
		b = append(b, MustAppend(t, l, "b", "x", fmt.Sprint("b", i)))
	}
	waitUntil(t, "retention keeps room a's newest 3 events", func() bool {
		got, err := l.ReadAfter(ctx, []string{"a"}, ulid.ULID{}, 10)
		return err == nil && len(got) == 3
	})
	kept := append(slices.Clone(a[5:]), b...)
	gapA := store.Gap{Room: "a", Pruned: a[4].ID, Oldest: a[5].ID}
	for _, tc := range []struct {
		name    string
		rooms   []string
		after   ulid.ULID
		limit   int
		records []store.Record
		gaps    []store.Gap
	}{
		{"from the start", []string{"a", "b"}, ulid.ULID{}, 100, kept, []store.Gap{gapA}},
		{"from a pruned event", []string{"b", "a"}, a[1].ID, 100, kept, []store.Gap{gapA}},
		{"from the newest pruned event", []string{"a", "b"}, a[4].ID, 100, kept, nil},
		{"from a kept event", []string{"a", "b"}, a[6].ID, 100, kept[2:], nil},
		{"a room nothing was pruned from", []string{"b"}, ulid.ULID{}, 100, b, nil},
		{"a room that does not exist", []string{"nope", "a"}, ulid.ULID{}, 100, a[5:], []store.Gap{gapA}},
		{"a short limit still tells the gap", []string{"a", "b"}, ulid.ULID{}, 1, a[5:6], []store.Gap{gapA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.ReadReplay(ctx, tc.rooms, tc.after, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got.Records), ids(tc.records)) {
				t.Fatalf("records: got %v, want %v", ids(got.Records), ids(tc.records))
			}
			if !slices.Equal(got.Gaps, tc.gaps) {
				t.Fatalf("gaps: got %+v, want %+v", got.Gaps, tc.gaps)
			}
		})
	}
}

// testReplayPruneRace reads while a writer appends and retention prunes:
// every read must account for every event after its cursor that was
// acknowledged before it began, either as a record or inside a gap. A log
// that read the gaps and the records in two snapshots fails it whenever a
// prune falls between them.
func testReplayPruneRace(t *testing.T, open Opener) {
	l := open(t, Options{Retention: store.Retention{Events: 20}, PruneEvery: 5 * time.Millisecond})
	ctx := context.Background()
	rooms := []string{"a", "b"}
	var (
		mu    sync.Mutex
		acked []store.Record // in id order: one writer
	)
	stop, done := make(chan struct{}), make(chan error, 1)
	defer func() { close(stop); <-done }()
	go func() {
		for i := 0; i < 200; i++ {
			rec, _, err := l.Append(ctx, store.Event{Room: rooms[i%2], Type: store.TypeMessage, Author: "w", Text: fmt.Sprint(i)})
			if err != nil {
				done <- err
				return
			}
			mu.Lock()
			acked = append(acked, rec)
			mu.Unlock()
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
		}
		done <- nil
	}()
	reads, gaps := 0, 0
	var deadline time.Time
	// Read while the writer runs, then until a prune has shown a gap.
	for running := true; running || gaps == 0; reads++ {
		select {
		case err := <-done:
			done <- nil // for the deferred wait
			if err != nil {
				t.Fatal(err)
			}
			running, deadline = false, time.Now().Add(time.Minute)
		default:
		}
		if !running && time.Now().After(deadline) {
			t.Fatalf("%d reads and not one gap: retention never overtook a cursor", reads)
		}
		mu.Lock()
		known := slices.Clone(acked)
		mu.Unlock()
		// A cursor near the pruning edge, so whether there is a gap at all
		// depends on how the prune and the read interleave.
		var after ulid.ULID
		if len(known) > 45 {
			after = known[len(known)-45].ID
		}
		page, err := l.ReadReplay(ctx, rooms, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if err := accountsFor(page, after, known); err != nil {
			t.Fatalf("read %d after %s: %v", reads, after, err)
		}
		gaps += len(page.Gaps)
		// Pace the reader a little: spinning starves the writer and the
		// pruner, whose commits are what must fall between the reads of a
		// log that takes two snapshots. Under -race that log fails here in
		// nearly every run.
		if reads%4 == 3 {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// accountsFor checks one short page read after the cursor after: its
// records are in id order and none is at or below its room's gap, and each
// of known (acknowledged before the read) after the cursor is a record or
// inside its room's gap.
func accountsFor(page store.Replay, after ulid.ULID, known []store.Record) error {
	pruned := map[string]ulid.ULID{}
	for _, g := range page.Gaps {
		if g.Pruned.Compare(after) <= 0 {
			return fmt.Errorf("gap %+v is not after the cursor", g)
		}
		pruned[g.Room] = g.Pruned
	}
	got := map[ulid.ULID]bool{}
	for i, r := range page.Records {
		if r.ID.Compare(after) <= 0 || i > 0 && r.ID.Compare(page.Records[i-1].ID) <= 0 {
			return fmt.Errorf("record %d (%s) out of order", i, r.ID)
		}
		if r.ID.Compare(pruned[r.Room]) <= 0 {
			return fmt.Errorf("record %s of room %s is inside its gap %s", r.ID, r.Room, pruned[r.Room])
		}
		got[r.ID] = true
	}
	for _, r := range known {
		if r.ID.Compare(after) > 0 && !got[r.ID] && r.ID.Compare(pruned[r.Room]) > 0 {
			return fmt.Errorf("event %s of room %s is neither returned nor in a gap (gaps %+v)", r.ID, r.Room, page.Gaps)
		}
	}
	return nil
}

// ids returns the ids of recs, for comparisons that print well.
func ids(recs []store.Record) []ulid.ULID {
	out := make([]ulid.ULID, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}
