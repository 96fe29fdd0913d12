package jetstream_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
	"github.com/parleychat/parley/store/jetstream"
	"github.com/parleychat/parley/store/jetstream/natstest"
)

// newFileID draws a file id as uploads do.
func newFileID() string {
	var b [16]byte
	rand.Read(b[:])
	return base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// upload stores content in l's cache and registers it as a file of room r
// by x named name, as the upload handler does.
func upload(tb testing.TB, l *jetstream.Log, name string, content []byte) store.File {
	tb.Helper()
	w, err := l.Blobs().Create()
	if err != nil {
		tb.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.Write(content); err != nil {
		tb.Fatal(err)
	}
	sum, size, err := w.Commit()
	if err != nil {
		tb.Fatal(err)
	}
	f, err := l.AddFile(context.Background(), store.File{ID: newFileID(), Room: "r", Name: name, Size: size,
		Type: "text/plain", SHA256: sum, Uploader: "x"}, store.Quota{})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// carry posts a message through l carrying f.
func carry(tb testing.TB, l *jetstream.Log, f store.File) store.Record {
	tb.Helper()
	rec, _, err := l.Append(context.Background(), store.Event{Room: "r", Type: store.TypeMessage, Author: "x", Text: "see",
		Files: []store.FileRef{{ID: f.ID}}})
	if err != nil {
		tb.Fatal(err)
	}
	return rec
}

// read returns the bytes l serves for content sum.
func read(l *jetstream.Log, sum string) ([]byte, error) {
	b, err := l.Blobs().Open(sum)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return io.ReadAll(b)
}

// cacheHas reports whether any file of l's cache directory holds s.
func cacheHas(l *jetstream.Log, s string) bool {
	found := false
	filepath.Walk(l.DB.Path+".files", func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(s)) {
				found = true
			}
		}
		return nil
	})
	return found
}

