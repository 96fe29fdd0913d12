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
// URL?rooms=a,b[&cursor=ID]; both stop at cleanup.
func mustServe(tb testing.TB, log Source, configure func(*Hub)) (*Hub, string) {
	tb.Helper()
	h := NewHub(log)
	if configure != nil {
		configure(h)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := Request{Rooms: strings.Split(r.URL.Query().Get("rooms"), ",")}
		if c := r.URL.Query().Get("cursor"); c != "" {
			req.Resume, req.Cursor = true, ulid.MustParse(c)
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

// expect reads events until it has len(want) of them or times out.
func expect(tb testing.TB, r *Reader, want []store.Record) {
	tb.Helper()
	got := make(chan error, 1)
	go func() {
		for i, w := range want {
			e, err := r.Next()
			if err != nil {
				got <- fmt.Errorf("event %d: %w", i, err)
				return
			}
			if e.ID != w.ID.String() || e.Type != w.Type || e.Data != string(w.JSON) {
				got <- fmt.Errorf("event %d: got %+v, want id %s data %s", i, e, w.ID, w.JSON)
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

// TestServeHandOffHasNoGapOrDuplicate opens streams at every cursor while a
// writer keeps appending: each must see exactly the log after its cursor.
func TestServeHandOffHasNoGapOrDuplicate(t *testing.T) {
	db, _, url := mustStartHub(t, func(h *Hub) { h.ReplayPage = 7 })
	first := appendN(t, db, "a", 50, "seed")
	var wg sync.WaitGroup
	writerDone := make(chan []store.Record)
	go func() { writerDone <- appendN(t, db, "a", 300, "during") }()
	for i := 0; i < 50; i += 5 {
		wg.Add(1)
		go func(cursor ulid.ULID) {
			defer wg.Done()
			r, stop := openStream(t, url+"?rooms=a&cursor="+cursor.String())
			defer stop()
			var last ulid.ULID = cursor
			for n := 0; ; n++ {
				e, err := r.Next()
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				id := ulid.MustParse(e.ID)
				if id.Compare(last) <= 0 {
					t.Errorf("id %s after %s: duplicate or out of order", id, last)
					return
				}
				last = id
				if strings.Contains(e.Data, `"during 299"`) {
					return
				}
			}
		}(first[i].ID)
	}
	all := append(first, <-writerDone...)
	wg.Wait()
	// Ordering alone does not prove no gap: count as well.
	r, stop := openStream(t, url+"?rooms=a&cursor="+first[0].ID.String())
	defer stop()
	expect(t, r, all[1:])
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

	fast, stop := openStream(t, url+"?rooms=a")
	defer stop()
	waitFor(t, func() bool { return h.Stats().Open == 2 })

	// Far more than the socket buffers and the subscriber's queue can hold.
	const n = 2000
	text := strings.Repeat("x", 15<<10)
	// The other subscriber reads as fast as it can. On a very loaded machine
	// even it may fall behind and be cut off: then, like any client, it
	// resumes with its last id, and must still see every event once.
	fastGot := make(chan []string, 1)
	go func() {
		var ids []string
		r := fast
		for len(ids) < n {
			e, err := r.Next()
			if err != nil {
				if len(ids) == 0 {
					break
				}
				var stopNext func()
				r, stopNext = openStream(t, url+"?rooms=a&cursor="+ids[len(ids)-1])
				defer stopNext()
				continue
			}
			ids = append(ids, e.ID)
		}
		fastGot <- ids
	}()
	done := make(chan []store.Record)
	go func() { done <- appendConcurrently(t, db, 4, "a", n, text) }()
	var recs []store.Record
	select {
	case recs = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("appends blocked behind a slow consumer")
	}
	var ids []string
	select {
	case ids = <-fastGot:
	case <-time.After(20 * time.Second):
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

	// The slow client's stream has been ended by the server: reading drains
	// what was in flight, then hits the end well before all n events.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
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
	if _, err := r.Next(); err != io.EOF {
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
	e, err := r.Next()
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
