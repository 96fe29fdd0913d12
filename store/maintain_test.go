package store

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
	bolt "go.etcd.io/bbolt"
)

// richRoom fills room with every kind of event and returns its raw export.
func richRoom(tb testing.TB, d *DB, room string) []byte {
	tb.Helper()
	ctx := context.Background()
	a, _, _ := d.Append(ctx, Event{Room: room, Type: TypeMessage, Author: "ann", Text: "hello\nworld <b>", ClientID: "c1"})
	b, _, _ := d.Append(ctx, Event{Room: room, Type: TypeMessage, Author: "bo", Text: "=1+1", ReplyTo: a.ID})
	d.Append(ctx, Event{Room: room, Type: TypeEdit, Author: "ann", Target: a.ID, Text: "hello, world"})
	d.Append(ctx, Event{Room: room, Type: TypeReaction, Author: "bo", Target: a.ID, Emoji: "👍"})
	d.Append(ctx, Event{Room: room, Type: TypeDelete, Author: "bo", Target: b.ID})
	for i := 0; i < 30; i++ {
		d.Append(ctx, Event{Room: room, Type: TypeMessage, Author: "cy", Text: fmt.Sprint("ünïcode ", i)})
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

func TestImportRoundTrip(t *testing.T) {
	src := mustOpenDB(t, "")
	export := richRoom(t, src, "r")
	srcPage, _ := src.Messages(context.Background(), "r", Page{Forward: true, Limit: 1000})

	dst := mustOpenDB(t, "")
	rep, err := dst.Import(context.Background(), "r", bytes.NewReader(export))
	if err != nil || rep.Imported != 35 || rep.Skipped != 0 {
		t.Fatalf("import: %+v, %v", rep, err)
	}
	if again := exportRaw(t, dst, "r"); !bytes.Equal(again, export) {
		t.Fatalf("re-export differs:\n%s\nwant\n%s", again, export)
	}
	dstPage, _ := dst.Messages(context.Background(), "r", Page{Forward: true, Limit: 1000})
	for i := range srcPage {
		if !bytes.Equal(srcPage[i].JSON, dstPage[i].JSON) {
			t.Fatalf("message %d: %s, want %s", i, dstPage[i].JSON, srcPage[i].JSON)
		}
	}
	// Idempotent.
	rep, err = dst.Import(context.Background(), "r", bytes.NewReader(export))
	if err != nil || rep.Imported != 0 || rep.Skipped != 35 {
		t.Fatalf("second import: %+v, %v", rep, err)
	}
	// The client id came along; new ids sort after imported ones.
	if _, created, _ := dst.Append(context.Background(), Event{Room: "r", Type: TypeMessage, Author: "ann", Text: "again", ClientID: "c1"}); created {
		t.Fatal("imported client id not remembered")
	}
	recs, _ := dst.ReadAfter(context.Background(), []string{"r"}, ulid.ULID{}, 1000)
	next := mustAppend(t, dst, "other", "x", "new")
	if next.ID.Compare(recs[len(recs)-1].ID) <= 0 {
		t.Fatalf("new id %s not above imported %s", next.ID, recs[len(recs)-1].ID)
	}
	dst.Close()
	mustVerify(t, dst.Path)
}

func TestImportRejectsBadFilesWhole(t *testing.T) {
	src := mustOpenDB(t, "")
	good := strings.Split(strings.TrimSuffix(string(richRoom(t, src, "r")), "\n"), "\n")
	replace := func(i int, line string) string {
		lines := append([]string(nil), good...)
		lines[i] = line
		return strings.Join(lines, "\n") + "\n"
	}
	swap := append([]string(nil), good...)
	swap[3], swap[4] = swap[4], swap[3]
	for _, tc := range []struct {
		name  string
		input string
		line  int
	}{
		{"malformed JSON", replace(2, `{"id":`), 3},
		{"unknown type", replace(5, strings.Replace(good[5], `"type":"message"`, `"type":"shout"`, 1)), 6},
		{"other room", replace(6, strings.Replace(good[6], `"room":"r"`, `"room":"x"`, 1)), 7},
		{"time not the id's", replace(7, strings.Replace(good[7], `"time":"20`, `"time":"19`, 1)), 8},
		{"out of order", strings.Join(swap, "\n") + "\n", 5},
		{"blank line", replace(9, ""), 10},
		{"empty file", "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := mustOpenDB(t, "")
			_, err := dst.Import(context.Background(), "r", strings.NewReader(tc.input))
			var ie *ImportError
			if !errors.As(err, &ie) || ie.Line != tc.line || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want an error on line %d", err, tc.line)
			}
			if rooms, _ := dst.Rooms(context.Background()); len(rooms) != 0 {
				t.Fatalf("a bad file was half applied: %+v", rooms)
			}
		})
	}
	t.Run("target outside the file and the room", func(t *testing.T) {
		dst := mustOpenDB(t, "")
		_, err := dst.Import(context.Background(), "r", strings.NewReader(strings.Join(good[2:], "\n")))
		var ie *ImportError
		if !errors.As(err, &ie) || ie.Line != 1 {
			t.Fatalf("got %v, want an error on line 1", err)
		}
	})
	t.Run("older than the room", func(t *testing.T) {
		dst := mustOpenDB(t, "")
		mustAppend(t, dst, "r", "x", "already here")
		_, err := dst.Import(context.Background(), "r", strings.NewReader(strings.Join(good, "\n")))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "older than the room's newest") {
			t.Fatalf("got %v", err)
		}
	})
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
				rec, _, err := d.Append(context.Background(), Event{Room: fmt.Sprint("r", w%3), Type: TypeMessage, Author: "w", Text: fmt.Sprint(i)})
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
		for {
			mu.Lock()
			got := len(acked)
			mu.Unlock()
			if got >= n {
				return
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
	d.Close()
	mustVerify(t, d.Path)
	for _, tc := range []struct {
		name   string
		damage func(tx *bolt.Tx) error
		want   string
	}{
		{"count", func(tx *bolt.Tx) error {
			return putCount(tx.Bucket(bucketRooms).Bucket([]byte("r")), 1)
		}, "count says 1"},
		{"index entry", func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketRooms).Bucket([]byte("r")).Bucket(bucketMsgs).Cursor()
			c.Last()
			return c.Delete()
		}, "not indexed"},
		{"state", func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketRooms).Bucket([]byte("r")).Bucket(bucketMsgs).Cursor()
			k, _ := c.First()
			return tx.Bucket(bucketRooms).Bucket([]byte("r")).Bucket(bucketMsgs).Put(k, []byte(`{"id":"`+ulid.ULID(k).String()+`","text":"forged"}`))
		}, "the log folds to"},
		{"last id", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyLastID, make([]byte, 16))
		}, "above the recorded last id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "broken.db")
			copyFile(t, d.Path, path)
			db, err := bolt.Open(path, 0o600, nil)
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
	d.Close()
	good, _ := os.ReadFile(d.Path)
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }},
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
			} else if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
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
