package bolt

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/store"
)

// TestClaimsDecideWhichObjectHoldsAContent: on a replica, the first
// registration of a content makes its object the owner; later ones
// reference the owner, and a fresh object that lost is queued for
// erasure; when the last reference goes the owner is queued; a stale
// claim of an erased owner is refused, alike on every replica.
func TestClaimsDecideWhichObjectHoldsAContent(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	id := func(c byte) string { return strings.Repeat(string(c), 25) + "a" }
	file := func(c byte) store.File {
		return store.File{ID: id(c), Room: "r", Name: "n.txt", Size: 3, Type: "text/plain", SHA256: sum, Uploader: "x", Time: t0}
	}
	seq := uint64(0)
	register := func(f store.File, obj string) Entry {
		seq++
		return Entry{Seq: seq, Stamp: t0, Kind: EntryOp, Op: func(ctx context.Context, db *DB) (any, error) {
			return db.RegisterFile(ctx, f, store.Quota{}, obj)
		}}
	}
	collect := func() Entry {
		seq++
		return Entry{Seq: seq, Stamp: t0, Kind: EntryOp, Op: func(ctx context.Context, db *DB) (any, error) {
			return db.CollectFiles(ctx, t0.Add(time.Hour))
		}}
	}
	a, b, c, d := file('b'), file('c'), file('d'), file('e')
	entries := []Entry{
		register(a, ObjectName(sum, a.ID)), // 1: the first claim owns
		register(b, ObjectName(sum, a.ID)), // 2: deduplicated against the owner
		register(c, ObjectName(sum, c.ID)), // 3: a fresh put that lost: queued
		collect(),                          // 4: all three released: the owner queued
		register(d, ObjectName(sum, a.ID)), // 5: deduplicated against an owner that is gone
	}
	want := []struct {
		err      error
		owner    string
		toErase  []string
		describe string
	}{
		{nil, ObjectName(sum, a.ID), nil, "first claim"},
		{nil, ObjectName(sum, a.ID), nil, "claim of the owner"},
		{nil, ObjectName(sum, a.ID), []string{ObjectName(sum, c.ID)}, "fresh object that lost"},
		{nil, "", []string{ObjectName(sum, a.ID), ObjectName(sum, c.ID)}, "last reference released"},
		{store.ErrNotFound, "", []string{ObjectName(sum, a.ID), ObjectName(sum, c.ID)}, "stale claim"},
	}
	replicas := []*DB{
		mustOpenDB(t, filepath.Join(t.TempDir(), "one.db"), func(d *DB) { d.Replica = true }),
		mustOpenDB(t, filepath.Join(t.TempDir(), "two.db"), func(d *DB) { d.Replica = true }),
	}
	for _, db := range replicas {
		for i, en := range entries {
			outs, err := db.Apply(context.Background(), []Entry{en})
			if err != nil {
				t.Fatal(err)
			}
			w := want[i]
			if !errors.Is(outs[0].Err, w.err) || (w.err == nil) != (outs[0].Err == nil) {
				t.Fatalf("%s: got error %v, want %v", w.describe, outs[0].Err, w.err)
			}
			owner, _ := db.ObjectOwner(sum)
			if owner != w.owner {
				t.Fatalf("%s: owner %q, want %q", w.describe, owner, w.owner)
			}
			queued, err := db.ObjectsToErase(10)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(w.toErase)
			if !slices.Equal(queued, w.toErase) {
				t.Fatalf("%s: queued for erasure %v, want %v", w.describe, queued, w.toErase)
			}
		}
	}
	if err := replicas[0].ObjectErased(ObjectName(sum, c.ID)); err != nil {
		t.Fatal(err)
	}
	if live, _ := replicas[0].ObjectLive(ObjectName(sum, c.ID)); live {
		t.Fatal("an erased object is still live")
	}
	if live, _ := replicas[0].ObjectLive(ObjectName(sum, a.ID)); !live {
		t.Fatal("an object queued for erasure is not live: the orphan collector would race the eraser")
	}
}

// TestTheSameThumbnailTwiceKeepsItsObject: a file's thumbnail registered
// twice with the same content (the same job run twice) names the same
// object; the second must not queue the first's object for erasure.
func TestTheSameThumbnailTwiceKeepsItsObject(t *testing.T) {
	sum, tsum := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	id := strings.Repeat("b", 25) + "a"
	f := store.File{ID: id, Room: "r", Name: "p.png", Size: 3, Type: "image/png", SHA256: sum, Uploader: "x", Time: t0}
	th := store.Thumb{SHA256: tsum, Type: "image/png", Width: 1, Height: 1}
	op := func(seq uint64, fn func(ctx context.Context, db *DB) (any, error)) Entry {
		return Entry{Seq: seq, Stamp: t0, Kind: EntryOp, Op: fn}
	}
	thumb := func(ctx context.Context, db *DB) (any, error) {
		return nil, db.RegisterThumb(ctx, id, th, ObjectName(tsum, id))
	}
	d := mustOpenDB(t, filepath.Join(t.TempDir(), "r.db"), func(d *DB) { d.Replica = true })
	outs, err := d.Apply(context.Background(), []Entry{
		op(1, func(ctx context.Context, db *DB) (any, error) {
			return db.RegisterFile(ctx, f, store.Quota{}, ObjectName(sum, id))
		}),
		op(2, thumb),
		op(3, thumb),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if o.Err != nil {
			t.Fatalf("sequence %d: %v", o.Seq, o.Err)
		}
	}
	if owner, _ := d.ObjectOwner(tsum); owner != ObjectName(tsum, id) {
		t.Fatalf("the thumbnail's owner is %q", owner)
	}
	if queued, _ := d.ObjectsToErase(10); len(queued) != 0 {
		t.Fatalf("queued for erasure: %v, want nothing", queued)
	}
}
