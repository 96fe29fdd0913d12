package bolt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/storetest"
)

// mustOpenDB opens a DB at path (a fresh temp file if empty), closed at cleanup.
func mustOpenDB(tb testing.TB, path string, configure ...func(*DB)) *DB {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), "parley.db")
	}
	d := NewDB(path)
	for _, f := range configure {
		f(d)
	}
	if err := d.Open(); err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

func mustAppend(tb testing.TB, d *DB, room, author, text string) store.Record {
	tb.Helper()
	rec, created, err := d.Append(context.Background(), store.Event{Room: room, Type: store.TypeMessage, Author: author, Text: text})
	if err != nil || !created {
		tb.Fatalf("append: created %v, err %v", created, err)
	}
	return rec
}

func TestIDsIncreaseAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	clock := storetest.NewClock(time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC))
	d := mustOpenDB(t, path, func(d *DB) { d.Now = clock.Now })
	var last ulid.ULID
	for i := 0; i < 5; i++ {
		last = mustAppend(t, d, "a", "x", "before restart").ID
	}
	d.Close()
	// After the restart the clock reads an hour earlier: ids must still grow.
	clock.Set(clock.Now().Add(-time.Hour))
	d = mustOpenDB(t, path, func(d *DB) { d.Now = clock.Now })
	if got, _ := d.LastID(); got != last {
		t.Fatalf("LastID after restart: got %s, want %s", got, last)
	}
	next := mustAppend(t, d, "b", "x", "after restart").ID
	if next.Compare(last) <= 0 {
		t.Fatalf("id after restart %s is not above %s", next, last)
	}
}

func TestIDGenEntropyOverflow(t *testing.T) {
	var g idGen
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_ = g.last.SetTime(ulid.Timestamp(now))
	_ = g.last.SetEntropy([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	before := g.last
	id, err := g.next(now)
	if err != nil {
		t.Fatal(err)
	}
	if id.Compare(before) <= 0 || id.Time() != before.Time()+1 {
		t.Fatalf("got %s (ms %d), want an id above %s in the next millisecond", id, id.Time(), before)
	}
}

// TestConcurrentAppendsAreGroupCommitted: concurrent appends share
// transactions (their order is a storetest contract).
func TestConcurrentAppendsAreGroupCommitted(t *testing.T) {
	d := mustOpenDB(t, "")
	const writers, each = 64, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				mustAppend(t, d, fmt.Sprintf("room%d", w%4), "w", fmt.Sprintf("%d-%d", w, i))
			}
		}(w)
	}
	wg.Wait()
	if n := d.commits.Load(); n >= writers*each {
		t.Errorf("got %d commits for %d appends, want group commits", n, writers*each)
	}
}

// TestConformance runs the contract every store.Log keeps.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB, opt storetest.Options) store.Store {
		return mustOpenDB(tb, "", func(d *DB) {
			if opt.MaxTextBytes > 0 {
				d.MaxTextBytes = opt.MaxTextBytes
			}
			if opt.Now != nil {
				d.Now = opt.Now
			}
			d.Retention = opt.Retention
			if opt.PruneEvery > 0 {
				d.PruneEvery = opt.PruneEvery
			}
		})
	})
}

// TestFilesConformance runs the contract of store.Files.
func TestFilesConformance(t *testing.T) {
	storetest.RunFiles(t, func(tb testing.TB, opt storetest.Options) storetest.FileStore {
		return mustOpenDB(tb, "", func(d *DB) {
			if opt.Now != nil {
				d.Now = opt.Now
			}
			d.Retention = opt.Retention
			if opt.PruneEvery > 0 {
				d.PruneEvery = opt.PruneEvery
			}
		})
	})
}

func TestClientIDsExpireAfterWindow(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	d := mustOpenDB(t, "", func(d *DB) { d.Now = clock.Now; d.DedupWindow = 24 * time.Hour })
	ctx := context.Background()
	e := store.Event{Room: "a", Type: store.TypeMessage, Author: "x", Text: "t", ClientID: "k"}
	if _, created, _ := d.Append(ctx, e); !created {
		t.Fatal("first append not created")
	}
	// Within the window: pruning keeps it.
	clock.Set(clock.Now().Add(23 * time.Hour))
	if n, err := d.pruneClientIDs(clock.Now().Add(-d.DedupWindow)); n != 0 || err != nil {
		t.Fatalf("pruned %d (%v) inside the window", n, err)
	}
	if _, created, _ := d.Append(ctx, e); created {
		t.Fatal("client id forgotten inside the window")
	}
	clock.Set(clock.Now().Add(2 * time.Hour))
	if n, err := d.pruneClientIDs(clock.Now().Add(-d.DedupWindow)); n != 1 || err != nil {
		t.Fatalf("pruned %d (%v), want 1", n, err)
	}
	if _, created, _ := d.Append(ctx, e); !created {
		t.Fatal("expired client id still deduplicates")
	}
}

