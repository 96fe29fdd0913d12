package bolt

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/search"
)

// searchProblems checks d's index in one snapshot: Verify's comparison
// with the message states, and equality (term by term) with an index built
// from scratch, which it builds in a transaction it rolls back.
func searchProblems(tb testing.TB, d *DB) []string {
	tb.Helper()
	rep := &Report{}
	err := d.db.Update(func(tx *bbolt.Tx) error {
		verifySearch(rep, tx)
		live := indexedTerms(rep, tx)
		var rooms [][]byte
		tx.Bucket(bucketRooms).ForEachBucket(func(k []byte) error { rooms = append(rooms, k); return nil })
		for _, room := range rooms {
			if _, err := rebuildSearchRoom(tx, room); err != nil {
				return err
			}
		}
		rebuilt := indexedTerms(rep, tx)
		for _, room := range rooms {
			if a, b := live[string(room)], rebuilt[string(room)]; !maps.EqualFunc(a, b, slices.Equal) {
				rep.problem("room %s: the index (%d messages) differs from a rebuild (%d)", room, len(a), len(b))
			}
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		tb.Fatal(err)
	}
	return rep.Problems
}

// TestSearchIndexEqualsRebuild: random appends, edits, reactions, deletes,
// retention and imports in several rooms keep the index equal to one built
// from scratch, across flushes of the tail (every 16 messages here, so
// blocks are small and many), and every search
// finds what reading every message state finds.
func TestSearchIndexEqualsRebuild(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>7))
	d := mustOpenDB(t, "", func(d *DB) { d.searchTailSize = 16; d.MaxBatch = 8 })
	ctx := context.Background()
	vocab := []string{"apple", "apricot", "banana", "Café", "cafe", "東京タワー", "東京", "München", "👍🏽", "zeta", "a", "deploy", "deployment"}
	text := func() string {
		var w []string
		for range 1 + rng.IntN(5) {
			w = append(w, vocab[rng.IntN(len(vocab))])
		}
		return strings.Join(w, " ")
	}
	rooms := []string{"r1", "r2", "r3"}
	authors := []string{"alice", "bob", "Zoë"}
	var msgs []store.Record
	authorOf := map[ulid.ULID]string{}
	importRoom := 0
	for step := range 400 {
		room := rooms[rng.IntN(len(rooms))]
		switch op := rng.IntN(20); {
		case op < 9 || len(msgs) == 0:
			author := authors[rng.IntN(3)]
			msgs = append(msgs, mustAppend(t, d, room, author, text()))
			authorOf[msgs[len(msgs)-1].ID] = author
		case op < 11:
			m := msgs[rng.IntN(len(msgs))]
			d.Append(ctx, store.Event{Room: m.Room, Type: store.TypeEdit, Author: "root", Moderate: true, Target: m.ID, Text: text()})
		case op < 12: // by its author: the terms tokenized off the writer apply
			m := msgs[rng.IntN(len(msgs))]
			d.Append(ctx, store.Event{Room: m.Room, Type: store.TypeEdit, Author: authorOf[m.ID], Target: m.ID, Text: text()})
		case op < 13:
			m := msgs[rng.IntN(len(msgs))]
			d.Append(ctx, store.Event{Room: m.Room, Type: store.TypeReaction, Author: "bob", Target: m.ID, Emoji: "👍"})
		case op < 16:
			m := msgs[rng.IntN(len(msgs))]
			d.Append(ctx, store.Event{Room: m.Room, Type: store.TypeDelete, Author: "root", Moderate: true, Target: m.ID})
		case op < 18:
			if err := d.SetRoomRetention(ctx, room, &store.Retention{Events: 5 + rng.IntN(30)}); err != nil {
				t.Fatal(err)
			}
			if _, err := d.pruneRooms(time.Now()); err != nil {
				t.Fatal(err)
			}
		default:
			importRoom++
			var lines strings.Builder
			base := uint64(time.Now().Add(-time.Hour).UnixMilli()) + uint64(step)*10
			for i := range 1 + rng.IntN(9) {
				id := ulid.MustNew(base+uint64(i), strings.NewReader(strings.Repeat("\x05", 16)))
				fmt.Fprintf(&lines, `{"id":"%s","room":"imp%d","type":"message","author":"carol","text":"%s","time":"%s"}`+"\n",
					id, importRoom, text(), time.UnixMilli(int64(id.Time())).UTC().Format(store.TimeFormat))
			}
			if _, err := d.Import(ctx, fmt.Sprint("imp", importRoom), strings.NewReader(lines.String())); err != nil {
				t.Fatal(err)
			}
			rooms = append(rooms, fmt.Sprint("imp", importRoom))
		}
		if step%40 == 39 {
			if p := searchProblems(t, d); len(p) > 0 {
				t.Fatalf("step %d: %q", step, p)
			}
			for _, query := range []string{"apple", "ap", "caf", "東京", "京", "muenchen", "👍", "a", "deploy -deployment", "from:zoe", "banana zeta", `"apple banana"`} {
				compareSearch(t, d, rooms, query)
			}
		}
	}
}

