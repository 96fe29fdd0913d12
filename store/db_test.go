package store

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
	bolt "go.etcd.io/bbolt"
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

func mustAppend(tb testing.TB, d *DB, room, author, text string) Record {
	tb.Helper()
	rec, created, err := d.Append(context.Background(), Event{Room: room, Type: TypeMessage, Author: author, Text: text})
	if err != nil || !created {
		tb.Fatalf("append: created %v, err %v", created, err)
	}
	return rec
}

// fakeClock is a settable clock for id tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

func TestAppendStoresWireShape(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 21, 20, 0, 0, 123_000_000, time.UTC)}
	d := mustOpenDB(t, "", func(d *DB) { d.Now = clock.Now })
	rec, created, err := d.Append(context.Background(), Event{Room: "general", Type: TypeMessage, Author: "alice", Text: "hello", ClientID: "c1"})
	if err != nil || !created {
		t.Fatalf("append: created %v, err %v", created, err)
	}
	want := fmt.Sprintf(`{"id":"%s","room":"general","type":"message","author":"alice","text":"hello","time":"2026-11-21T20:00:00.123Z","client_id":"c1"}`, rec.ID)
	if string(rec.JSON) != want {
		t.Fatalf("got %s, want %s", rec.JSON, want)
	}
	got, err := d.ReadAfter(context.Background(), []string{"general"}, ulid.ULID{}, 10)
	if err != nil || len(got) != 1 || string(got[0].JSON) != want || got[0].Type != TypeMessage || got[0].ID != rec.ID {
		t.Fatalf("read back: got %+v, %v", got, err)
	}
	e, err := got[0].Decode()
	if err != nil || e.Text != "hello" || !e.Time.Equal(clock.Now()) {
		t.Fatalf("decode: got %+v, %v", e, err)
	}
}

func TestIDsIncreaseAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	clock := &fakeClock{now: time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)}
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

func TestIDsIncreaseWhenClockStepsBack(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)}
	d := mustOpenDB(t, "", func(d *DB) { d.Now = clock.Now })
	var prev ulid.ULID
	for i, step := range []time.Duration{0, 0, time.Millisecond, -time.Second, -time.Hour, 0, 2 * time.Hour, -time.Millisecond} {
		clock.Set(clock.Now().Add(step))
		id := mustAppend(t, d, "a", "x", "tick").ID
		if id.Compare(prev) <= 0 {
			t.Fatalf("step %d: id %s not above %s", i, id, prev)
		}
		prev = id
	}
}

func TestIDGenEntropyOverflow(t *testing.T) {
	var g idGen
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_ = g.last.SetTime(ulid.Timestamp(now))
	_ = g.last.SetEntropy([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	before := g.last
	id := g.next(now)
	if id.Compare(before) <= 0 || id.Time() != before.Time()+1 {
		t.Fatalf("got %s (ms %d), want an id above %s in the next millisecond", id, id.Time(), before)
	}
}

func TestConcurrentAppendsAreGroupCommittedInOrder(t *testing.T) {
	d := mustOpenDB(t, "")
	var (
		mu        sync.Mutex
		published []Record
	)
	unsub := d.Subscribe(func(recs []Record) {
		mu.Lock()
		published = append(published, recs...)
		mu.Unlock()
	})
	defer unsub()

	const writers, each = 64, 50
	acked := make(chan Record, writers*each)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				acked <- mustAppend(t, d, fmt.Sprintf("room%d", w%4), "w", fmt.Sprintf("%d-%d", w, i))
			}
		}(w)
	}
	wg.Wait()
	close(acked)

	rooms := []string{"room0", "room1", "room2", "room3"}
	all, err := d.ReadAfter(context.Background(), rooms, ulid.ULID{}, 1_000_000)
	if err != nil || len(all) != writers*each {
		t.Fatalf("read %d, %v; want %d", len(all), err, writers*each)
	}

	if n := d.commits.Load(); n >= writers*each {
		t.Errorf("got %d commits for %d appends, want group commits", n, writers*each)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(published) != writers*each {
		t.Fatalf("published %d records, want %d", len(published), writers*each)
	}
	seen := map[ulid.ULID]bool{}
	for i, r := range published {
		if i > 0 && r.ID.Compare(published[i-1].ID) <= 0 {
			t.Fatalf("publish order broken at %d: %s after %s", i, r.ID, published[i-1].ID)
		}
		seen[r.ID] = true
	}
	for r := range acked {
		if !seen[r.ID] {
			t.Fatalf("acknowledged %s was never published", r.ID)
		}
	}
	for i := range all {
		if all[i].ID != published[i].ID {
			t.Fatalf("read order differs from publish order at %d", i)
		}
	}
}

