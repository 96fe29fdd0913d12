package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/parleychat/parley/store"
)

// blockingWriter blocks its first Write until released.
type blockingWriter struct {
	started, release chan struct{}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	select {
	case <-w.started:
	default:
		close(w.started)
		<-w.release
	}
	return len(p), nil
}

// testDeleteDoesNotWaitForReaders: a delete is acknowledged once
// committed, even while a long read (a backup) that began before it is
// still open; erasing old copies happens in the background, and Stats shows
// it finish without failures.
func testDeleteDoesNotWaitForReaders(t *testing.T, open Opener) {
	l := open(t, Options{})
	msg := MustAppend(t, l, "a", "alice", "secret")
	w := &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
	backup := make(chan error, 1)
	go func() { _, err := l.Backup(w, nil); backup <- err }()
	select {
	case <-w.started:
	case err := <-backup:
		t.Fatalf("backup ended before writing: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("backup did not start writing in a minute")
	}
	deleted := make(chan error, 1)
	go func() {
		_, created, err := appendEvent(l, store.Event{Room: "a", Type: store.TypeDelete, Author: "alice", Target: msg.ID})
		if err == nil && !created {
			err = context.Canceled // only to fail: the delete stored nothing
		}
		deleted <- err
	}()
	select {
	case err := <-deleted:
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
	case <-time.After(time.Minute):
		close(w.release)
		t.Fatal("the delete waited for a backup that began before it")
	}
	close(w.release)
	if err := <-backup; err != nil {
		t.Fatalf("backup: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for st := l.Stats(); st.ScrubPending > 0; st = l.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("background erasing still pending after a minute: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := l.Stats(); st.ScrubFailures != 0 {
		t.Fatalf("got %+v, want no failures", st)
	}
}
