package api_test

import (
	"bytes"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/blobdir"
	"github.com/parleychat/parley/store/bolt"
)

// gatedBlobs holds every Commit (the fsync, rename and directory fsync of
// an object) until the test opens the gate.
type gatedBlobs struct {
	store.Blobs
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedBlobs) Create() (store.BlobWriter, error) {
	w, err := g.Blobs.Create()
	return &gatedWriter{BlobWriter: w, g: g}, err
}

type gatedWriter struct {
	store.BlobWriter
	g *gatedBlobs
}

func (w *gatedWriter) Commit() (string, int64, error) {
	w.g.entered <- struct{}{}
	<-w.g.gate
	return w.BlobWriter.Commit()
}

// TestUploadRegisteredOnlyAfterCommit: while an upload's bytes are being
// made durable, the upload has no record and no answer; once they are, it
// has both. (A SIGKILL cannot show a missing fsync: the page cache
// outlives the process. This holds the commit where the promise lives.)
func TestUploadRegisteredOnlyAfterCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	dir, err := blobdir.Open(path + ".files")
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedBlobs{Blobs: dir, entered: make(chan struct{}), gate: make(chan struct{})}
	db := bolt.NewDB(path)
	db.Logger, db.BlobStore = quietLogger(), g
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	s := mustStartServerOn(t, db)
	answered := make(chan int, 1)
	go func() {
		resp, err := http.Post(s.URL()+"/api/rooms/general/files?name=a.txt&author=ann", "text/plain", bytes.NewReader([]byte("held")))
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	select {
	case <-g.entered:
	case <-time.After(time.Minute):
		t.Fatal("the upload never reached Commit")
	}
	st, err := db.FileStats(t.Context())
	if err != nil || st.Files != 0 {
		t.Fatalf("records while the bytes are not durable: %+v %v", st, err)
	}
	select {
	case code := <-answered:
		t.Fatalf("answered %d before the bytes were durable", code)
	default:
	}
	close(g.gate)
	if code := <-answered; code != http.StatusCreated {
		t.Fatalf("after the commit: got %d, want 201", code)
	}
	if st, _ := db.FileStats(t.Context()); st.Files != 1 {
		t.Fatalf("records after the commit: %+v", st)
	}
}