func TestClientIDDeduplicates(t *testing.T) {
	d := mustOpenDB(t, "")
	ctx := context.Background()
	first, created, err := d.Append(ctx, Event{Room: "a", Type: TypeMessage, Author: "x", Text: "one", ClientID: "k1"})
	if err != nil || !created {
		t.Fatalf("first: %v %v", created, err)
	}
	again, created, err := d.Append(ctx, Event{Room: "a", Type: TypeMessage, Author: "x", Text: "changed", ClientID: "k1"})
	if err != nil || created || again.ID != first.ID || string(again.JSON) != string(first.JSON) {
		t.Fatalf("retry: got %s created=%v err=%v, want the original %s", again.JSON, created, err, first.JSON)
	}
	other, created, err := d.Append(ctx, Event{Room: "b", Type: TypeMessage, Author: "x", Text: "one", ClientID: "k1"})
	if err != nil || !created || other.ID == first.ID {
		t.Fatalf("same client id in another room: created=%v err=%v", created, err)
	}

	// Many concurrent retries of one client id (likely in one batch) store one event.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[ulid.ULID]int{}
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, _, err := d.Append(ctx, Event{Room: "c", Type: TypeMessage, Author: "x", Text: "dup", ClientID: "k2"})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			ids[rec.ID]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	recs, _ := d.ReadAfter(ctx, []string{"c"}, ulid.ULID{}, 100)
	if len(ids) != 1 || len(recs) != 1 {
		t.Fatalf("got %d distinct ids and %d stored events, want 1 and 1", len(ids), len(recs))
	}
}

