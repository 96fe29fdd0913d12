package bolt

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// TestDerivedIDs: a derived id carries its sequence and sorts after every
// id a single node draws in the same millisecond; drawn ids are not derived.
func TestDerivedIDs(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	id := DerivedID(at, 42)
	if seq, ok := SeqOf(id); !ok || seq != 42 || id.Time() != ulid.Timestamp(at) {
		t.Fatalf("SeqOf(%s): got %d %v, want 42 at %s", id, seq, ok, at)
	}
	var g idGen
	for range 1000 {
		drawn, err := g.next(at)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := SeqOf(drawn); ok {
			t.Fatalf("drawn id %s reads as derived", drawn)
		}
		if drawn.Compare(DerivedID(at, 1)) >= 0 {
			t.Fatalf("drawn id %s sorts after derived %s", drawn, DerivedID(at, 1))
		}
	}
}

// applyAll applies entries to a fresh replica and returns its records.
func applyAll(t *testing.T, entries []Entry) (*DB, []Outcome) {
	t.Helper()
	d := mustOpenDB(t, filepath.Join(t.TempDir(), "replica.db"), func(d *DB) { d.Replica = true })
	outs, err := d.Apply(context.Background(), entries)
	if err != nil {
		t.Fatal(err)
	}
	return d, outs
}

// TestApplyDerivesTimeFromTheStream: D never goes back when the stamps
// do; rules are outcomes; sequences must follow on; two replicas given
// the same entries hold the same bytes.
func TestApplyDerivesTimeFromTheStream(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	msg := func(seq uint64, stamp time.Time, text string) Entry {
		return Entry{Seq: seq, Stamp: stamp, Kind: EntryEvent, Event: store.Event{Room: "r", Type: store.TypeMessage, Author: "x", Text: text}}
	}
	entries := []Entry{
		msg(1, t0, "one"),
		msg(2, t0.Add(-time.Second), "a leader with a slower clock"),
		{Seq: 3, Stamp: t0, Kind: EntryEvent, Event: store.Event{Room: "r", Type: store.TypeEdit, Author: "x", Target: ulid.ULID{1}, Text: "no target"}},
		msg(4, t0.Add(time.Second), "later"),
	}
	d, outs := applyAll(t, entries)
	if !outs[0].Created || !outs[1].Created || outs[1].Chain != t0 || outs[1].Record.ID.Compare(outs[0].Record.ID) <= 0 {
		t.Fatalf("outcomes 1 and 2: %+v %+v", outs[0], outs[1])
	}
	if !errors.Is(outs[2].Err, store.ErrNotFound) {
		t.Fatalf("edit of no message: got %v, want ErrNotFound", outs[2].Err)
	}
	if seq, chain, err := d.Applied(); err != nil || seq != 4 || !chain.Equal(t0.Add(time.Second)) {
		t.Fatalf("Applied: %d %s %v", seq, chain, err)
	}
	if _, err := d.Apply(context.Background(), []Entry{msg(6, t0, "skips 5")}); err == nil {
		t.Fatal("applying sequence 6 after 4: no error")
	}
	other, _ := applyAll(t, entries)
	a, _ := d.ReadAfter(context.Background(), []string{"r"}, ulid.ULID{}, 10)
	b, _ := other.ReadAfter(context.Background(), []string{"r"}, ulid.ULID{}, 10)
	if len(a) != 3 || len(a) != len(b) {
		t.Fatalf("replicas hold %d and %d records, want 3", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != b[i].ID || !bytes.Equal(a[i].JSON, b[i].JSON) {
			t.Fatalf("record %d differs: %s and %s", i, a[i].JSON, b[i].JSON)
		}
	}
}
