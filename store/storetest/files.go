package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/parleychat/parley/store"
)

// FileStore is a log with its file records: what RunFiles checks.
type FileStore interface {
	store.Store
	store.Files
}

// FilesOpener opens a fresh, empty FileStore for one test, closed at tb's
// cleanup.
type FilesOpener func(tb testing.TB, opt Options) FileStore

// RunFiles runs the contract of store.Files against stores that open
// returns, each as a subtest.
func RunFiles(t *testing.T, open FilesOpener) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, FilesOpener)
	}{
		{"AddFileNeedsItsObject", testAddFileNeedsItsObject},
		{"AttachRules", testAttachRules},
		{"DeleteReleasesFilesAndErasesBytes", testDeleteReleasesFiles},
		{"CollectPendingUploads", testCollectPendingUploads},
		{"Quotas", testFileQuotas},
		{"RetentionReleasesFiles", testRetentionReleasesFiles},
		{"ImportRegistersFiles", testImportRegistersFiles},
		{"BackupFilesListsObjects", testBackupFilesListsObjects},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, open) })
	}
}

var fileIDs = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewFileID returns a random file id.
func NewFileID() string {
	var b [16]byte
	rand.Read(b[:])
	return fileIDs.EncodeToString(b[:])
}

// MustPutBlob stores data in b and returns its SHA-256.
func MustPutBlob(tb testing.TB, b store.Blobs, data []byte) string {
	tb.Helper()
	w, err := b.Create()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		tb.Fatal(err)
	}
	sum, n, err := w.Commit()
	if err != nil || n != int64(len(data)) {
		tb.Fatalf("commit: %d bytes, %v", n, err)
	}
	return sum
}

// MustUpload stores data and registers it as an upload of uploader to room.
func MustUpload(tb testing.TB, fs store.Files, room, uploader, name string, data []byte) store.File {
	tb.Helper()
	sum := MustPutBlob(tb, fs.Blobs(), data)
	f, err := fs.AddFile(context.Background(), store.File{ID: NewFileID(), Room: room, Name: name, Size: int64(len(data)),
		Type: "text/plain", SHA256: sum, Uploader: uploader}, store.Quota{})
	if err != nil {
		tb.Fatalf("add file: %v", err)
	}
	return f
}

func withFiles(room, author, text string, files ...store.File) store.Event {
	e := store.Event{Room: room, Type: store.TypeMessage, Author: author, Text: text}
	for _, f := range files {
		e.Files = append(e.Files, store.FileRef{ID: f.ID})
	}
	return e
}

func blobGone(b store.Blobs, sum string) bool {
	_, err := b.Stat(sum)
	return errors.Is(err, store.ErrNotFound)
}

