package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/store"
)

// deleteSecrets appends n messages with secret texts, churns the pages they
// live on so stale copies exist, and deletes them; every delete must be
// acknowledged.
func deleteSecrets(tb testing.TB, d *DB, n int) {
	tb.Helper()
	var ids []store.Record
	for i := 0; i < n; i++ {
		ids = append(ids, mustAppend(tb, d, "a", "alice", fmt.Sprintf("secret %d xyzzy", i)))
		mustAppend(tb, d, "a", "bob", fmt.Sprint("chatter ", i))
	}
	for _, m := range ids {
		if _, created, err := appendEvent(tb, d, store.Event{Room: "a", Type: store.TypeDelete, Author: "alice", Target: m.ID}); err != nil || !created {
			tb.Fatalf("delete: created %v, %v", created, err)
		}
	}
}

// fileHas reports whether the bytes of the db file contain s.
func fileHas(tb testing.TB, d *DB, s string) bool {
	tb.Helper()
	b, err := os.ReadFile(d.Path)
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Contains(b, []byte(s))
}

// waitFor polls cond for up to a minute.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("still waiting after a minute for %s", what)
		}
	}
}

// TestScrubFailureIsCountedLoggedAndRetried: a failed scrub never fails the
// delete, is counted and logged, and is retried until it succeeds.
func TestScrubFailureIsCountedLoggedAndRetried(t *testing.T) {
	var logged syncBuffer
	d := mustOpenDB(t, "", func(d *DB) {
		d.Logger = slog.New(slog.NewTextHandler(&logged, nil))
		d.PruneEvery = 20 * time.Millisecond // the retry interval
	})
	fault := errors.New("disk said no")
	d.scrubs.fault.Store(&fault)
	deleteSecrets(t, d, 3)
	waitFor(t, "a failed scrub", func() bool { return d.Stats().ScrubFailures > 0 })
	if st := d.Stats(); st.ScrubPending != 3 || st.ScrubPasses != 0 {
		t.Fatalf("after a failed scrub: %+v, want 3 pending", st)
	}
	if got := logged.String(); !strings.Contains(got, "scrub deleted text") || !strings.Contains(got, "disk said no") {
		t.Fatalf("the failure was not logged: %q", got)
	}
	d.scrubs.fault.Store(nil)
	waitScrubbed(t, d)
	if fileHas(t, d, "xyzzy") {
		t.Fatal("the deleted text survived the retried scrub")
	}
}

// TestScrubResumesAfterRestart: scrub work queued by deletes survives a
// restart (it is queued in the deletes' own transactions) and is done after
// Open.
func TestScrubResumesAfterRestart(t *testing.T) {
	d := mustOpenDB(t, "")
	fault := errors.New("not now")
	d.scrubs.fault.Store(&fault)
	deleteSecrets(t, d, 3)
	waitFor(t, "a failed scrub", func() bool { return d.Stats().ScrubFailures > 0 })
	if !fileHas(t, d, "xyzzy") {
		t.Fatal("test is void: no stale copy of the deleted text was left")
	}
	d.Close()
	d = mustOpenDB(t, d.Path)
	waitScrubbed(t, d)
	if fileHas(t, d, "xyzzy") {
		t.Fatal("the deleted text survived the restart")
	}
}

// TestScrubCoalescesDeletes: deletes made while a reader holds old pages
// are acknowledged at once and scrubbed together once it ends, by one
// worker in at most two passes, not one read of the file each.
func TestScrubCoalescesDeletes(t *testing.T) {
	d := mustOpenDB(t, "")
	mustAppend(t, d, "a", "x", "before the backup")
	started, release := make(chan struct{}), make(chan struct{})
	backup := make(chan error, 1)
	go func() {
		_, err := d.Backup(writerFunc(func(p []byte) (int, error) {
			select {
			case <-started:
			default:
				close(started)
				<-release
			}
			return len(p), nil
		}), nil)
		backup <- err
	}()
	<-started
	deleteSecrets(t, d, 20)
	if st := d.Stats(); st.ScrubPasses != 0 || st.ScrubPending != 20 {
		t.Fatalf("with a reader holding old pages: %+v, want 20 pending, no pass", st)
	}
	close(release)
	if err := <-backup; err != nil {
		t.Fatal(err)
	}
	waitScrubbed(t, d)
	if st := d.Stats(); st.ScrubPasses > 2 || st.ScrubFailures != 0 {
		t.Fatalf("got %+v, want 20 deletes scrubbed in at most 2 passes", st)
	}
	if fileHas(t, d, "xyzzy") {
		t.Fatal("the deleted text survived")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }
