package stream

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/storetest"
)

// serveInline runs Serve on the test's goroutine, where the fake's hooks
// run too, so what a hook does lands at an exact point of the stream. It
// fails tb if Serve panics, and returns what the client would have read.
func serveInline(tb testing.TB, h *Hub, ctx context.Context, req Request) (Result, []Event) {
	tb.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	res, err := func() (res Result, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("Serve panicked: %v", p)
			}
		}()
		return h.Serve(w, r, req)
	}()
	if err != nil {
		tb.Fatal(err)
	}
	return res, history(readAll(tb, w.Body.String()))
}

// resetEvent returns the reset a client receives: room lost events after
// requested, and oldest is the oldest it still has. A reset carries no id,
// so the reader reports the last id before it.
func resetEvent(lastID, room string, requested, oldest store.Record) Event {
	return Event{ID: lastID, Type: "reset", NoID: true, Data: fmt.Sprintf(`{"room":"%s","requested":"%s","oldest":"%s"}`, room, requested.ID, oldest.ID)}
}

// TestHubCloseMidCatchUp: the hub closes while a stream is catching up and
// its queue has overflowed. The stream must end cleanly with what it sent
// intact and no subscriber left behind. (It panicked: the re-subscribe
// failed, and the deferred unsubscribe dereferenced the nil it left.)
func TestHubCloseMidCatchUp(t *testing.T) {
	log := storetest.OpenFake(t)
	h := NewHub(log)
	h.BufferEvents = 1
	defer h.Close()
	seed := appendN(t, log, "a", 5, "seed")
	var once sync.Once
	log.SetHooks(storetest.Hooks{AfterRead: func(_ context.Context, _ storetest.Op, n int) {
		if n > 0 { // the first page is read: overflow the queue, then close
			once.Do(func() { appendN(t, log, "a", 3, "overflow"); h.Close() })
		}
	}})
	res, got := serveInline(t, h, context.Background(), Request{Rooms: []string{"a"}, Resume: true, Cursor: seed[0].ID})
	// The first page, then perhaps the next, read before the stream saw the
	// hub close: a prefix of the log, nothing twice.
	all, err := log.ReadAfter(context.Background(), []string{"a"}, seed[0].ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 4 || len(got) > len(all) || !slices.Equal(got, recordEvents(all[:len(got)]...)) {
		t.Fatalf("got %+v, want the first page and perhaps more of %+v", got, all)
	}
	if res.Replayed != len(got) || res.Reason != "server closing" {
		t.Fatalf("result: got %+v, want %d replayed and the server closing", res, len(got))
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if len(h.rooms) != 0 {
		t.Fatalf("subscribers left behind: %v", h.rooms)
	}
}

// TestPruneRacingReplayAlwaysResets places a prune exactly between two reads
// of a catch-up: before its first page (after the horizon check it once
// made apart), or between two pages. Whatever retention deleted after the
// stream's position must come as a reset, never as a silent gap.
func TestPruneRacingReplayAlwaysResets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cursor int  // index into room a's events
		keep   int  // retention of room a, applied by the prune
		before bool // prune before the first page, else after it
		// want builds the expected events from room a's and b's records.
		want func(a, b []store.Record) []Event
	}{
		{"before the first page", 1, 3, true, func(a, b []store.Record) []Event {
			return append([]Event{resetEvent("", "a", a[1], a[5])}, recordEvents(a[5], a[6], a[7], b[0], b[1])...)
		}},
		{"between two pages", 0, 2, false, func(a, b []store.Record) []Event {
			first := recordEvents(a[1], a[2], a[3])
			rest := recordEvents(a[6], a[7], b[0], b[1])
			return append(append(first, resetEvent(first[2].ID, "a", a[3], a[6])), rest...)
		}},
		{"of events before the cursor only", 5, 3, true, func(a, b []store.Record) []Event {
			return recordEvents(a[6], a[7], b[0], b[1])
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := storetest.OpenFake(t)
			h, url := mustServe(t, log, func(h *Hub) { h.ReplayPage = 3 })
			a := appendN(t, log, "a", 8, "a")
			b := appendN(t, log, "b", 2, "b")
			var once sync.Once
			prune := func() {
				once.Do(func() {
					log.SetRoomRetention(context.Background(), "a", &store.Retention{Events: tc.keep})
					if _, err := log.Prune(); err != nil {
						t.Error(err)
					}
				})
			}
			log.SetHooks(storetest.Hooks{
				BeforeRead: func(_ context.Context, op storetest.Op) error {
					// Not before Horizon: the prune must come after any
					// check of the horizon made in a snapshot of its own.
					if tc.before && op != storetest.OpHorizon {
						prune()
					}
					return nil
				},
				AfterRead: func(_ context.Context, _ storetest.Op, n int) {
					if !tc.before && n > 0 {
						prune()
					}
				},
			})
			r, stop := openStream(t, url+"?rooms=a,b&cursor="+a[tc.cursor].ID.String())
			defer stop()
			expectEvents(t, r, tc.want(a, b))
			waitFor(t, func() bool { return h.Stats().Open == 1 })
			expect(t, r, appendN(t, log, "a", 1, "live"))
		})
	}
}

