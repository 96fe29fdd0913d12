package bolt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// richRoom fills room with every kind of event and returns its raw export.
func richRoom(tb testing.TB, d *DB, room string) []byte {
	tb.Helper()
	ctx := context.Background()
	a, _, _ := d.Append(ctx, store.Event{Room: room, Type: store.TypeMessage, Author: "ann", Text: "hello\nworld <b>", ClientID: "c1"})
	b, _, _ := d.Append(ctx, store.Event{Room: room, Type: store.TypeMessage, Author: "bo", Text: "=1+1", ReplyTo: a.ID})
	d.Append(ctx, store.Event{Room: room, Type: store.TypeEdit, Author: "ann", Target: a.ID, Text: "hello, world"})
	d.Append(ctx, store.Event{Room: room, Type: store.TypeReaction, Author: "bo", Target: a.ID, Emoji: "👍"})
	d.Append(ctx, store.Event{Room: room, Type: store.TypeDelete, Author: "bo", Target: b.ID})
	for i := 0; i < 30; i++ {
		d.Append(ctx, store.Event{Room: room, Type: store.TypeMessage, Author: "cy", Text: fmt.Sprint("ünïcode ", i)})
	}
	return exportRaw(tb, d, room)
}

func exportRaw(tb testing.TB, d *DB, room string) []byte {
	tb.Helper()
	recs, err := d.ReadAfter(context.Background(), []string{room}, ulid.ULID{}, 1_000_000)
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	for _, r := range recs {
		buf.Write(r.JSON)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func mustVerify(tb testing.TB, path string) {
	tb.Helper()
	rep, err := Verify(path)
	if err != nil || !rep.OK() {
		tb.Fatalf("verify %s: %v %+v", path, err, rep)
	}
}

// TestImportedFileVerifies: an import leaves a file every invariant of
// Verify holds on (the round trip itself is a storetest contract).
func TestImportedFileVerifies(t *testing.T) {
	export := richRoom(t, mustOpenDB(t, ""), "r")
	dst := mustOpenDB(t, "")
	if _, err := dst.Import(context.Background(), "r", bytes.NewReader(export)); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, dst, "r", "x", "after the import")
	dst.Close()
	mustVerify(t, dst.Path)
}

func TestBackupDuringWritesHasEveryAcknowledgedEvent(t *testing.T) {
	d := mustOpenDB(t, "")
	var (
		mu    sync.Mutex
		acked = map[ulid.ULID]bool{}
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				rec, _, err := d.Append(context.Background(), store.Event{Room: fmt.Sprint("r", w%3), Type: store.TypeMessage, Author: "w", Text: fmt.Sprint(i)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[rec.ID] = true
				mu.Unlock()
			}
		}(w)
	}
	waitAcked := func(n int) {
		deadline := time.Now().Add(time.Minute)
		for {
			mu.Lock()
			got := len(acked)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				close(stop)
				t.Fatalf("got %d acknowledged appends in a minute, want %d", got, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitAcked(200)
	mu.Lock()
	before := make([]ulid.ULID, 0, len(acked))
	for id := range acked {
		before = append(before, id)
	}
	mu.Unlock()
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var announced int64
	n, err := d.Backup(f, func(size int64) { announced = size })
	f.Close()
	close(stop)
	wg.Wait()
	if err != nil || n != announced {
		t.Fatalf("backup wrote %d of %d bytes: %v", n, announced, err)
	}
	mustVerify(t, path)
	b := mustOpenDB(t, path)
	have := map[ulid.ULID]bool{}
	recs, _ := b.ReadAfter(context.Background(), []string{"r0", "r1", "r2"}, ulid.ULID{}, 1_000_000)
	for _, r := range recs {
		have[r.ID] = true
	}
	for _, id := range before {
		if !have[id] {
			t.Fatalf("event %s acknowledged before the backup is not in it", id)
		}
	}
}

func TestVerifyReportsBrokenInvariants(t *testing.T) {
	d := mustOpenDB(t, "")
	richRoom(t, d, "r")
	mention := mustAppend(t, d, "r", "ann", "hi @bo")
	d.Close()
	mustVerify(t, d.Path)
	for _, tc := range []struct {
		name   string
		damage func(tx *bbolt.Tx) error
		want   string
	}{
		{"count", func(tx *bbolt.Tx) error {
			return putCount(tx.Bucket(bucketRooms).Bucket([]byte("r")), 1)
		}, "count says 1"},
		{"index entry", func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketRooms).Bucket([]byte("r")).Bucket(bucketMsgs).Cursor()
			c.Last()
			return c.Delete()
		}, "not indexed"},
		{"state", func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketRooms).Bucket([]byte("r")).Bucket(bucketMsgs).Cursor()
			k, _ := c.First()
			return tx.Bucket(bucketRooms).Bucket([]byte("r")).Bucket(bucketMsgs).Put(k, []byte(`{"id":"`+ulid.ULID(k).String()+`","text":"forged"}`))
		}, "the log folds to"},
		{"message count", func(tx *bbolt.Tx) error {
			return addCount(tx.Bucket(bucketCounts), []byte("r"), 5)
		}, "message count says"},
		{"lost mention", func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketMentions).Bucket([]byte("bo")).Delete(mention.ID[:])
		}, "a message of room r mentions bo, and the index lacks it"},
		{"stray mention", func(tx *bbolt.Tx) error {
			b, err := tx.Bucket(bucketMentions).CreateBucketIfNotExists([]byte("zed"))
			if err == nil {
				err = b.Put(mention.ID[:], []byte("r"))
			}
			return err
		}, "zed in room r, which no message's state has"},
		{"last id", func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyLastID, make([]byte, 16))
		}, "above the recorded last id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "broken.db")
			copyFile(t, d.Path, path)
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(tc.damage); err != nil {
				t.Fatal(err)
			}
			db.Close()
			rep, err := Verify(path)
			if err != nil || rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), tc.want) {
				t.Fatalf("got %v %+v, want a problem with %q", err, rep, tc.want)
			}
		})
	}
}