// TestSearchIndexEqualsRebuildUnderConcurrentAppends: appends and edits
// from many goroutines, each tokenized on its own goroutine and committed
// in shared batches, leave the index equal to one built from scratch, and
// searches find what reading every message state finds.
func TestSearchIndexEqualsRebuildUnderConcurrentAppends(t *testing.T) {
	d := mustOpenDB(t, "", func(d *DB) { d.searchTailSize = 64 })
	ctx := context.Background()
	words := []string{"alpha", "Bravo", "café", "東京タワー", "München", "👍🏽", "delta"}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			author := fmt.Sprint("w", g)
			for i := range 25 {
				text := fmt.Sprintf("%s %s g%di%d", words[(g+i)%len(words)], words[i%len(words)], g, i)
				rec, _, err := d.Append(ctx, store.Event{Room: fmt.Sprint("r", g%3), Type: store.TypeMessage, Author: author, Text: text})
				if err != nil {
					t.Error(err)
					return
				}
				if i%3 == 0 {
					edit := fmt.Sprintf("%s edited g%di%d", words[(g*i)%len(words)], g, i)
					if _, _, err := d.Append(ctx, store.Event{Room: rec.Room, Type: store.TypeEdit, Author: author, Target: rec.ID, Text: edit}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if p := searchProblems(t, d); len(p) > 0 {
		t.Fatalf("%q", p)
	}
	rooms := []string{"r0", "r1", "r2"}
	for _, query := range []string{"alpha", "caf", "東京", "muenchen", "👍", "edited", "from:w3", "g5i3", "g5i4 -edited"} {
		compareSearch(t, d, rooms, query)
	}
}

// compareSearch fails t unless d's Search finds what store.SearchMatch on
// every message state finds, page by page.
func compareSearch(t *testing.T, d *DB, rooms []string, query string) {
	t.Helper()
	q, err := search.Parse(query)
	if err != nil {
		t.Fatal(err)
	}
	var want []ulid.ULID
	for _, room := range rooms {
		recs, err := d.Messages(context.Background(), room, store.Page{Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			var m store.Message
			if err := m.UnmarshalJSON(r.JSON); err != nil {
				t.Fatal(err)
			}
			if ok, _ := store.SearchMatch(q, room, &m, ulid.ULID{}); ok {
				want = append(want, m.ID)
			}
		}
	}
	slices.SortFunc(want, func(a, b ulid.ULID) int { return b.Compare(a) })
	var got []ulid.ULID
	before := ulid.ULID{}
	for {
		hits, err := d.Search(context.Background(), rooms, q, before, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			got = append(got, h.Record.ID)
		}
		if len(hits) < 7 {
			break
		}
		before = hits[len(hits)-1].Record.ID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("search %q: got %d results %v, want %d %v", query, len(got), got, len(want), want)
	}
}

// TestSearchRedactionCoversTheIndex: once a delete is scrubbed, no byte of
// the file holds its text, index included: neither its tail entry nor the
// keys of the block it was in (a tail of 8, so most deleted messages were
// in blocks), in Latin or Japanese.
func TestSearchRedactionCoversTheIndex(t *testing.T) {
	d := mustOpenDB(t, "", func(d *DB) { d.searchTailSize = 8 })
	fault := errors.New("not yet")
	d.scrubs.fault.Store(&fault)
	var secrets []store.Record
	for i := range 30 {
		secrets = append(secrets, mustAppend(t, d, "a", "alice", fmt.Sprintf("plugh%d frobozz 秘密の合言葉", i)))
		mustAppend(t, d, "a", "bob", fmt.Sprint("chatter ", i))
	}
	for _, m := range secrets {
		if _, created, err := d.Append(context.Background(), store.Event{Room: "a", Type: store.TypeDelete, Author: "alice", Target: m.ID}); err != nil || !created {
			t.Fatalf("delete: %v, %v", created, err)
		}
	}
	d.Close() // the file as it is, with its stale pages
	d = mustOpenDB(t, d.Path, func(d *DB) { d.searchTailSize = 8; d.scrubs.fault.Store(&fault) })
	for _, s := range []string{"frobozz", "plugh", "合言"} {
		if !fileHas(t, d, s) {
			t.Fatalf("test is void: no stale copy of %q was left", s)
		}
	}
	d.scrubs.fault.Store(nil)
	d.scrubs.queued(0)
	waitScrubbed(t, d)
	for _, s := range []string{"frobozz", "plugh", "合言", "秘密"} {
		if fileHas(t, d, s) {
			t.Errorf("the deleted text %q survived in the file", s)
		}
	}
	if !fileHas(t, d, "chatter") {
		t.Fatal("the scrub erased live text")
	}
	if p := searchProblems(t, d); len(p) > 0 {
		t.Fatal(p)
	}
}

// TestSearchIndexBuiltForOldFiles: a file without an index (written before
// it existed) gets one at Open; Verify finds a damaged index, and Reindex
// repairs it.
func TestSearchIndexBuiltForOldFiles(t *testing.T) {
	d := mustOpenDB(t, "")
	for i := range 300 {
		mustAppend(t, d, fmt.Sprint("r", i%3), "alice", fmt.Sprint("message number ", i))
	}
	path := d.Path
	d.Close()
	mustVerify(t, path)
	damage := func(fn func(tx *bbolt.Tx) error) {
		t.Helper()
		db, err := openBolt(path, false, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
	}
	damage(func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket(bucketSearch); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketSearch); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(keySearchVersion)
	})
	if rep, err := Verify(path); err != nil || rep.OK() {
		t.Fatalf("verify without an index: got %v, %+v; want a problem", err, rep)
	}
	d = mustOpenDB(t, path)
	q, _ := search.Parse("number 29")
	hits, err := d.Search(context.Background(), []string{"r0", "r1", "r2"}, q, ulid.ULID{}, 100)
	if err != nil || len(hits) != 11 { // 29 and 290…299 but 29x: 29, 290-299
		t.Fatalf("after Open built it: got %d hits, %v; want 11", len(hits), err)
	}
	d.Close()
	mustVerify(t, path)
	damage(func(tx *bbolt.Tx) error {
		post := tx.Bucket(bucketSearch).Bucket([]byte("r1")).Bucket(bucketSearchPost)
		k, _ := post.Cursor().First()
		return post.Delete(k)
	})
	rep, err := Verify(path)
	if err != nil || rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), "search index") {
		t.Fatalf("verify a damaged index: got %v, %+v", err, rep)
	}
	rr, err := Reindex(path)
	if err != nil || rr.Messages != 300 || rr.Rooms != 3 {
		t.Fatalf("reindex: got %+v, %v; want 300 messages in 3 rooms", rr, err)
	}
	mustVerify(t, path)
}

// TestSearchFullTailMakesBlocksOf256: a flush cuts a room's messages into
// blocks of at most 256 (positions are a byte), and searches read across
// them and the tail.
func TestSearchFullTailMakesBlocksOf256(t *testing.T) {
	d := mustOpenDB(t, "", func(d *DB) { d.searchTailSize = 600 })
	var lines strings.Builder
	base := uint64(time.Now().Add(-time.Hour).UnixMilli())
	for i := range 700 {
		id := ulid.MustNew(base+uint64(i), strings.NewReader(strings.Repeat("\x05", 16)))
		fmt.Fprintf(&lines, `{"id":"%s","room":"big","type":"message","author":"carol","text":"line %d of %s","time":"%s"}`+"\n",
			id, i, []string{"alpha", "beta", "gamma"}[i%3], time.UnixMilli(int64(id.Time())).UTC().Format(store.TimeFormat))
	}
	if _, err := d.Import(context.Background(), "big", strings.NewReader(lines.String())); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, d, "big", "dave", "line live of alpha")
	var sizes []int
	d.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSearch).Bucket([]byte("big")).Bucket(bucketSearchIDs).ForEach(func(k, v []byte) error {
			sizes = append(sizes, blockLive(v))
			return nil
		})
	})
	if !slices.Equal(sizes, []int{256, 256, 88}) {
		t.Fatalf("blocks: got %v, want 256, 256 and 88 messages", sizes)
	}
	for _, q := range []string{"alpha", "line", "gam", "from:carol beta", "from:dave"} {
		compareSearch(t, d, []string{"big"}, q)
	}
	if p := searchProblems(t, d); len(p) > 0 {
		t.Fatal(p)
	}
}