func TestFailedCommitLeavesNoTrace(t *testing.T) {
	d := mustOpenDB(t, "")
	var published atomic.Int64
	d.Subscribe(func(recs []store.Record) { published.Add(int64(len(recs))) })
	first := mustAppend(t, d, "a", "x", "kept")

	d.beforeCommit = func(*bbolt.Tx) error { return errors.New("disk on fire") }
	if _, _, err := d.Append(context.Background(), store.Event{Room: "a", Type: store.TypeMessage, Author: "x", Text: "lost", ClientID: "c"}); err == nil {
		t.Fatal("append succeeded through a failed commit")
	}
	d.beforeCommit = nil // the writer is idle: no append in flight

	if last, _ := d.LastID(); last != first.ID {
		t.Fatalf("LastID after failed commit: got %s, want %s", last, first.ID)
	}
	next, created, err := d.Append(context.Background(), store.Event{Room: "a", Type: store.TypeMessage, Author: "x", Text: "retry", ClientID: "c"})
	if err != nil || !created {
		t.Fatalf("retry after failed commit: created=%v err=%v (client id must not have been kept)", created, err)
	}
	if next.ID.Compare(first.ID) <= 0 {
		t.Fatalf("id %s not above %s", next.ID, first.ID)
	}
	recs, _ := d.ReadAfter(context.Background(), []string{"a"}, ulid.ULID{}, 10)
	if len(recs) != 2 {
		t.Fatalf("got %d stored records, want 2", len(recs))
	}
	if n := published.Load(); n != 2 {
		t.Fatalf("published %d records, want 2", n)
	}
}

func TestSecondOpenFailsWithClearError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	mustOpenDB(t, path)
	d := NewDB(path)
	d.LockTimeout = 200 * time.Millisecond
	start := time.Now()
	err := d.Open()
	if err == nil {
		d.Close()
		t.Fatal("second open succeeded")
	}
	if !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("got %q, want a 'locked by another process' error", err)
	}
	if waited := time.Since(start); waited > 30*time.Second {
		t.Fatalf("second open took %v", waited)
	}
}

// TestSplicedEncodingMatchesMarshal: the writer's spliced JSON is byte for
// byte what MarshalJSON produces, escaping included.
func TestSplicedEncodingMatchesMarshal(t *testing.T) {
	id := ulid.MustParse("01M802EGKM2R908TN6558B93Q5")
	for _, e := range []store.Event{
		{Room: "a", Type: store.TypeMessage, Author: "alice", Text: "hello"},
		{Room: "a-b_c", Type: store.TypeMessage, Author: "Zoë 🎉", Text: "<script>&\"\\\n\r\t\u2028 é", ClientID: "x-1"},
		{Room: "a", Type: store.TypeMessage, Author: "bob", Text: "plain ASCII: ~!@#$%^*()_+{}|:?[];',./`\x7f\x00 \xff"},
	} {
		val, got := assemble(e.EncodeParts(), e.Type, id)
		e.ID, e.Time = id, time.UnixMilli(int64(id.Time()))
		want, err := e.MarshalJSON()
		if err != nil || string(got) != string(want) {
			t.Fatalf("got %s, want %s (%v)", got, want, err)
		}
		if string(val) != string(encodeValue(e.Type, want)) {
			t.Fatalf("stored value: got %q, want %q", val, encodeValue(e.Type, want))
		}
	}
}

// BenchmarkAppend measures fsynced appends per second through the group
// commit from 64 concurrent writers, without HTTP.
func BenchmarkAppend(b *testing.B) {
	d := mustOpenDB(b, "", func(d *DB) { d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) })
	var commits, events atomic.Int64
	d.ObserveCommits(func(n int, _ time.Duration) { commits.Add(1); events.Add(int64(n)) })
	b.ResetTimer()
	start := time.Now()
	seedRoom(b, d, "bench", b.N)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
	b.ReportMetric(float64(events.Load())/float64(max(1, commits.Load())), "events/commit")
}
