package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// testAppendStoresWireShape: the stored record is the wire shape, its time
// the id's, from the log's clock. The wall clock: a cluster log's ids are
// stamped by its servers, which a test cannot set.
func testAppendStoresWireShape(t *testing.T, open Opener) {
	l := open(t, Options{})
	before := time.Now().Truncate(time.Millisecond)
	rec, created, err := l.Append(context.Background(), store.Event{Room: "general", Type: store.TypeMessage, Author: "alice", Text: "hello", ClientID: "c1"})
	after := time.Now()
	if err != nil || !created {
		t.Fatalf("append: created %v, err %v", created, err)
	}
	at := time.UnixMilli(int64(rec.ID.Time())).UTC()
	if at.Before(before) || at.After(after) {
		t.Fatalf("id dated %s, want between %s and %s", at, before, after)
	}
	want := fmt.Sprintf(`{"id":"%s","room":"general","type":"message","author":"alice","text":"hello","time":"%s","client_id":"c1"}`, rec.ID, at.Format("2006-01-02T15:04:05.000Z"))
	if string(rec.JSON) != want {
		t.Fatalf("got %s, want %s", rec.JSON, want)
	}
	got, err := l.ReadAfter(context.Background(), []string{"general"}, ulid.ULID{}, 10)
	if err != nil || len(got) != 1 || string(got[0].JSON) != want || got[0].Type != store.TypeMessage || got[0].ID != rec.ID {
		t.Fatalf("read back: got %+v, %v", got, err)
	}
	e, err := got[0].Decode()
	if err != nil || e.Text != "hello" || !e.Time.Equal(at) {
		t.Fatalf("decode: got %+v, %v", e, err)
	}
}

func testIDsIncreaseWhenClockStepsBack(t *testing.T, open Opener) {
	clock := NewClock(time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC))
	l := open(t, Options{Now: clock.Now})
	var prev ulid.ULID
	for i, step := range []time.Duration{0, 0, time.Millisecond, -time.Second, -time.Hour, 0, 2 * time.Hour, -time.Millisecond} {
		clock.Set(clock.Now().Add(step))
		id := MustAppend(t, l, "a", "x", "tick").ID
		if id.Compare(prev) <= 0 {
			t.Fatalf("step %d: id %s not above %s", i, id, prev)
		}
		prev = id
	}
}