func copyFile(tb testing.TB, src, dst string) {
	tb.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

func TestOpenRefusesDamagedFilesAndLeavesThemAlone(t *testing.T) {
	d := mustOpenDB(t, "")
	for i := 0; i < 300; i++ {
		mustAppend(t, d, fmt.Sprint("room", i%7), "x", strings.Repeat("y", 200))
	}
	used, _ := d.Size() // the file may be longer: bbolt grows it ahead
	d.Close()
	good, _ := os.ReadFile(d.Path)
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"truncated to half", func(b []byte) []byte { return b[:used/2] }},
		{"truncated to one page", func(b []byte) []byte { return b[:4096] }},
		{"a few bytes", func(b []byte) []byte { return b[:10] }},
		{"not a database", func(b []byte) []byte { return bytes.Repeat([]byte("parley"), 2000) }},
		{"both meta pages garbled", func(b []byte) []byte {
			c := bytes.Clone(b)
			for i := 16; i < 80; i++ {
				c[i], c[4096+i] = 0xAA, 0xAA
			}
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "damaged.db")
			bad := tc.damage(good)
			os.WriteFile(path, bad, 0o600)
			sum := sha256.Sum256(bad)
			db := NewDB(path)
			if err := db.Open(); err == nil {
				db.Close()
				t.Fatal("opened a damaged file")
			} else if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("got %v, want store.ErrCorrupt", err)
			}
			after, _ := os.ReadFile(path)
			if sha256.Sum256(after) != sum {
				t.Fatal("opening changed the damaged file")
			}
		})
	}
}

func TestCompactKeepsEverything(t *testing.T) {
	d := mustOpenDB(t, "")
	export := richRoom(t, d, "r")
	d.Close()
	dst := filepath.Join(t.TempDir(), "compact.db")
	if err := Compact(d.Path, dst); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, dst)
	c := mustOpenDB(t, dst)
	if got := exportRaw(t, c, "r"); !bytes.Equal(got, export) {
		t.Fatal("compacted copy differs")
	}
	if err := Compact(d.Path, dst); err == nil {
		t.Fatal("compact overwrote an existing file")
	}
}