// TestFilesAcrossNodes: a file uploaded through node A is carried by a
// message posted through B and served by B (fetched from the object
// store), thumbnail included; the same content uploaded again is stored
// once; deleting one message keeps the content for the other; deleting
// the last erases the bytes from every NATS server's files and from every
// node's cache, and the names from the stream; a node started empty
// rebuilds the same records.
func TestFilesAcrossNodes(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	a, b := openNode(t, c, prefix, "a", nil), openNode(t, c, prefix, "b", nil)
	ctx := context.Background()
	marker := fmt.Sprintf("FILEBYTES-%d", time.Now().UnixNano())
	// Several chunks of the object store (128 KiB each), the marker in each.
	content := bytes.Repeat([]byte(marker+" "), 300<<10/len(marker))

	name1, name2 := "first-"+marker+".txt", "second-"+marker+".txt"
	f1 := upload(t, a, name1, content)
	m1 := carry(t, b, f1)
	got, err := b.File(ctx, f1.ID)
	if err != nil || got.Message != m1.ID || got.Name != name1 {
		t.Fatalf("B's record of the file: %+v %v, want carried by %s", got, err, m1.ID)
	}
	if cacheHas(b, marker) {
		t.Fatal("B has the bytes before it served them: the test does not test the fetch")
	}
	if data, err := read(b, f1.SHA256); err != nil || !bytes.Equal(data, content) {
		t.Fatalf("B serves %d bytes (%v), want the %d uploaded", len(data), err, len(content))
	}

	thumb := []byte("a thumbnail " + marker)
	w, _ := a.Blobs().Create()
	w.Write(thumb)
	tsum, _, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetThumb(ctx, f1.ID, store.Thumb{SHA256: tsum, Type: "image/png", Width: 1, Height: 1}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "B knows the thumbnail", func() bool { f, err := b.File(ctx, f1.ID); return err == nil && f.Thumb.SHA256 == tsum })
	if data, err := read(b, tsum); err != nil || !bytes.Equal(data, thumb) {
		t.Fatalf("B serves the thumbnail as %q (%v)", data, err)
	}

	f2 := upload(t, b, name2, content)
	m2 := carry(t, a, f2)
	owner1, _ := a.DB.ObjectOwner(f1.SHA256)
	if owner2, _ := b.DB.ObjectOwner(f2.SHA256); owner1 == "" || owner2 != owner1 {
		t.Fatalf("the same content is held by %q on A and %q on B, want one object", owner1, owner2)
	}

	if _, _, err := a.Append(ctx, store.Event{Room: "r", Type: store.TypeDelete, Author: "x", Target: m1.ID}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "B released the first file", func() bool { _, err := b.File(ctx, f1.ID); return errors.Is(err, store.ErrNotFound) })
	fresh := openNode(t, c, prefix, "c", nil)
	if data, err := read(fresh, f2.SHA256); err != nil || !bytes.Equal(data, content) {
		t.Fatalf("a fresh node serves the second file as %d bytes (%v), want the %d uploaded", len(data), err, len(content))
	}
	waitErased(t, c, "OBJ_"+prefix+"_files", "a thumbnail "+marker)
	waitErased(t, c, prefix, name1) // its registration
	waitUntil(t, "the name of the file still carried in server 1's stream (else the test does not test)", func() bool {
		return streamHas(c, 0, prefix, name2)
	})
	waitUntil(t, "the bytes of the content still carried in server 1's object store", func() bool {
		return streamHas(c, 0, "OBJ_"+prefix+"_files", marker)
	})

	if _, _, err := b.Append(ctx, store.Event{Room: "r", Type: store.TypeDelete, Author: "x", Target: m2.ID}); err != nil {
		t.Fatal(err)
	}
	waitErased(t, c, "OBJ_"+prefix+"_files", marker)
	waitErased(t, c, prefix, name2)
	for _, n := range []*jetstream.Log{a, b, fresh} {
		waitUntil(t, "the node's cache no longer holds the bytes", func() bool { return !cacheHas(n, marker) })
		if _, err := read(n, f2.SHA256); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the content is still served after its last message went: %v", err)
		}
	}
	rebuilt := openNode(t, c, prefix, "d", nil)
	sameHistory(t, history(t, a, "r"), history(t, rebuilt, "r"))
	for _, id := range []string{f1.ID, f2.ID} {
		if _, err := rebuilt.File(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the rebuilt node has file %s: %v", id, err)
		}
	}
	waitUntil(t, "the rebuilt node holds no file and erases nothing more", func() bool {
		s, err := rebuilt.FileStats(ctx)
		return err == nil && s == store.FileStats{}
	})
}

// TestCollectedUploadsAreErased: an upload no message carried, collected
// through one node, is gone from every node, its bytes from the object
// store and its name from the stream.
func TestCollectedUploadsAreErased(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	a, b := openNode(t, c, prefix, "a", nil), openNode(t, c, prefix, "b", nil)
	ctx := context.Background()
	marker := fmt.Sprintf("PENDING-%d", time.Now().UnixNano())
	f := upload(t, a, "name-"+marker+".txt", []byte("bytes "+marker))
	// A quorum acknowledged it; the third server may store it a moment later.
	waitUntil(t, "the upload in server 1's stream and object store (else the test does not test)", func() bool {
		return streamHas(c, 0, prefix, "name-"+marker) && streamHas(c, 0, "OBJ_"+prefix+"_files", "bytes "+marker)
	})
	n, err := b.CollectFiles(ctx, time.Now().Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("collect through B: %d, %v; want 1", n, err)
	}
	waitUntil(t, "A released the upload", func() bool { _, err := a.File(ctx, f.ID); return errors.Is(err, store.ErrNotFound) })
	waitErased(t, c, "OBJ_"+prefix+"_files", "bytes "+marker)
	waitErased(t, c, prefix, "name-"+marker)
	rebuilt := openNode(t, c, prefix, "c", nil)
	waitUntil(t, "the rebuilt node holds no file", func() bool {
		s, err := rebuilt.FileStats(ctx)
		return err == nil && s == store.FileStats{}
	})
}