func testConcurrentAppendsHaveOneOrder(t *testing.T, open Opener) {
	l := open(t, Options{})
	var (
		mu        sync.Mutex
		published []store.Record
	)
	unsub := l.Subscribe(func(recs []store.Record) {
		mu.Lock()
		published = append(published, recs...)
		mu.Unlock()
	})
	defer unsub()

	const writers, each = 64, 50
	acked := make(chan store.Record, writers*each)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				acked <- MustAppend(t, l, fmt.Sprintf("room%d", w%4), "w", fmt.Sprintf("%d-%d", w, i))
			}
		}(w)
	}
	wg.Wait()
	close(acked)

	rooms := []string{"room0", "room1", "room2", "room3"}
	all, err := l.ReadAfter(context.Background(), rooms, ulid.ULID{}, 1_000_000)
	if err != nil || len(all) != writers*each {
		t.Fatalf("read %d, %v; want %d", len(all), err, writers*each)
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

func testClientIDDeduplicates(t *testing.T, open Opener) {
	l := open(t, Options{})
	ctx := context.Background()
	first, created, err := l.Append(ctx, store.Event{Room: "a", Type: store.TypeMessage, Author: "x", Text: "one", ClientID: "k1"})
	if err != nil || !created {
		t.Fatalf("first: %v %v", created, err)
	}
	again, created, err := l.Append(ctx, store.Event{Room: "a", Type: store.TypeMessage, Author: "x", Text: "changed", ClientID: "k1"})
	if err != nil || created || again.ID != first.ID || string(again.JSON) != string(first.JSON) {
		t.Fatalf("retry: got %s created=%v err=%v, want the original %s", again.JSON, created, err, first.JSON)
	}
	other, created, err := l.Append(ctx, store.Event{Room: "b", Type: store.TypeMessage, Author: "x", Text: "one", ClientID: "k1"})
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
			rec, _, err := l.Append(ctx, store.Event{Room: "c", Type: store.TypeMessage, Author: "x", Text: "dup", ClientID: "k2"})
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
	recs, _ := l.ReadAfter(ctx, []string{"c"}, ulid.ULID{}, 100)
	if len(ids) != 1 || len(recs) != 1 {
		t.Fatalf("got %d distinct ids and %d stored events, want 1 and 1", len(ids), len(recs))
	}
}

func testAppendRejectsBadEvents(t *testing.T, open Opener) {
	l := open(t, Options{MaxTextBytes: 10})
	ok := store.Event{Room: "general", Type: store.TypeMessage, Author: "alice", Text: "hi"}
	for _, tc := range []struct {
		name   string
		change func(*store.Event)
		want   error
	}{
		{"empty room", func(e *store.Event) { e.Room = "" }, store.ErrInvalid},
		{"upper-case room", func(e *store.Event) { e.Room = "General" }, store.ErrInvalid},
		{"room starting with dash", func(e *store.Event) { e.Room = "-a" }, store.ErrInvalid},
		{"room too long", func(e *store.Event) { e.Room = strings.Repeat("a", 65) }, store.ErrInvalid},
		{"unknown type", func(e *store.Event) { e.Type = "shout" }, store.ErrInvalid},
		{"missing author", func(e *store.Event) { e.Author = "" }, store.ErrInvalid},
		{"blank author", func(e *store.Event) { e.Author = "  " }, store.ErrInvalid},
		{"control char in author", func(e *store.Event) { e.Author = "al\x1bice" }, store.ErrInvalid},
		{"newline in author", func(e *store.Event) { e.Author = "al\nice" }, store.ErrInvalid},
		{"author too long", func(e *store.Event) { e.Author = strings.Repeat("é", 65) }, store.ErrInvalid},
		{"invalid utf-8 author", func(e *store.Event) { e.Author = "\xff" }, store.ErrInvalid},
		{"empty text", func(e *store.Event) { e.Text = "" }, store.ErrInvalid},
		{"blank text", func(e *store.Event) { e.Text = " \n " }, store.ErrInvalid},
		{"invalid utf-8 text", func(e *store.Event) { e.Text = "a\xc3" }, store.ErrInvalid},
		{"NUL in text", func(e *store.Event) { e.Text = "a\x00b" }, store.ErrInvalid},
		{"text too long", func(e *store.Event) { e.Text = strings.Repeat("a", 11) }, store.ErrTooLarge},
		{"client id with space", func(e *store.Event) { e.ClientID = "a b" }, store.ErrInvalid},
		{"client id too long", func(e *store.Event) { e.ClientID = strings.Repeat("a", 65) }, store.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ok
			tc.change(&e)
			if _, _, err := l.Append(context.Background(), e); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if rooms, _ := l.Rooms(context.Background()); len(rooms) != 0 {
		t.Fatalf("bad input stored something: %+v", rooms)
	}
	// Text with newlines, tabs and CR is fine, up to the limit exactly.
	if _, _, err := l.Append(context.Background(), store.Event{Room: "a", Type: store.TypeMessage, Author: "a", Text: "1\r\n2\t3\n45"}); err != nil {
		t.Fatalf("multi-line text at the limit: %v", err)
	}
}

// testSubscribedRecordsAreVisible: a record handed to a subscriber can
// already be read, so a stream that subscribes and then reads after its
// cursor never misses one.
func testSubscribedRecordsAreVisible(t *testing.T, open Opener) {
	l := open(t, Options{})
	var (
		mu        sync.Mutex
		handed    int
		invisible []string
	)
	unsub := l.Subscribe(func(recs []store.Record) {
		for _, rec := range recs {
			got, err := l.ReadAfter(context.Background(), []string{rec.Room}, prevID(rec.ID), 1)
			mu.Lock()
			handed++
			if err != nil || len(got) != 1 || got[0].ID != rec.ID {
				invisible = append(invisible, rec.ID.String())
			}
			mu.Unlock()
		}
	})
	defer unsub()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				MustAppend(t, l, fmt.Sprint("r", w%2), "w", fmt.Sprint(w, " ", i))
			}
		}(w)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if handed != 160 || len(invisible) > 0 {
		t.Fatalf("got %d records handed over, %d of them not yet readable (%v); want 160, all readable", handed, len(invisible), invisible)
	}
}

// prevID returns the id just below id.
func prevID(id ulid.ULID) ulid.ULID {
	for i := len(id) - 1; i >= 0; i-- {
		id[i]--
		if id[i] != 0xff {
			break
		}
	}
	return id
}

// testCloseIsIdempotent: Close may be called twice; afterwards every
// method fails with store.ErrClosed.
func testCloseIsIdempotent(t *testing.T, open Opener) {
	l := open(t, Options{})
	MustAppend(t, l, "a", "x", "y")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: got %v, want nil", err)
	}
	ctx := context.Background()
	if _, _, err := l.Append(ctx, store.Event{Room: "a", Type: store.TypeMessage, Author: "x", Text: "y"}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("append after close: got %v, want store.ErrClosed", err)
	}
	if _, err := l.ReadAfter(ctx, []string{"a"}, ulid.ULID{}, 10); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("read after close: got %v, want store.ErrClosed", err)
	}
	if err := l.Ping(ctx); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("ping after close: got %v, want store.ErrClosed", err)
	}
}

// testClientIDIsPerAuthor: a client id is scoped to its author. Carol
// posting with Bob's client id stores her message and never gets his event
// back.
func testClientIDIsPerAuthor(t *testing.T, open Opener) {
	l := open(t, Options{})
	ctx := context.Background()
	bob, created, err := l.Append(ctx, store.Event{Room: "a", Type: store.TypeMessage, Author: "bob", Text: "bob's", ClientID: "k1"})
	if err != nil || !created {
		t.Fatalf("bob: created %v, %v", created, err)
	}
	carol, created, err := l.Append(ctx, store.Event{Room: "a", Type: store.TypeMessage, Author: "carol", Text: "carol's", ClientID: "k1"})
	if err != nil || !created || carol.ID == bob.ID {
		t.Fatalf("carol with bob's client id: got %s created=%v err=%v, want her own message stored", carol.JSON, created, err)
	}
	again, created, err := l.Append(ctx, store.Event{Room: "a", Type: store.TypeMessage, Author: "carol", Text: "carol's", ClientID: "k1"})
	if err != nil || created || again.ID != carol.ID {
		t.Fatalf("carol's retry: got %s created=%v err=%v, want her original", again.JSON, created, err)
	}
}
