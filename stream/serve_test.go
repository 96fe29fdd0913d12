package stream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
	"github.com/parleychat/parley/store/storetest"
)

// mustStartHub starts a hub over a fresh log, served over loopback at
// URL?rooms=a,b[&cursor=ID].
func mustStartHub(tb testing.TB, configure func(*Hub)) (*bolt.DB, *Hub, string) {
	tb.Helper()
	db := bolt.NewDB(filepath.Join(tb.TempDir(), "parley.db"))
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	h, url := mustServe(tb, db, configure)
	return db, h, url
}

// mustOpenBolt opens a fresh bbolt log, closed at cleanup.
func mustOpenBolt(tb testing.TB) store.Log {
	tb.Helper()
	db := bolt.NewDB(filepath.Join(tb.TempDir(), "parley.db"))
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// mustServe starts a hub over log, served over loopback at
// URL?rooms=a,b[&cursor=ID][&who=NAME[&guest=1]][&connection=ID]; both
// stop at cleanup. A stream with a who belongs to the person "k:NAME".
func mustServe(tb testing.TB, log Source, configure func(*Hub)) (*Hub, string) {
	tb.Helper()
	h := NewHub(log)
	if configure != nil {
		configure(h)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		req := Request{Rooms: strings.Split(q.Get("rooms"), ","), Connection: q.Get("connection")}
		if c := q.Get("cursor"); c != "" {
			req.Resume, req.Cursor = true, ulid.MustParse(c)
		}
		if who := q.Get("who"); who != "" {
			req.Who = personOf(who, q.Get("guest") == "1")
		}
		if _, err := h.Serve(w, r, req); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	}))
	tb.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	return h, srv.URL
}

// personOf is the Who of streams opened with ?who=name.
func personOf(name string, guest bool) Who { return Who{Key: "k:" + name, Name: name, Guest: guest} }

