package bolt

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// TestNoEventEntriesQueueAndGapAlike: entries with text that produce no
// event (a post deduplicated by its client id, a no-op edit, a refused
// edit, a post refused in a room that did not exist, an import of an
// event the log has), and a refused op marked EraseRefused (a file
// registration), are queued for erasure, and nothing else is; a
// replica that meets them as gap records saying "none" ends in the same
// state: records, rooms, position and D.
func TestNoEventEntriesQueueAndGapAlike(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	ev := func(seq uint64, e store.Event) Entry {
		return Entry{Seq: seq, Stamp: at(int(seq)), Kind: EntryEvent, Event: e}
	}
	msg := DerivedID(at(1), 1)
	imported := store.Event{Room: "r", Type: store.TypeMessage, Author: "x", Text: "imported"}
	imported.Time = t0.Add(-time.Hour)
	_ = imported.ID.SetTime(ulid.Timestamp(imported.Time))
	imported.Derive()
	refuse := func(context.Context, *DB) (any, error) { return nil, store.Invalid("id", "file id in use") }
	accept := func(context.Context, *DB) (any, error) { return nil, nil }
	entries := []Entry{
		ev(1, store.Event{Room: "r", Type: store.TypeMessage, Author: "x", Text: "one", ClientID: "c1"}),
		ev(2, store.Event{Room: "r", Type: store.TypeMessage, Author: "x", Text: "SECRET dedup", ClientID: "c1"}),
		ev(3, store.Event{Room: "r", Type: store.TypeEdit, Author: "x", Target: msg, Text: "one"}),
		ev(4, store.Event{Room: "r", Type: store.TypeEdit, Author: "y", Target: msg, Text: "SECRET refused"}),
		ev(5, store.Event{Room: "new", Type: store.TypeMessage, Author: "x", ReplyTo: ulid.ULID{1}, Text: "SECRET reply"}),
		ev(6, store.Event{Room: "r", Type: store.TypeReaction, Author: "y", Target: ulid.ULID{2}, Emoji: "👍"}),
		{Seq: 7, Stamp: at(7), Kind: EntryImport, Event: imported},
		{Seq: 8, Stamp: at(8), Kind: EntryImport, Event: imported},
		ev(9, store.Event{Room: "r", Type: store.TypeEdit, Author: "x", Target: msg, Text: "two"}),
		// Ops: only a refused one whose message carries what a user sent.
		{Seq: 10, Stamp: at(10), Kind: EntryOp, Op: refuse, EraseRefused: true},
		{Seq: 11, Stamp: at(11), Kind: EntryOp, Op: accept, EraseRefused: true},
		{Seq: 12, Stamp: at(12), Kind: EntryOp, Op: refuse},
	}
	d, outs := applyAll(t, entries)
	if !errors.Is(outs[3].Err, store.ErrForbidden) || !errors.Is(outs[4].Err, store.ErrInvalid) || !outs[8].Created || !errors.Is(outs[9].Err, store.ErrInvalid) {
		t.Fatalf("outcomes: %+v", outs)
	}
	items, err := d.EraseQueue(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]string{2: "", 3: "", 4: "", 5: "new", 8: "", 10: ""} // the reaction carries no text
	got := map[uint64]string{}
	for _, it := range items {
		if !it.NoEvent || len(it.Event) != 0 || it.ID != DerivedID(outs[it.Seq-1].Chain, it.Seq) {
			t.Fatalf("queued item %+v, want a no-event item with the derived id of its D", it)
		}
		got[it.Seq] = it.Room
		if !outs[it.Seq-1].NoEventQueued {
			t.Fatalf("sequence %d queued without NoEventQueued in its outcome", it.Seq)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("queued sequences and rooms: got %v, want %v", got, want)
	}
	if none, err := d.NoEventQueue(context.Background(), 100); err != nil || len(none) != len(want) {
		t.Fatalf("NoEventQueue: %d items (%v), want %d", len(none), err, len(want))
	}

	// A replica meeting the queued sequences as their gap records.
	rebuilt := make([]Entry, len(entries))
	copy(rebuilt, entries)
	for _, it := range items {
		rebuilt[it.Seq-1] = Entry{Seq: it.Seq, Kind: EntryGap, Chain: time.UnixMilli(int64(it.ID.Time())).UTC(), Event: store.Event{Room: it.Room}}
	}
	other, routs := applyAll(t, rebuilt)
	for _, it := range items {
		if !errors.Is(routs[it.Seq-1].Err, ErrOutcomeErased) {
			t.Fatalf("gap %d: outcome %v, want ErrOutcomeErased", it.Seq, routs[it.Seq-1].Err)
		}
	}
	sameReplica(t, d, other, "r", "new")
	if q, _ := other.EraseQueue(context.Background(), 0, 100); len(q) != 0 {
		t.Fatalf("the rebuilt replica queued %d items, want none", len(q))
	}
	for _, it := range items {
		if err := d.Erased(it.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if q, _ := d.EraseQueue(context.Background(), 0, 100); len(q) != 0 {
		t.Fatalf("%d items left after Erased, want none", len(q))
	}
}

// sameReplica fails tb unless a and b hold the same records of rooms, the
// same rooms, and the same position and D.
func sameReplica(tb testing.TB, a, b *DB, rooms ...string) {
	tb.Helper()
	ctx := context.Background()
	ra, err := a.ReadAfter(ctx, rooms, ulid.ULID{}, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	rb, err := b.ReadAfter(ctx, rooms, ulid.ULID{}, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	if len(ra) != len(rb) {
		tb.Fatalf("replicas hold %d and %d records", len(ra), len(rb))
	}
	for i := range ra {
		if ra[i].ID != rb[i].ID || !bytes.Equal(ra[i].JSON, rb[i].JSON) {
			tb.Fatalf("record %d: %s, want %s", i, rb[i].JSON, ra[i].JSON)
		}
	}
	roomsA, err := a.Rooms(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	roomsB, err := b.Rooms(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if !reflect.DeepEqual(roomsA, roomsB) {
		tb.Fatalf("rooms: got %+v, want %+v", roomsB, roomsA)
	}
	sa, ca, err := a.Applied()
	if err != nil {
		tb.Fatal(err)
	}
	sb, cb, err := b.Applied()
	if err != nil || sa != sb || !ca.Equal(cb) {
		tb.Fatalf("position: got %d at %s (%v), want %d at %s", sb, cb, err, sa, ca)
	}
}
