package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
	"github.com/parleychat/parley/store/jetstream"
	"github.com/parleychat/parley/store/jetstream/natstest"
)

// TestNoEventTextIsErased: stream messages whose apply produced no event
// (an edit to the text the message has, an edit refused to another author,
// a reply refused in a room that did not exist) are erased from every NATS
// server's stream files, though nothing was deleted; every node queued
// them; and a node started empty afterwards, meeting them as gap records
// that say "none", rebuilds the same history and rooms, the no-op edit
// included after its message was deleted (checked against the message's
// text-less gap record, it would have produced an edit).
func TestNoEventTextIsErased(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	a := openNode(t, c, prefix, "a", nil)
	// B queues what A's changes leave, and never removes anything: its
	// queue shows what every node queued, and no erase by B can reach A's
	// changes before A applied them.
	b := openNode(t, c, prefix, "b", func(l *jetstream.Log) {
		jetstream.SetAfterGap(l, func(ctx context.Context, seq uint64) error {
			<-ctx.Done()
			return ctx.Err()
		})
	})
	ctx := context.Background()
	stamp := time.Now().UnixNano()
	noop, refused, reply := fmt.Sprintf("NOOP-%d", stamp), fmt.Sprintf("REFUSED-%d", stamp), fmt.Sprintf("REPLY-%d", stamp)

	rec, _, err := a.Append(ctx, store.Event{Room: "r", Type: store.TypeMessage, Author: "x", Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	edit := store.Event{Room: "r", Type: store.TypeEdit, Author: "x", Target: rec.ID, Text: "the " + noop + " text"}
	if _, created, err := a.Append(ctx, edit); err != nil || !created {
		t.Fatalf("edit: created %v, %v", created, err)
	}
	if _, created, err := a.Append(ctx, edit); err != nil || created {
		t.Fatalf("the same edit again: created %v, %v; want no event", created, err)
	}
	if _, _, err := a.Append(ctx, store.Event{Room: "r", Type: store.TypeEdit, Author: "y", Target: rec.ID, Text: refused}); !errors.Is(err, store.ErrForbidden) {
		t.Fatalf("edit by another author: got %v, want ErrForbidden", err)
	}
	if _, _, err := a.Append(ctx, store.Event{Room: "r2", Type: store.TypeMessage, Author: "x", ReplyTo: ulid.Make(), Text: reply}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("reply to no message: got %v, want ErrInvalid", err)
	}
	last := a.AppliedSeq()
	waitUntil(t, "B applied A's changes", func() bool { return b.AppliedSeq() >= last })
	items, err := b.DB.EraseQueue(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var queued []string
	for _, it := range items {
		if !it.NoEvent {
			t.Fatalf("B queued %+v before any delete", it)
		}
		queued = append(queued, fmt.Sprintf("%d:%s", it.Seq, it.Room))
	}
	if want := []string{fmt.Sprintf("%d:", last-2), fmt.Sprintf("%d:", last-1), fmt.Sprintf("%d:r2", last)}; !reflect.DeepEqual(queued, want) {
		t.Fatalf("B queued %v, want %v (the no-op edit, the refused edit, the refused reply creating r2)", queued, want)
	}

	if _, _, err := a.Append(ctx, store.Event{Room: "r", Type: store.TypeDelete, Author: "x", Target: rec.ID}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{noop, refused, reply} {
		waitErased(t, c, prefix, s)
	}
	waitUntil(t, "A's erase queue is empty", func() bool {
		items, err := a.DB.EraseQueue(ctx, 0, 10)
		return err == nil && len(items) == 0
	})

	want := history(t, a, "r", "r2")
	if len(want) != 3 {
		t.Fatalf("got %d records, want 3 (message, edit, delete)", len(want))
	}
	fresh := openNode(t, c, prefix, "c", nil)
	sameHistory(t, want, history(t, fresh, "r", "r2"))
	ra, err := a.Rooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := fresh.Rooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ra) != 2 || !reflect.DeepEqual(ra, rc) {
		t.Fatalf("rooms of the fresh node: got %+v, want %+v (r and r2)", rc, ra)
	}
}

// TestNoEventErasedBeforeItsMessage: a no-op edit whose erasure is held
// up is still removed from the stream before its message is, when the
// message is deleted: otherwise, for a while, a node rebuilding would
// meet the message as a text-less gap and then the edit with its text,
// and store an edit no other node has.
func TestNoEventErasedBeforeItsMessage(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	js := c.JetStream(t)
	var (
		calls      atomic.Int32
		msgSeq     atomic.Uint64
		editSeq    atomic.Uint64
		first      = make(chan uint64, 1)
		release    = make(chan struct{})
		mu         sync.Mutex // guards violation
		violation  error
		checkedMsg atomic.Bool
	)
	a := openNode(t, c, prefix, "a", func(l *jetstream.Log) {
		l.TickEvery = noTicks
		jetstream.SetAfterGap(l, func(ctx context.Context, seq uint64) error {
			if calls.Add(1) == 1 { // the eraser's first: the no-op edit, held
				first <- seq
				select {
				case <-release:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if seq != msgSeq.Load() {
				return nil
			}
			checkedMsg.Store(true)
			st, err := js.Stream(ctx, prefix)
			if err == nil {
				_, err = st.GetMsg(ctx, editSeq.Load())
			}
			if !errors.Is(err, njs.ErrMsgNotFound) {
				mu.Lock()
				violation = fmt.Errorf("the message's removal began while the no-op edit %d was in the stream (%v)", editSeq.Load(), err)
				mu.Unlock()
			}
			return nil
		})
	})
	ctx := context.Background()
	secret := fmt.Sprintf("NOOP-%d", time.Now().UnixNano())
	rec, _, err := a.Append(ctx, store.Event{Room: "r", Type: store.TypeMessage, Author: "x", Text: secret})
	if err != nil {
		t.Fatal(err)
	}
	seq, _ := bolt.SeqOf(rec.ID)
	msgSeq.Store(seq)
	if _, created, err := a.Append(ctx, store.Event{Room: "r", Type: store.TypeEdit, Author: "x", Target: rec.ID, Text: secret}); err != nil || created {
		t.Fatalf("edit to the same text: created %v, %v; want no event", created, err)
	}
	select {
	case s := <-first:
		editSeq.Store(s)
	case <-time.After(2 * time.Minute):
		t.Fatal("the eraser never took up the no-op edit")
	}
	if s := editSeq.Load(); s != seq+1 {
		t.Fatalf("the eraser's first sequence is %d, want the no-op edit's, %d", s, seq+1)
	}
	if _, _, err := a.Append(ctx, store.Event{Room: "r", Type: store.TypeDelete, Author: "x", Target: rec.ID}); err != nil {
		t.Fatal(err)
	}
	close(release)
	waitErased(t, c, prefix, secret)
	mu.Lock()
	defer mu.Unlock()
	if !checkedMsg.Load() {
		t.Fatal("the message's gap was never recorded: the test does not test")
	}
	if violation != nil {
		t.Fatal(violation)
	}
	want := history(t, a, "r")
	sameHistory(t, want, history(t, openNode(t, c, prefix, "c", nil), "r"))
}