// testAddFileNeedsItsObject: no record without its bytes stored first.
func testAddFileNeedsItsObject(t *testing.T, open FilesOpener) {
	l := open(t, Options{})
	ctx := context.Background()
	missing := store.File{ID: NewFileID(), Room: "a", Name: "x", Size: 3, Type: "text/plain",
		SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", Uploader: "alice"}
	if _, err := l.AddFile(ctx, missing, store.Quota{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("add without object: got %v, want ErrNotFound", err)
	}
	sum := MustPutBlob(t, l.Blobs(), []byte("foo"))
	bad := missing
	bad.SHA256, bad.Size = sum, 4
	if _, err := l.AddFile(ctx, bad, store.Quota{}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("add with wrong size: got %v, want ErrInvalid", err)
	}
	bad.Size, bad.ID = 3, "NOTANID"
	if _, err := l.AddFile(ctx, bad, store.Quota{}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("add with bad id: got %v, want ErrInvalid", err)
	}
	good := missing
	good.SHA256 = sum
	f, err := l.AddFile(ctx, good, store.Quota{})
	if err != nil || !f.Pending() || f.Time.IsZero() {
		t.Fatalf("add: got %+v, %v", f, err)
	}
	if _, err := l.AddFile(ctx, good, store.Quota{}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("add the same id twice: got %v, want ErrInvalid", err)
	}
	got, err := l.File(ctx, f.ID)
	if err != nil || got.SHA256 != sum || got.Name != "x" || got.Uploader != "alice" {
		t.Fatalf("File: got %+v, %v", got, err)
	}
	r, err := l.Blobs().Open(sum)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if b, _ := io.ReadAll(r); string(b) != "foo" {
		t.Fatalf("object: got %q", b)
	}
}

// testAttachRules: a message carries only its author's pending uploads of
// its room, each once, with their descriptors filled in.
func testAttachRules(t *testing.T, open FilesOpener) {
	l := open(t, Options{})
	ctx := context.Background()
	f := MustUpload(t, l, "a", "alice", "notes.txt", []byte("hello files"))
	for _, tc := range []struct {
		name string
		e    store.Event
	}{
		{"another author", withFiles("a", "bob", "x", f)},
		{"another room", withFiles("b", "alice", "x", f)},
		{"unknown id", withFiles("a", "alice", "x", store.File{ID: NewFileID()})},
	} {
		if _, _, err := l.Append(ctx, tc.e); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", tc.name, err)
		}
	}
	rec, created, err := l.Append(ctx, withFiles("a", "alice", "", f)) // files alone are a message
	if err != nil || !created {
		t.Fatalf("attach: %v", err)
	}
	e, _ := rec.Decode()
	if len(e.Files) != 1 || e.Files[0] != f.Ref() {
		t.Fatalf("stored files: got %+v, want %+v", e.Files, f.Ref())
	}
	msgs, _ := l.Messages(ctx, "a", store.Page{Limit: 10})
	if len(msgs) != 1 || !bytes.Contains(msgs[0].JSON, []byte(`"sha256":"`+f.SHA256+`"`)) {
		t.Fatalf("history: got %s", msgs)
	}
	got, err := l.File(ctx, f.ID)
	if err != nil || got.Message != rec.ID {
		t.Fatalf("attached: got %+v, %v", got, err)
	}
	if _, _, err := l.Append(ctx, withFiles("a", "alice", "again", f)); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("second message with the same file: got %v, want ErrInvalid", err)
	}
	if _, _, err := l.Append(ctx, store.Event{Room: "a", Type: store.TypeMessage, Author: "alice", Files: []store.FileRef{{ID: "nope"}}}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad id: got %v, want ErrInvalid", err)
	}
}

// testDeleteReleasesFiles: deleting a message releases its files; the
// bytes go with the last reference, and stay while another file holds the
// same content.
func testDeleteReleasesFiles(t *testing.T, open FilesOpener) {
	l := open(t, Options{})
	ctx := context.Background()
	content := []byte("shared content")
	f1 := MustUpload(t, l, "a", "alice", "one.txt", content)
	f2 := MustUpload(t, l, "b", "bob", "two.txt", content)
	thumb := MustPutBlob(t, l.Blobs(), []byte("a thumbnail"))
	if err := l.SetThumb(ctx, f1.ID, store.Thumb{SHA256: thumb, Type: "image/jpeg", Width: 1, Height: 1}); err != nil {
		t.Fatal(err)
	}
	m1, _, err := l.Append(ctx, withFiles("a", "alice", "first", f1))
	if err != nil {
		t.Fatal(err)
	}
	m2, _, err := l.Append(ctx, withFiles("b", "bob", "second", f2))
	if err != nil {
		t.Fatal(err)
	}
	del := func(room, author string, target store.Record) {
		if _, _, err := l.Append(ctx, store.Event{Room: room, Type: store.TypeDelete, Author: author, Target: target.ID}); err != nil {
			t.Fatal(err)
		}
	}
	del("a", "alice", m1)
	if _, err := l.File(ctx, f1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("file of a deleted message: got %v, want ErrNotFound", err)
	}
	waitUntil(t, "the thumbnail erased", func() bool { return blobGone(l.Blobs(), thumb) })
	if _, err := l.Blobs().Stat(f1.SHA256); err != nil {
		t.Fatalf("content another message holds: %v", err)
	}
	msgs, _ := l.Messages(ctx, "a", store.Page{Limit: 10})
	if bytes.Contains(msgs[0].JSON, []byte("one.txt")) {
		t.Fatalf("deleted message still names its file: %s", msgs[0].JSON)
	}
	del("b", "bob", m2)
	waitUntil(t, "the content erased", func() bool { return blobGone(l.Blobs(), f1.SHA256) })
}

