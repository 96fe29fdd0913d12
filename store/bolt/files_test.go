package bolt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/storetest"
)

// TestFilesDirectoryAtOpen: Open empties tmp/ (uploads a crash cut short)
// and the eraser finishes erasures a crash interrupted.
func TestFilesDirectoryAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	d := mustOpenDB(t, path)
	f := storetest.MustUpload(t, d, "a", "alice", "x", []byte("to be erased after a crash"))
	d.Close()
	// As a crash would leave them: a partial upload, and an object whose
	// last reference went with its erasure queued but not done.
	partial := filepath.Join(path+".files", "tmp", "up-123")
	if err := os.WriteFile(partial, []byte("half an upl"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		_, err := releaseFile(tx, f.ID)
		return err
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	d = mustOpenDB(t, path)
	if _, err := os.Stat(partial); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partial upload after Open: %v", err)
	}
	waitFor(t, "the interrupted erasure done", func() bool {
		_, err := d.Blobs().Stat(f.SHA256)
		s, _ := d.FileStats(context.Background())
		return errors.Is(err, store.ErrNotFound) && s.Erasing == 0 && s.Objects == 0
	})
}

// TestOrphansCollected: objects that no record references (written by an
// upload that never registered) are erased once older than OrphanAge;
// referenced ones stay.
func TestOrphansCollected(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	d := mustOpenDB(t, "", func(d *DB) { d.Now, d.OrphanAge, d.PruneEvery = clock.Now, time.Hour, 10*time.Millisecond })
	kept := storetest.MustUpload(t, d, "a", "alice", "kept", []byte("registered"))
	orphan := storetest.MustPutBlob(t, d.Blobs(), []byte("never registered"))
	clock.Add(2 * time.Hour) // both objects are now older than OrphanAge
	waitFor(t, "the orphan erased", func() bool {
		_, err := d.Blobs().Stat(orphan)
		return errors.Is(err, store.ErrNotFound)
	})
	if _, err := d.Blobs().Stat(kept.SHA256); err != nil {
		t.Fatalf("a registered object was collected: %v", err)
	}
}

// TestAddFileSharesTheAppendsCommit: an upload's registration is committed
// in the writer's transaction, with the appends queued beside it, and a
// registration refused there (over quota) fails alone.
func TestAddFileSharesTheAppendsCommit(t *testing.T) {
	var hold atomic.Bool
	hold.Store(true)
	entered, gate := make(chan struct{}), make(chan struct{})
	d := mustOpenDB(t, "", func(d *DB) {
		d.beforeCommit = func(*bbolt.Tx) error {
			if hold.CompareAndSwap(true, false) {
				close(entered)
				<-gate // the writer is busy: what follows queues up
			}
			return nil
		}
	})
	var release sync.Once
	open := func() { release.Do(func() { close(gate) }) }
	t.Cleanup(open) // before Close, which waits for the writer
	ctx := context.Background()
	msg := func(text string) store.Event {
		return store.Event{Room: "a", Type: store.TypeMessage, Author: "alice", Text: text}
	}
	errs := make(chan error, 4)
	go func() { _, _, err := d.Append(ctx, msg("held")); errs <- err }()
	<-entered
	// The writer's commits only: the pruner commits on its own too.
	var commits atomic.Int64
	d.ObserveCommits(func(int, time.Duration) { commits.Add(1) })
	fits, over := []byte("a file within the quota"), []byte("a file over the quota of one byte")
	fitsSum, overSum := storetest.MustPutBlob(t, d.Blobs(), fits), storetest.MustPutBlob(t, d.Blobs(), over)
	fitsID := storetest.NewFileID()
	add := func(id, sum string, size int, q store.Quota) error {
		_, err := d.AddFile(ctx, store.File{ID: id, Room: "a", Name: "f", Size: int64(size), Type: "text/plain", SHA256: sum, Uploader: "alice"}, q)
		return err
	}
	go func() { _, _, err := d.Append(ctx, msg("beside")); errs <- err }()
	go func() { errs <- add(fitsID, fitsSum, len(fits), store.Quota{}) }()
	overErr := make(chan error, 1)
	go func() { overErr <- add(storetest.NewFileID(), overSum, len(over), store.Quota{User: 1}) }()
	waitFor(t, "an append and two registrations queued", func() bool { return len(d.queue) == 3 })
	open()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("got %v, want the append or registration stored", err)
		}
	}
	var qe *store.QuotaError
	if err := <-overErr; !errors.As(err, &qe) {
		t.Fatalf("over quota: got %v, want a *store.QuotaError", err)
	}
	if got := commits.Load(); got != 2 {
		t.Errorf("got %d commits, want 2: the held one, then the appends and registrations together", got)
	}
	if _, err := d.File(ctx, fitsID); err != nil {
		t.Errorf("the registration within the quota: got %v, want it stored", err)
	}
	if u, _ := d.FileUsage(ctx, "alice", "a"); u.User != int64(len(fits)) {
		t.Errorf("got %d bytes charged, want %d: only the file within the quota", u.User, len(fits))
	}
}