func appendN(tb testing.TB, db store.Log, room string, n int, text string) []store.Record {
	tb.Helper()
	var recs []store.Record
	for i := 0; i < n; i++ {
		rec, _, err := db.Append(context.Background(), store.Event{Room: room, Type: store.TypeMessage, Author: "t", Text: fmt.Sprintf("%s %d", text, i)})
		if err != nil {
			tb.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// appendConcurrently appends n events from several writers, so they share
// commits, and returns them in id order.
func appendConcurrently(tb testing.TB, db store.Log, writers int, room string, n int, text string) []store.Record {
	var (
		mu   sync.Mutex
		recs []store.Record
		wg   sync.WaitGroup
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += writers {
				rec, _, err := db.Append(context.Background(), store.Event{Room: room, Type: store.TypeMessage, Author: "t", Text: fmt.Sprintf("%s %d", text, i)})
				if err != nil {
					tb.Error(err)
					return
				}
				mu.Lock()
				recs = append(recs, rec)
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	slices.SortFunc(recs, func(a, b store.Record) int { return a.ID.Compare(b.ID) })
	return recs
}

// openStream connects and returns a reader of the stream; stop ends it.
func openStream(tb testing.TB, url string) (r *Reader, stop func()) {
	tb.Helper()
	r, stop, err := dialStream(url)
	if err != nil {
		tb.Fatal(err)
	}
	return r, stop
}

// dialStream is openStream for goroutines other than the test's.
func dialStream(url string) (*Reader, func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	stop := func() { cancel(); resp.Body.Close() }
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		stop()
		return nil, nil, fmt.Errorf("got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return NewReader(resp.Body, 1<<20), stop, nil
}

// expect reads the events of want's records, or fails tb.
func expect(tb testing.TB, r *Reader, want []store.Record) {
	tb.Helper()
	expectEvents(tb, r, recordEvents(want...))
}

// recordEvents returns the events a client receives for recs.
func recordEvents(recs ...store.Record) []Event {
	out := make([]Event, len(recs))
	for i, r := range recs {
		out[i] = Event{ID: r.ID.String(), Type: r.Type, Data: string(r.JSON)}
	}
	return out
}

// markerOrEphemeral reports whether e is a stream marker other than a
// reset (hello, live) or an ephemeral event: what tests of history skip.
func markerOrEphemeral(e Event) bool { return e.NoID && e.Type != "reset" }

// history keeps the events of evs that tests of history look at: records
// and resets.
func history(evs []Event) []Event {
	return slices.DeleteFunc(evs, markerOrEphemeral)
}

// nextHistory returns the next record or reset of r.
func nextHistory(r *Reader) (Event, error) {
	for {
		e, err := r.Next()
		if err != nil || !markerOrEphemeral(e) {
			return e, err
		}
	}
}

// expectEvents reads len(want) records and resets, skipping markers and
// ephemeral events, and compares them with want, waiting up to a minute
// for them.
func expectEvents(tb testing.TB, r *Reader, want []Event) {
	tb.Helper()
	got := make(chan error, 1)
	go func() {
		for i, w := range want {
			e, err := nextHistory(r)
			if err != nil {
				got <- fmt.Errorf("event %d: %w", i, err)
				return
			}
			if e != w {
				got <- fmt.Errorf("event %d: got %+v, want %+v", i, e, w)
				return
			}
		}
		got <- nil
	}()
	select {
	case err := <-got:
		if err != nil {
			tb.Fatal(err)
		}
	case <-time.After(time.Minute):
		tb.Fatalf("timed out waiting for %d events", len(want))
	}
}

func TestServeReplaysThenGoesLive(t *testing.T) {
	db, h, url := mustStartHub(t, nil)
	before := appendN(t, db, "a", 5, "old")
	appendN(t, db, "other", 3, "not mine")
	r, stop := openStream(t, url+"?rooms=a&cursor="+before[1].ID.String())
	defer stop()
	expect(t, r, before[2:])
	waitFor(t, func() bool { return h.Stats().Open == 1 })
	live := appendN(t, db, "a", 3, "new")
	expect(t, r, live)
	if r.Retry != 2000 {
		t.Errorf("retry: got %d, want 2000", r.Retry)
	}
}

func TestServeWithoutCursorIsLiveOnly(t *testing.T) {
	db, h, url := mustStartHub(t, nil)
	appendN(t, db, "a", 3, "old")
	r, stop := openStream(t, url+"?rooms=a")
	defer stop()
	waitFor(t, func() bool { return h.Stats().Open == 1 })
	live := appendN(t, db, "a", 2, "new")
	expect(t, r, live)
}

// TestLiveDeliveryPacedOrNot: however the wake-ups are paced, every live
// stream gets each commit's events once, in order, under concurrent appends.
func TestLiveDeliveryPacedOrNot(t *testing.T) {
	for _, every := range []time.Duration{0, 10 * time.Millisecond, 200 * time.Millisecond} {
		t.Run(every.String(), func(t *testing.T) {
			db, h, url := mustStartHub(t, func(h *Hub) { h.FlushInterval = every })
			r1, stop1 := openStream(t, url+"?rooms=a")
			defer stop1()
			r2, stop2 := openStream(t, url+"?rooms=b,a")
			defer stop2()
			waitFor(t, func() bool { return h.Stats().Open == 2 })
			recs := appendConcurrently(t, db, 8, "a", 300, "live")
			expect(t, r1, recs)
			expect(t, r2, recs)
			// So is an event after a quiet spell.
			more := appendN(t, db, "a", 1, "after")
			expect(t, r1, more)
			expect(t, r2, more)
		})
	}
}

// TestServeHandOffHasNoGapOrDuplicate opens streams at several cursors
// while the log grows: each must receive exactly the log's ids after its
// cursor, up to a final event appended once every stream is live: no gap,
// no duplicate. With the real log a writer races the streams. With the
// fake, an event is appended right after the snapshot of every replay read,
// so every hand-off meets one: a stream that registered only after its
// replay would miss the one after its last read, and one that did not skip
// what it already replayed would send the others twice.
func TestServeHandOffHasNoGapOrDuplicate(t *testing.T) {
	const page = 7
	var fake *storetest.Fake // the second case's log
	for _, tc := range []struct {
		name string
		open func(testing.TB) store.Log
		// grow makes the log grow while n streams catch up, and returns a
		// channel closed when the final event may be appended.
		grow func(t *testing.T, log store.Log, n int) <-chan struct{}
	}{
		{"real log, a writer racing", mustOpenBolt, func(t *testing.T, log store.Log, _ int) <-chan struct{} {
			live := make(chan struct{})
			go func() { appendN(t, log, "a", 300, "during"); close(live) }()
			return live
		}},
		{"fake log, an append after every replay read", func(tb testing.TB) store.Log { fake = storetest.OpenFake(tb); return fake },
			func(t *testing.T, log store.Log, n int) <-chan struct{} {
				live := make(chan struct{})
				var mu sync.Mutex
				short := 0
				fake.SetHooks(storetest.Hooks{AfterRead: func(_ context.Context, op storetest.Op, got int) {
					if op != storetest.OpReadReplay {
						return
					}
					appendN(t, log, "a", 1, "after a read")
					mu.Lock()
					defer mu.Unlock()
					// A short page is a stream's last read before it goes live.
					if got < page {
						if short++; short == n {
							close(live)
						}
					}
				}})
				return live
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := tc.open(t)
			_, url := mustServe(t, log, func(h *Hub) { h.ReplayPage = page })
			seed := appendN(t, log, "a", 50, "seed")
			var cursors []ulid.ULID
			for i := 0; i < len(seed); i += 10 {
				cursors = append(cursors, seed[i].ID)
			}
			live := tc.grow(t, log, len(cursors))
			type result struct {
				ids []string
				err error
			}
			got := make([]chan result, len(cursors))
			for i, c := range cursors {
				got[i] = make(chan result, 1)
				go func() {
					ids, err := readIDsUntil(url+"?rooms=a&cursor="+c.String(), `"text":"end 0"`)
					got[i] <- result{ids, err}
				}()
			}
			select {
			case <-live:
			case <-time.After(time.Minute):
				t.Fatal("the streams never all went live")
			}
			appendN(t, log, "a", 1, "end")
			for i, c := range cursors {
				want, err := log.ReadAfter(context.Background(), []string{"a"}, c, 100_000)
				if err != nil {
					t.Fatal(err)
				}
				res := <-got[i]
				if err := sameIDs(res.ids, want); err != nil || res.err != nil {
					t.Errorf("stream from %s: %v (read: %v)", c, err, res.err)
				}
			}
		})
	}
}

// readIDsUntil opens a stream and returns the ids it receives up to and
// including the first event whose data contains last; if that does not come
// within a minute, it returns what came and an error.
func readIDsUntil(url, last string) ([]string, error) {
	r, stop, err := dialStream(url)
	if err != nil {
		return nil, err
	}
	defer stop()
	timer := time.AfterFunc(time.Minute, stop)
	defer timer.Stop()
	var ids []string
	for {
		e, err := nextHistory(r)
		if err != nil {
			return ids, fmt.Errorf("after %d events: %w", len(ids), err)
		}
		ids = append(ids, e.ID)
		if strings.Contains(e.Data, last) {
			return ids, nil
		}
	}
}

// sameIDs says where got differs from the ids of want.
func sameIDs(got []string, want []store.Record) error {
	for i := range max(len(got), len(want)) {
		switch {
		case i == len(got):
			return fmt.Errorf("got %d events, want %d: the first missing is %s", len(got), len(want), want[i].ID)
		case i == len(want):
			return fmt.Errorf("got %d events, want %d: the first extra is %s", len(got), len(want), got[i])
		case got[i] != want[i].ID.String():
			return fmt.Errorf("event %d: got %s, want %s (a gap or a duplicate)", i, got[i], want[i].ID)
		}
	}
	return nil
}

func TestSlowConsumerIsCutOffWithoutBlockingOthers(t *testing.T) {
	db, h, url := mustStartHub(t, func(h *Hub) { h.BufferEvents, h.BufferBytes = 200, 2<<20 })

	// A client that sends its request and then reads nothing.
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /?rooms=a HTTP/1.1\r\nHost: x\r\n\r\n")

	// The other subscriber reads as fast as it can, from the start of the
	// log. On a very loaded machine even it may fall behind and be cut off:
	// then, like any client, it resumes with its last id, and must still
	// see every event once.
	cursor := ulid.ULID{}.String()
	fast, stop := openStream(t, url+"?rooms=a&cursor="+cursor)
	defer stop()
	waitFor(t, func() bool { return h.Stats().Open == 2 })

	// Far more than the socket buffers and the subscriber's queue can hold.
	const n = 2000
	text := strings.Repeat("x", 15<<10)
	fastGot := make(chan []string, 1)
	go func() {
		var ids []string
		for r := fast; len(ids) < n; {
			e, err := nextHistory(r)
			if err == nil {
				ids, cursor = append(ids, e.ID), e.ID
				continue
			}
			var stop func()
			if r, stop, err = dialStream(url + "?rooms=a&cursor=" + cursor); err != nil {
				break
			}
			defer stop()
		}
		fastGot <- ids
	}()
	done := make(chan []store.Record)
	go func() { done <- appendConcurrently(t, db, 4, "a", n, text) }()
	var recs []store.Record
	select {
	case recs = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("appends blocked behind a slow consumer")
	}
	var ids []string
	select {
	case ids = <-fastGot:
	case <-time.After(time.Minute):
		t.Fatalf("fast consumer stuck; hub has %d streams", h.Stats().Open)
	}
	if len(ids) != n {
		t.Fatalf("fast consumer got %d events, want %d", len(ids), n)
	}
	for i := range ids {
		if ids[i] != recs[i].ID.String() {
			t.Fatalf("fast consumer event %d: got %s, want %s", i, ids[i], recs[i].ID)
		}
	}

	// The slow client's stream has been ended by the server, by its queue
	// bound or, on a loaded machine, by the write timeout first: reading
	// drains what was in flight, then hits the end well before all n
	// events. Either way it counts as a slow consumer.
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	got := strings.Count(readToEOF(t, conn), "\nevent: message\n")
	if got >= n {
		t.Fatalf("slow consumer got all %d events; want it cut off", got)
	}
	waitFor(t, func() bool { return h.Stats().Open == 1 })
	if st := h.Stats(); st.SlowConsumers < 1 || st.Open != 1 || st.Opened < 2 {
		t.Fatalf("stats: got %+v, want a slow consumer and 1 stream open", st)
	}
}

// TestClientThatStopsReadingIsASlowConsumer: a client that accepts nothing
// for WriteTimeout is cut off and counted as a slow consumer, even though
// its queue never overflowed.
func TestClientThatStopsReadingIsASlowConsumer(t *testing.T) {
	log := storetest.OpenFake(t)
	h, url := mustServe(t, log, func(h *Hub) {
		h.BufferEvents, h.BufferBytes, h.WriteTimeout = 1<<20, 1<<30, 300*time.Millisecond
	})
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /?rooms=a HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, func() bool { return h.Stats().Open == 1 })
	// Append until the socket buffers are full and the write times out.
	text := strings.Repeat("x", 15<<10)
	waitFor(t, func() bool {
		appendN(t, log, "a", 20, text)
		return h.Stats().Open == 0
	})
	if st := h.Stats(); st.SlowConsumers != 1 {
		t.Fatalf("stats: got %+v, want one slow consumer", st)
	}
}

// readToEOF reads a chunked HTTP response until the server ends it.
func readToEOF(t *testing.T, conn net.Conn) string {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Cut off by the queue bound, the stream ends cleanly; cut off by the
	// write timeout (a slow machine), the connection is closed mid-chunk.
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("slow consumer's stream did not end: %v", err)
	}
	return string(b)
}

func TestHubCloseEndsStreams(t *testing.T) {
	_, h, url := mustStartHub(t, nil)
	r, stop := openStream(t, url+"?rooms=a")
	defer stop()
	waitFor(t, func() bool { return h.Stats().Open == 1 })
	h.Close()
	if _, err := nextHistory(r); err != io.EOF {
		t.Fatalf("got %v, want the stream to end", err)
	}
	resp, err := http.Get(url + "?rooms=a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after close: got %d, want 503", resp.StatusCode)
	}
}

func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestResetWhenRetentionDeletedWhatWasAsked: a cursor older than what
// retention kept gets a reset first, then what remains, then live events.
func TestResetWhenRetentionDeletedWhatWasAsked(t *testing.T) {
	db := bolt.NewDB(filepath.Join(t.TempDir(), "parley.db"))
	db.Retention, db.PruneEvery = store.Retention{Events: 3}, 10*time.Millisecond
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := NewHub(db)
	defer h.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Serve(w, r, Request{Rooms: []string{"a"}, Resume: true, Cursor: ulid.MustParse(r.URL.Query().Get("cursor"))})
	}))
	defer srv.Close()

	recs := appendN(t, db, "a", 8, "m")
	waitFor(t, func() bool {
		pruned, _, _ := db.Horizon(context.Background(), "a")
		return pruned == recs[4].ID
	})
	r, stop := openStream(t, srv.URL+"?cursor="+recs[1].ID.String())
	defer stop()
	e, err := nextHistory(r)
	if err != nil || e.Type != "reset" {
		t.Fatalf("first event: %+v %v, want a reset", e, err)
	}
	want := fmt.Sprintf(`{"room":"a","requested":"%s","oldest":"%s"}`, recs[1].ID, recs[5].ID)
	if e.Data != want {
		t.Fatalf("reset: got %s, want %s", e.Data, want)
	}
	expect(t, r, recs[5:])
	waitFor(t, func() bool { return h.Stats().Open == 1 })
	expect(t, r, appendN(t, db, "a", 1, "live"))

	// A cursor inside what is kept gets no reset.
	r2, stop2 := openStream(t, srv.URL+"?cursor="+recs[5].ID.String())
	defer stop2()
	expect(t, r2, recs[6:])
}