func TestClientIDsExpireAfterWindow(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	d := mustOpenDB(t, "", func(d *DB) { d.Now = clock.Now; d.DedupWindow = 24 * time.Hour })
	ctx := context.Background()
	e := Event{Room: "a", Type: TypeMessage, Author: "x", Text: "t", ClientID: "k"}
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

func TestAppendRejectsBadEvents(t *testing.T) {
	d := mustOpenDB(t, "", func(d *DB) { d.MaxTextBytes = 10 })
	ok := Event{Room: "general", Type: TypeMessage, Author: "alice", Text: "hi"}
	for _, tc := range []struct {
		name   string
		change func(*Event)
		want   error
	}{
		{"empty room", func(e *Event) { e.Room = "" }, ErrInvalid},
		{"upper-case room", func(e *Event) { e.Room = "General" }, ErrInvalid},
		{"room starting with dash", func(e *Event) { e.Room = "-a" }, ErrInvalid},
		{"room too long", func(e *Event) { e.Room = strings.Repeat("a", 65) }, ErrInvalid},
		{"unknown type", func(e *Event) { e.Type = "shout" }, ErrInvalid},
		{"missing author", func(e *Event) { e.Author = "" }, ErrInvalid},
		{"blank author", func(e *Event) { e.Author = "  " }, ErrInvalid},
		{"control char in author", func(e *Event) { e.Author = "al\x1bice" }, ErrInvalid},
		{"newline in author", func(e *Event) { e.Author = "al\nice" }, ErrInvalid},
		{"author too long", func(e *Event) { e.Author = strings.Repeat("é", 65) }, ErrInvalid},
		{"invalid utf-8 author", func(e *Event) { e.Author = "\xff" }, ErrInvalid},
		{"empty text", func(e *Event) { e.Text = "" }, ErrInvalid},
		{"blank text", func(e *Event) { e.Text = " \n " }, ErrInvalid},
		{"invalid utf-8 text", func(e *Event) { e.Text = "a\xc3" }, ErrInvalid},
		{"NUL in text", func(e *Event) { e.Text = "a\x00b" }, ErrInvalid},
		{"text too long", func(e *Event) { e.Text = strings.Repeat("a", 11) }, ErrTooLarge},
		{"client id with space", func(e *Event) { e.ClientID = "a b" }, ErrInvalid},
		{"client id too long", func(e *Event) { e.ClientID = strings.Repeat("a", 65) }, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ok
			tc.change(&e)
			if _, _, err := d.Append(context.Background(), e); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if rooms, _ := d.Rooms(context.Background()); len(rooms) != 0 {
		t.Fatalf("bad input stored something: %+v", rooms)
	}
	// Text with newlines, tabs and CR is fine, up to the limit exactly.
	if _, _, err := d.Append(context.Background(), Event{Room: "a", Type: TypeMessage, Author: "a", Text: "1\r\n2\t3\n45"}); err != nil {
		t.Fatalf("multi-line text at the limit: %v", err)
	}
}

func TestFailedCommitLeavesNoTrace(t *testing.T) {
	d := mustOpenDB(t, "")
	var published atomic.Int64
	d.Subscribe(func(recs []Record) { published.Add(int64(len(recs))) })
	first := mustAppend(t, d, "a", "x", "kept")

	d.beforeCommit = func(*bolt.Tx) error { return errors.New("disk on fire") }
	if _, _, err := d.Append(context.Background(), Event{Room: "a", Type: TypeMessage, Author: "x", Text: "lost", ClientID: "c"}); err == nil {
		t.Fatal("append succeeded through a failed commit")
	}
	d.beforeCommit = nil // the writer is idle: no append in flight

	if last, _ := d.LastID(); last != first.ID {
		t.Fatalf("LastID after failed commit: got %s, want %s", last, first.ID)
	}
	next, created, err := d.Append(context.Background(), Event{Room: "a", Type: TypeMessage, Author: "x", Text: "retry", ClientID: "c"})
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
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("second open took %v", waited)
	}
}

func TestCloseIsIdempotentAndStopsAppends(t *testing.T) {
	d := mustOpenDB(t, "")
	mustAppend(t, d, "a", "x", "y")
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, _, err := d.Append(context.Background(), Event{Room: "a", Type: TypeMessage, Author: "x", Text: "y"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: got %v, want ErrClosed", err)
	}
	if _, err := d.Rooms(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: got %v, want ErrClosed", err)
	}
}

// TestSplicedEncodingMatchesMarshal: the writer's spliced JSON is byte for
// byte what MarshalJSON produces, escaping included.
func TestSplicedEncodingMatchesMarshal(t *testing.T) {
	id := ulid.MustParse("01M802EGKM2R908TN6558B93Q5")
	for _, e := range []Event{
		{Room: "a", Type: TypeMessage, Author: "alice", Text: "hello"},
		{Room: "a-b_c", Type: TypeMessage, Author: "Zoë 🎉", Text: "<script>&\"\\\n\r\t\u2028 é", ClientID: "x-1"},
		{Room: "a", Type: TypeMessage, Author: "bob", Text: "plain ASCII: ~!@#$%^*()_+{}|:?[];',./`\x7f\x00 \xff"},
	} {
		val, got := e.encodeParts().assemble(e.Type, id)
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
	d.OnCommit = func(n int, _ time.Duration) { commits.Add(1); events.Add(int64(n)) }
	b.ResetTimer()
	start := time.Now()
	seedRoom(b, d, "bench", b.N)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
	b.ReportMetric(float64(events.Load())/float64(max(1, commits.Load())), "events/commit")
}