// TestOneResetPerGap: a gap in one room is reported with every page read
// from before its end, which other rooms' events can fill; the client is
// told once.
func TestOneResetPerGap(t *testing.T) {
	log := storetest.OpenFake(t)
	_, url := mustServe(t, log, func(h *Hub) { h.ReplayPage = 3 })
	a := appendN(t, log, "a", 1, "a")
	b := appendN(t, log, "b", 6, "b") // between a[0] and what is pruned
	a = append(a, appendN(t, log, "a", 7, "a")...)
	log.SetRoomRetention(context.Background(), "a", &store.Retention{Events: 2})
	if _, err := log.Prune(); err != nil {
		t.Fatal(err)
	}
	r, stop := openStream(t, url+"?rooms=a,b&cursor="+a[0].ID.String())
	defer stop()
	want := append([]Event{resetEvent("", "a", a[0], a[6])}, recordEvents(append(b, a[6:]...)...)...)
	expectEvents(t, r, want)
	expect(t, r, appendN(t, log, "a", 1, "live"))
}

// TestOverflowDuringReplayCatchesUpFromTheLog: live events that overflow a
// stream's queue while it replays are not lost, not even when the queue
// overflows again right after it was re-armed: the stream reads them from
// the log, then goes live, and is not counted as a slow consumer.
func TestOverflowDuringReplayCatchesUpFromTheLog(t *testing.T) {
	log := storetest.OpenFake(t)
	h, url := mustServe(t, log, func(h *Hub) { h.BufferEvents, h.ReplayPage = 4, 5 })
	seed := appendN(t, log, "a", 20, "seed")
	var (
		mu                    sync.Mutex // guards the three below
		reads                 int
		afterShort, overflown bool
	)
	log.SetHooks(storetest.Hooks{AfterRead: func(_ context.Context, _ storetest.Op, n int) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case reads == 0: // during the first page
			appendN(t, log, "a", 10, "during the first page")
		case afterShort && !overflown: // the queue was just re-armed
			appendN(t, log, "a", 10, "after the queue was re-armed")
			overflown = true
		}
		afterShort = n < 5
		reads++
	}})
	r, stop := openStream(t, url+"?rooms=a&cursor="+seed[2].ID.String())
	defer stop()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return overflown })
	want, err := log.ReadAfter(context.Background(), []string{"a"}, seed[2].ID, 1000)
	if err != nil || len(want) != 37 {
		t.Fatalf("the log after the cursor: %d events, %v; want 37", len(want), err)
	}
	expect(t, r, want)
	expect(t, r, appendN(t, log, "a", 3, "live"))
	if st := h.Stats(); st.SlowConsumers != 0 || st.Open != 1 {
		t.Fatalf("stats: got %+v, want no slow consumer and the stream open", st)
	}
}

// TestCatchUpEndsWithItsRead: a read that fails ends the stream with the
// reason; a slow read ends promptly when the client leaves or the hub
// closes, without waiting for the read.
func TestCatchUpEndsWithItsRead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		during func(ctx context.Context, cancel func(), h *Hub) error // in the read
		reason string
	}{
		{"the read fails", func(context.Context, func(), *Hub) error { return errors.New("disk on fire") }, "replay: disk on fire"},
		{"the client leaves during a slow read", func(ctx context.Context, cancel func(), _ *Hub) error {
			cancel()
			return untilCancelled(ctx)
		}, "client gone"},
		{"the hub closes during a slow read", func(ctx context.Context, _ func(), h *Hub) error {
			h.Close()
			return untilCancelled(ctx)
		}, "server closing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := storetest.OpenFake(t)
			h := NewHub(log)
			defer h.Close()
			seed := appendN(t, log, "a", 3, "seed")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			log.SetHooks(storetest.Hooks{BeforeRead: func(rctx context.Context, op storetest.Op) error {
				if op == storetest.OpHorizon {
					return nil
				}
				return tc.during(rctx, cancel, h)
			}})
			res, got := serveInline(t, h, ctx, Request{Rooms: []string{"a"}, Resume: true, Cursor: seed[0].ID})
			if len(got) != 0 || res.Reason != tc.reason {
				t.Fatalf("got %+v and reason %q, want no event and %q", got, res.Reason, tc.reason)
			}
		})
	}
}

// untilCancelled is a read that takes until its context ends.
func untilCancelled(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Minute):
		return errors.New("the read was never cancelled")
	}
}