// testCollectPendingUploads: uploads no message carried are collected;
// attached ones are not.
func testCollectPendingUploads(t *testing.T, open FilesOpener) {
	clock := NewClock(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	l := open(t, Options{Now: clock.Now})
	ctx := context.Background()
	kept := MustUpload(t, l, "a", "alice", "kept", []byte("kept"))
	if _, _, err := l.Append(ctx, withFiles("a", "alice", "x", kept)); err != nil {
		t.Fatal(err)
	}
	old := MustUpload(t, l, "a", "alice", "old", []byte("old upload"))
	clock.Add(time.Hour)
	young := MustUpload(t, l, "a", "alice", "young", []byte("young upload"))
	n, err := l.CollectFiles(ctx, clock.Now().Add(-30*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("collect: got %d, %v, want 1", n, err)
	}
	if _, err := l.File(ctx, old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old upload: got %v, want ErrNotFound", err)
	}
	for _, f := range []store.File{kept, young} {
		if _, err := l.File(ctx, f.ID); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
	}
	waitUntil(t, "the old upload's bytes erased", func() bool { return blobGone(l.Blobs(), old.SHA256) })
	if _, _, err := l.Append(ctx, withFiles("a", "alice", "late", old)); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("attach a collected upload: got %v, want ErrInvalid", err)
	}
}

// testFileQuotas: quotas bound what is charged; a release gives it back.
func testFileQuotas(t *testing.T, open FilesOpener) {
	l := open(t, Options{})
	ctx := context.Background()
	add := func(room, who string, data []byte, q store.Quota) (store.File, error) {
		sum := MustPutBlob(t, l.Blobs(), data)
		return l.AddFile(ctx, store.File{ID: NewFileID(), Room: room, Name: "f", Size: int64(len(data)), Type: "text/plain", SHA256: sum, Uploader: who}, q)
	}
	f, err := add("a", "alice", make([]byte, 60), store.Quota{User: 100})
	if err != nil {
		t.Fatal(err)
	}
	var qe *store.QuotaError
	if _, err := add("a", "alice", make([]byte, 50), store.Quota{User: 100}); !errors.As(err, &qe) || qe.Room || !errors.Is(err, store.ErrQuota) {
		t.Fatalf("over the user quota: got %v", err)
	}
	if _, err := add("a", "bob", make([]byte, 50), store.Quota{Room: 100}); !errors.As(err, &qe) || !qe.Room {
		t.Fatalf("over the room quota: got %v", err)
	}
	if u, err := l.FileUsage(ctx, "alice", "a"); err != nil || u.User != 60 || u.Room != 60 {
		t.Fatalf("usage: got %+v, %v", u, err)
	}
	rec, _, err := l.Append(ctx, withFiles("a", "alice", "x", f))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Append(ctx, store.Event{Room: "a", Type: store.TypeDelete, Author: "alice", Target: rec.ID}); err != nil {
		t.Fatal(err)
	}
	if u, _ := l.FileUsage(ctx, "alice", "a"); u.User != 0 || u.Room != 0 {
		t.Fatalf("usage after delete: got %+v, want none", u)
	}
	if _, err := add("a", "alice", make([]byte, 90), store.Quota{User: 100}); err != nil {
		t.Fatalf("within the quota again: %v", err)
	}
}

// testRetentionReleasesFiles: a message retention deletes releases its
// files like a delete.
func testRetentionReleasesFiles(t *testing.T, open FilesOpener) {
	l := open(t, Options{Retention: store.Retention{Events: 1}, PruneEvery: 10 * time.Millisecond})
	ctx := context.Background()
	f := MustUpload(t, l, "a", "alice", "doomed", []byte("pruned with its message"))
	if _, _, err := l.Append(ctx, withFiles("a", "alice", "x", f)); err != nil {
		t.Fatal(err)
	}
	MustAppend(t, l, "a", "alice", "newer")
	waitUntil(t, "the file released by retention", func() bool {
		_, err := l.File(ctx, f.ID)
		return errors.Is(err, store.ErrNotFound)
	})
	waitUntil(t, "its bytes erased", func() bool { return blobGone(l.Blobs(), f.SHA256) })
}

// testImportRegistersFiles: an import carries files whose bytes are in
// Blobs, ids kept; without the bytes the import fails whole.
func testImportRegistersFiles(t *testing.T, open FilesOpener) {
	src := open(t, Options{})
	ctx := context.Background()
	content := []byte("travels with history")
	f := MustUpload(t, src, "a", "alice", "t.txt", content)
	if _, _, err := src.Append(ctx, withFiles("a", "alice", "see file", f)); err != nil {
		t.Fatal(err)
	}
	recs, err := src.ReadAfter(ctx, []string{"a"}, [16]byte{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var export bytes.Buffer
	for _, r := range recs {
		export.Write(r.JSON)
		export.WriteByte('\n')
	}

	without := open(t, Options{})
	if _, err := without.Import(ctx, "a", bytes.NewReader(export.Bytes())); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("import without the bytes: got %v, want an ImportError", err)
	}
	if msgs, _ := without.Messages(ctx, "a", store.Page{Limit: 10}); len(msgs) != 0 {
		t.Fatalf("a failed import stored %d messages", len(msgs))
	}

	dst := open(t, Options{})
	MustPutBlob(t, dst.Blobs(), content)
	rep, err := dst.Import(ctx, "a", bytes.NewReader(export.Bytes()))
	if err != nil || rep.Imported != 1 {
		t.Fatalf("import: %+v, %v", rep, err)
	}
	got, err := dst.File(ctx, f.ID)
	if err != nil || got.SHA256 != f.SHA256 || got.Name != "t.txt" || got.Pending() {
		t.Fatalf("imported file: got %+v, %v", got, err)
	}
	again, _ := dst.ReadAfter(ctx, []string{"a"}, [16]byte{}, 10)
	if len(again) != 1 || !bytes.Equal(again[0].JSON, recs[0].JSON) {
		t.Fatalf("imported event: got %s, want %s", again, recs)
	}
	if rep, err := dst.Import(ctx, "a", bytes.NewReader(export.Bytes())); err != nil || rep.Skipped != 1 {
		t.Fatalf("import again: %+v, %v", rep, err)
	}
}

// testBackupFilesListsObjects: a backup lists every object its copy
// references, and each can be read while it runs, even if the message
// carrying it is deleted meanwhile.
func testBackupFilesListsObjects(t *testing.T, open FilesOpener) {
	l := open(t, Options{})
	ctx := context.Background()
	f := MustUpload(t, l, "a", "alice", "kept.txt", []byte("in the backup"))
	rec, _, err := l.Append(ctx, withFiles("a", "alice", "x", f))
	if err != nil {
		t.Fatal(err)
	}
	pending := MustUpload(t, l, "a", "alice", "pending.txt", []byte("pending too"))
	got := map[string][]byte{}
	deleted := make(chan error, 1)
	var buf bytes.Buffer
	_, err = l.BackupFiles(&buf, nil, func(sum string) error {
		if len(got) == 0 {
			go func() {
				_, _, err := l.Append(ctx, store.Event{Room: "a", Type: store.TypeDelete, Author: "alice", Target: rec.ID})
				deleted <- err
			}()
		}
		b, err := l.Blobs().Open(sum)
		if err != nil {
			return err
		}
		defer b.Close()
		got[sum], err = io.ReadAll(b)
		return err
	})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if string(got[f.SHA256]) != "in the backup" || string(got[pending.SHA256]) != "pending too" || len(got) != 2 {
		t.Fatalf("objects: got %d", len(got))
	}
	if buf.Len() == 0 {
		t.Fatal("no copy written")
	}
}
