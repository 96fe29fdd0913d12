package bolt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