// TestUnregisteredObjectsAreCollected: an object nothing registered (its
// node died between the put and the registration) is erased from the
// object store once older than OrphanAge; a registered one stays.
func TestUnregisteredObjectsAreCollected(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	a := openNode(t, c, prefix, "a", func(l *jetstream.Log) {
		l.DB.OrphanAge, l.TickEvery = 2*time.Second, 200*time.Millisecond
	})
	marker := fmt.Sprintf("ORPHAN-%d", time.Now().UnixNano())
	kept := upload(t, a, "kept.txt", []byte("kept "+marker)) // also makes the object store
	objs, err := c.JetStream(t).ObjectStore(context.Background(), prefix+"_files")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := objs.PutBytes(context.Background(), strings.Repeat("ab", 32)+"."+newFileID(), []byte("orphan "+marker)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the orphan in server 1's object store (else the test does not test)", func() bool {
		return streamHas(c, 0, "OBJ_"+prefix+"_files", "orphan "+marker)
	})
	waitErased(t, c, "OBJ_"+prefix+"_files", "orphan "+marker)
	if data, err := read(a, kept.SHA256); err != nil || string(data) != "kept "+marker {
		t.Fatalf("the registered file reads %q (%v)", data, err)
	}
	if !streamHas(c, 0, "OBJ_"+prefix+"_files", "kept "+marker) {
		t.Fatal("the registered file's object was collected")
	}
}

// TestRefusedRegistrationsAreErased: a file registration refused at apply
// (over the uploader's quota) is answered with the rule it broke, and the
// file's name, which the single node never stores for a refused upload,
// leaves the stream; a node started empty applies the gap record that
// stands for it to the same state: no file, nothing charged. It is the
// stream's last message and no tick follows it (a day apart): the new node
// applies the erased tail's gap without waiting for a next message.
func TestRefusedRegistrationsAreErased(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	noTicks := func(l *jetstream.Log) { l.TickEvery = 24 * time.Hour }
	a, b := openNode(t, c, prefix, "a", noTicks), openNode(t, c, prefix, "b", noTicks)
	ctx := context.Background()
	marker := fmt.Sprintf("REFUSED-%d", time.Now().UnixNano())
	w, err := a.Blobs().Create()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.Write([]byte("bytes " + marker)); err != nil {
		t.Fatal(err)
	}
	sum, size, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	from := a.AppliedSeq() + 1
	_, err = a.AddFile(ctx, store.File{ID: newFileID(), Room: "r", Name: "name-" + marker + ".txt", Size: size,
		Type: "text/plain", SHA256: sum, Uploader: "x"}, store.Quota{User: 1})
	var qe *store.QuotaError
	// Or the cluster erased it before A applied it, which is the same
	// refusal A can no longer name.
	if !errors.As(err, &qe) && !errors.Is(err, bolt.ErrOutcomeErased) {
		t.Fatalf("a registration over the quota: got %v, want a quota error", err)
	}
	to := a.AppliedSeq()
	s, err := c.JetStream(t).Stream(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "no message of the stream holds the refused file's name", func() bool {
		for seq := from; seq <= to; seq++ {
			m, err := s.GetMsg(ctx, seq)
			if err == nil && bytes.Contains(m.Data, []byte(marker)) || err != nil && !errors.Is(err, njs.ErrMsgNotFound) {
				return false
			}
		}
		return true
	})
	waitErased(t, c, prefix, "name-"+marker)
	rebuilt := openNode(t, c, prefix, "c", noTicks)
	for _, n := range []*jetstream.Log{a, b, rebuilt} {
		waitUntil(t, "the node applied the refusal", func() bool { return n.AppliedSeq() >= to })
		if st, err := n.FileStats(ctx); err != nil || st != (store.FileStats{}) {
			t.Fatalf("node %s after a refused registration: %+v, %v; want no file", n.Node, st, err)
		}
	}
}
