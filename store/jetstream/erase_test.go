package jetstream_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/jetstream"
	"github.com/parleychat/parley/store/jetstream/natstest"
)

// streamHas reports whether any file of stream on NATS server i contains s.
func streamHas(c *natstest.Cluster, i int, stream, s string) bool {
	found := false
	filepath.Walk(filepath.Join(c.StoreDir(i), "jetstream", "$G", "streams", stream), func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(s)) {
				found = true
			}
		}
		return nil
	})
	return found
}

// waitErased waits until no NATS server's files of stream hold s.
func waitErased(tb testing.TB, c *natstest.Cluster, stream, s string) {
	tb.Helper()
	for i := range 3 {
		waitUntil(tb, fmt.Sprintf("%s erased from NATS server %d's stream %s", s, i+1, stream), func() bool { return !streamHas(c, i, stream, s) })
	}
}

// dies is an afterGap hook that reports each sequence whose gap record
// was stored, then never removes it: the node is as good as dead from
// there on, and Close ends it.
func dies(recorded chan<- uint64) func(*jetstream.Log) {
	return func(l *jetstream.Log) {
		jetstream.SetAfterGap(l, func(ctx context.Context, seq uint64) error {
			select {
			case recorded <- seq:
			default:
			}
			<-ctx.Done()
			return ctx.Err()
		})
	}
}

// deleteAndDie posts a message with secret in its text and an edit with
// secret2 through l, deletes it through l, and waits until l has stored
// a gap record; l dies (is closed) there, before removing anything.
func deleteAndDie(t *testing.T, l *jetstream.Log, recorded <-chan uint64, secret, secret2 string) {
	t.Helper()
	ctx := context.Background()
	rec, _, err := l.Append(ctx, store.Event{Room: "r", Type: store.TypeMessage, Author: "x", Text: "the " + secret + " text"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Append(ctx, store.Event{Room: "r", Type: store.TypeEdit, Author: "x", Target: rec.ID, Text: "now " + secret2}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Append(ctx, store.Event{Room: "r", Type: store.TypeDelete, Author: "x", Target: rec.ID})
	}()
	select {
	case <-recorded:
	case <-time.After(2 * time.Minute):
		t.Fatal("the node never stored a gap record for the delete")
	}
	l.Close()
	<-done
}

// TestEraseOutlivesTheNodeThatTookTheDelete: the node that took a DELETE
// dies right after storing the first gap record, before removing anything
// from the stream; another node's eraser, working from the queue its own
// apply of the delete filled, erases the message and its edit from every
// NATS server's stream files, and a fresh node rebuilds the same history.
func TestEraseOutlivesTheNodeThatTookTheDelete(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	recorded := make(chan uint64, 8)
	a := openNode(t, c, prefix, "a", dies(recorded))
	release := make(chan struct{})
	b := openNode(t, c, prefix, "b", func(l *jetstream.Log) {
		// B's eraser waits until A is dead, so A's death is what it outlives.
		jetstream.SetAfterGap(l, func(ctx context.Context, seq uint64) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	})
	stamp := time.Now().UnixNano()
	secret, secret2 := fmt.Sprintf("SECRET-%d", stamp), fmt.Sprintf("EDITED-%d", stamp)
	deleteAndDie(t, a, recorded, secret, secret2)
	for _, s := range []string{secret, secret2} {
		if !streamHas(c, 0, prefix, s) {
			t.Fatalf("%s is not in the stream's files after the taking node died: the test does not test", s)
		}
	}
	close(release)
	waitErased(t, c, prefix, secret)
	waitErased(t, c, prefix, secret2)
	waitUntil(t, "B's erase queue is empty", func() bool {
		items, err := b.DB.EraseQueue(context.Background(), 0, 10)
		return err == nil && len(items) == 0
	})
	want := history(t, b, "r")
	fresh := openNode(t, c, prefix, "c", nil)
	sameHistory(t, want, history(t, fresh, "r"))
	for _, r := range want {
		if bytes.Contains(r.JSON, []byte(secret)) || bytes.Contains(r.JSON, []byte(secret2)) {
			t.Fatalf("the history still holds deleted text: %s", r.JSON)
		}
	}
}

// TestEraseQueueSurvivesRestart: a lone node dies after storing a gap
// record and before removing the message; restarted on its replica, it
// erases what its queue kept, though it applies nothing new.
func TestEraseQueueSurvivesRestart(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	path := filepath.Join(t.TempDir(), "a.db")
	recorded := make(chan uint64, 8)
	a := openNodeAt(t, c, prefix, "a", path, dies(recorded))
	stamp := time.Now().UnixNano()
	secret, secret2 := fmt.Sprintf("SECRET-%d", stamp), fmt.Sprintf("EDITED-%d", stamp)
	deleteAndDie(t, a, recorded, secret, secret2)
	if !streamHas(c, 0, prefix, secret) {
		t.Fatal("the text is not in the stream's files after the node died: the test does not test")
	}
	a2 := openNodeAt(t, c, prefix, "a", path, nil)
	waitErased(t, c, prefix, secret)
	waitErased(t, c, prefix, secret2)
	waitUntil(t, "the erase queue is empty", func() bool {
		items, err := a2.DB.EraseQueue(context.Background(), 0, 10)
		return err == nil && len(items) == 0
	})
}

// TestRetentionErasesFromTheStream: events a retention tick pruned from
// every replica are erased from the stream too, their gap records hold no
// text, what retention keeps stays, and a fresh node rebuilding from the
// stream derives the same history and horizon.
func TestRetentionErasesFromTheStream(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	set := func(l *jetstream.Log) {
		l.DB.Retention = store.Retention{Events: 3}
		l.TickEvery = 50 * time.Millisecond
	}
	a, b := openNode(t, c, prefix, "a", set), openNode(t, c, prefix, "b", set)
	stamp := time.Now().UnixNano()
	var markers []string
	ctx := context.Background()
	var first store.Record
	for i := range 8 {
		m := fmt.Sprintf("KEEP%d-%d", i, stamp)
		markers = append(markers, m)
		rec, _, err := a.Append(ctx, store.Event{Room: "r", Type: store.TypeMessage, Author: "x", Text: m})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = rec
		}
		if i == 1 {
			// A reaction to an older message, checked on a rebuild against
			// that message's gap record.
			if _, _, err := b.Append(ctx, store.Event{Room: "r", Type: store.TypeReaction, Author: "y", Target: first.ID, Emoji: "👍"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, n := range []*jetstream.Log{a, b} {
		waitUntil(t, "retention pruned to 3 events", func() bool { return len(history(t, n, "r")) == 3 })
	}
	for _, m := range markers[:5] { // m0, m1, the reaction, m2, m3, m4 pruned
		waitErased(t, c, prefix, m)
		for i := range 3 {
			if streamHas(c, i, prefix+"_GAPS", m) {
				t.Fatalf("a gap record on NATS server %d holds the text %s", i+1, m)
			}
		}
	}
	for _, m := range markers[5:] {
		if !streamHas(c, 0, prefix, m) {
			t.Fatalf("%s, which retention keeps, is not in the stream's files", m)
		}
	}
	want := history(t, a, "r")
	last := a.AppliedSeq()
	fresh := openNode(t, c, prefix, "c", set)
	waitUntil(t, "the fresh node applied as far as A", func() bool { return fresh.AppliedSeq() >= last })
	sameHistory(t, want, history(t, fresh, "r"))
	pa, _, err := a.Horizon(ctx, "r")
	pc, _, err2 := fresh.Horizon(ctx, "r")
	if err != nil || err2 != nil || pa != pc {
		t.Fatalf("horizons: %s and %s (%v, %v), want one", pa, pc, err, err2)
	}
}

// TestRebuildKeepsReactionsBeforeADelete: a reaction to a message before
// its delete was accepted; a node rebuilding from the stream meets the
// message as a gap and must accept that reaction too, so its gap record
// holds the message as it was applied (text dropped), not redacted.
func TestRebuildKeepsReactionsBeforeADelete(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	a := openNode(t, c, prefix, "a", nil)
	ctx := context.Background()
	rec, _, err := a.Append(ctx, store.Event{Room: "r", Type: store.TypeMessage, Author: "x", Text: "hello @y", ClientID: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Append(ctx, store.Event{Room: "r", Type: store.TypeReaction, Author: "y", Target: rec.ID, Emoji: "👍"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Append(ctx, store.Event{Room: "r", Type: store.TypeEdit, Author: "x", Target: rec.ID, Text: "hello again"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Append(ctx, store.Event{Room: "r", Type: store.TypeDelete, Author: "x", Target: rec.ID}); err != nil {
		t.Fatal(err)
	}
	want := history(t, a, "r")
	if len(want) != 4 {
		t.Fatalf("got %d records, want 4", len(want))
	}
	fresh := openNode(t, c, prefix, "c", nil)
	sameHistory(t, want, history(t, fresh, "r"))
	ma, err := a.Messages(ctx, "r", store.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	mc, err := fresh.Messages(ctx, "r", store.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	sameHistory(t, ma, mc)
}
