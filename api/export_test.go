package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
)

// seed appends n messages to room through the log from 256 writers, so the
// group commit stores many per transaction.
func seed(tb testing.TB, s *testServer, room string, n int) {
	tb.Helper()
	var next atomic.Int64
	errs := make(chan error, 256)
	for w := 0; w < 256; w++ {
		go func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if _, _, err := s.db.Append(context.Background(), store.Event{Room: room, Type: store.TypeMessage, Author: "seed", Text: fmt.Sprint(i)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < 256; w++ {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
}

// testClock is a clock that stands still until set: the times of a fixture
// then depend only on the test, not on how often the store reads the clock.
type testClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *testClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time)     { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *testClock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// mustStartServerWith is mustStartServer with confDB applied to the store
// before Open and, if wrap is set, wrap's Log between the server and it.
func mustStartServerWith(tb testing.TB, confDB func(*bolt.DB), wrap func(store.Store) store.Store, configure ...func(*api.Server)) *testServer {
	tb.Helper()
	db := bolt.NewDB(filepath.Join(tb.TempDir(), "parley.db"))
	db.Logger = quietLogger()
	if confDB != nil {
		confDB(db)
	}
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	var log store.Store = db
	if wrap != nil {
		log = wrap(db)
	}
	srv := api.NewServer(log)
	srv.Addr, srv.Logger = "127.0.0.1:0", quietLogger()
	for _, f := range configure {
		f(srv)
	}
	if err := srv.Open(); err != nil {
		db.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close(); db.Close() })
	return &testServer{Server: srv, db: db}
}

func TestExportStreamsTheWholeLog(t *testing.T) {
	s := mustStartServer(t, func(s *api.Server) {
		s.Now = func() time.Time { return time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC) }
	})
	const n = 2500 // several read chunks
	seed(t, s, "big", n)
	seed(t, s, "other", 10)
	resp := s.do(t, "GET", "/api/rooms/big/export?format=jsonl", "", nil)
	if resp.status != http.StatusOK {
		t.Fatalf("got %d %s", resp.status, resp.body)
	}
	if got, want := resp.header.Get("Content-Disposition"), `attachment; filename="big-20261121.jsonl"`; got != want {
		t.Errorf("Content-Disposition: got %q, want %q", got, want)
	}
	lines := strings.Split(strings.TrimSuffix(string(resp.body), "\n"), "\n")
	recs, err := s.db.ReadAfter(context.Background(), []string{"big"}, ulid.ULID{}, n+1)
	if err != nil || len(recs) != n {
		t.Fatalf("log has %d, %v", len(recs), err)
	}
	if len(lines) != n {
		t.Fatalf("got %d lines, want %d", len(lines), n)
	}
	for i := range lines {
		if lines[i] != string(recs[i].JSON) {
			t.Fatalf("line %d: got %s, want %s", i, lines[i], recs[i].JSON)
		}
	}
	if plain := s.do(t, "GET", "/api/rooms/big/export", "", nil); string(plain.body) != string(resp.body) {
		t.Errorf("without ?format: got %d bytes, want the jsonl export's %d", len(plain.body), len(resp.body))
	}
	for path, want := range map[string]int{
		"/api/rooms/nope/export":              http.StatusNotFound,
		"/api/rooms/nope/export?since=1h":     http.StatusNotFound,
		"/api/rooms/Bad/export":               http.StatusBadRequest,
		"/api/rooms/big/export?format=docx":   http.StatusBadRequest,
		"/api/rooms/big/export?format=JSONL":  http.StatusBadRequest,
		"/api/rooms/nope/export?format=docx":  http.StatusBadRequest,
		"/api/rooms/nope/export?since=banana": http.StatusBadRequest,
	} {
		resp := s.do(t, "GET", path, "", nil)
		if resp.status != want {
			t.Errorf("%s: got %d, want %d", path, resp.status, want)
		}
		msg := resp.errorMessage(t)
		if strings.Contains(path, "docx") && !strings.Contains(msg, "jsonl, json, md, txt, html, csv") {
			t.Errorf("%s: got %q, want the formats listed", path, msg)
		}
	}
}

// TestExportMessagesInChunks reads the folded state over several chunks.
func TestExportMessagesInChunks(t *testing.T) {
	s := mustStartServer(t)
	const n = 2500
	seed(t, s, "big", n)
	for _, f := range []string{"json", "csv", "txt"} {
		resp := s.do(t, "GET", "/api/rooms/big/export?format="+f, "", nil)
		if resp.status != http.StatusOK {
			t.Fatalf("%s: got %d %s", f, resp.status, resp.body)
		}
		// One line per message in each of these (the csv header, the txt
		// intro and the json brackets make up for the blank lines).
		got := strings.Count(string(resp.body), "\n"+map[string]string{"json": `{"id":`, "csv": "0", "txt": "["}[f])
		if got != n {
			t.Errorf("%s: got %d messages, want %d", f, got, n)
		}
	}
}

// failingLog fails every ReadAfter after the first.
type failingLog struct {
	store.Store
	calls atomic.Int32
}

func (f *failingLog) ReadAfter(ctx context.Context, rooms []string, after ulid.ULID, limit int) ([]store.Record, error) {
	if f.calls.Add(1) > 1 {
		return nil, errors.New("disk on fire")
	}
	return f.Store.ReadAfter(ctx, rooms, after, limit)
}

// TestExportFailsVisibly: when the log fails after the headers are sent,
// the client must see a broken download, not a complete-looking file.
func TestExportFailsVisibly(t *testing.T) {
	fl := &failingLog{}
	s := mustStartServerWith(t, nil, func(l store.Store) store.Store { fl.Store = l; return fl })
	seed(t, s, "big", 2500)
	resp, err := http.Get(s.URL() + "/api/rooms/big/export")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || err == nil {
		t.Fatalf("got %d, %d bytes, err %v; want 200 and a read error", resp.StatusCode, len(b), err)
	}
}

func TestExportFilters(t *testing.T) {
	t1 := time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)
	t2, t3 := t1.Add(time.Minute), t1.Add(2*time.Minute)
	clock := &testClock{t: t1}
	s := mustStartServerWith(t, func(d *bolt.DB) { d.Now = clock.Now }, nil, func(s *api.Server) {
		s.Now = func() time.Time { return t1.Add(3 * time.Minute) }
	})
	// Three messages in each of three milliseconds.
	var ids []string
	for i := 0; i < 9; i++ {
		clock.Set(t1.Add(time.Duration(i/3) * time.Minute))
		ids = append(ids, s.post(t, "f", map[string]string{"author": "a", "text": fmt.Sprint(i)}, http.StatusCreated).ID.String())
	}
	rfc := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
	half := 500 * time.Microsecond
	for _, c := range []struct {
		since, until string
		want         string // texts, comma-separated
	}{
		{"", "", "0,1,2,3,4,5,6,7,8"},
		{ids[3], "", "4,5,6,7,8"},
		{"", ids[4], "0,1,2,3,4"},
		{ids[2], ids[5], "3,4,5"},
		{ids[4], ids[4], ""},
		{rfc(t2), "", "3,4,5,6,7,8"},
		{t2.In(time.FixedZone("", 2*3600)).Format(time.RFC3339), "", "3,4,5,6,7,8"},
		{"", rfc(t2), "0,1,2,3,4,5"},
		{rfc(t2), rfc(t2), "3,4,5"},
		{rfc(t2.Add(-half)), "", "3,4,5,6,7,8"},
		{rfc(t2.Add(half)), "", "6,7,8"},
		{"", rfc(t2.Add(half)), "0,1,2,3,4,5"},
		{"", rfc(t2.Add(-half)), "0,1,2"},
		{"90s", "", "6,7,8"},
		{"", "2m", "0,1,2,3,4,5"},
		{"1h", "1m30s", "0,1,2,3,4,5"},
		{"0s", "", ""},
		{ids[2], rfc(t2), "3,4,5"},
		{rfc(t3), ids[8], "6,7,8"},
	} {
		for _, f := range []string{"jsonl", "json"} {
			q := url.Values{"since": {c.since}, "until": {c.until}, "format": {f}}
			var got []store.Event
			resp := s.do(t, "GET", "/api/rooms/f/export?"+q.Encode(), "", nil)
			if resp.status != http.StatusOK {
				t.Fatalf("%s: got %d %s", q.Encode(), resp.status, resp.body)
			}
			for _, line := range strings.Split(string(resp.body), "\n") {
				if line = strings.TrimSuffix(line, ","); strings.HasPrefix(line, "{") {
					var e store.Event
					if err := e.UnmarshalJSON([]byte(line)); err != nil {
						t.Fatal(err)
					}
					got = append(got, e)
				}
			}
			if texts(got) != c.want {
				t.Errorf("since=%s until=%s format=%s: got %q, want %q", c.since, c.until, f, texts(got), c.want)
			}
		}
	}

	for _, c := range []struct{ since, until, want string }{
		{"yesterday", "", "since"},
		{"", "2026-13-01T00:00:00Z", "until"},
		{"2026-11-21", "", "since"},
		{"-1h", "", "negative"},
		{"1960-01-01T00:00:00Z", "", "out of range"},
		{"", "20000-01-01T00:00:00Z", "until"},
		{"01ARZ3NDEKTSV4RRFFQ69G5FA", "", "since"},
		{rfc(t3), rfc(t2), "after"},
		{rfc(t2.Add(half)), rfc(t2.Add(half - time.Microsecond)), "after"},
		{ids[5], ids[3], "after"},
		{ids[6], rfc(t2), "after"},
		{rfc(t2), ids[2], "after"},
		{"1m", "2m", "after"},
	} {
		q := url.Values{"since": {c.since}, "until": {c.until}}
		resp := s.do(t, "GET", "/api/rooms/f/export?"+q.Encode(), "", nil)
		if msg := resp.errorMessage(t); resp.status != http.StatusBadRequest || !strings.Contains(msg, c.want) {
			t.Errorf("%s: got %d %q, want 400 mentioning %q", q.Encode(), resp.status, msg, c.want)
		}
	}
}

// FuzzExportRange: whatever since and until hold, the answer is the export
// or a 400 that says why, never a 500.
func FuzzExportRange(f *testing.F) {
	s := mustStartServer(f)
	seed(f, s, "r", 10)
	for _, c := range [][2]string{{"24h", ""}, {"2026-11-21T20:00:00.0005+02:00", "1m"}, {"01ARZ3NDEKTSV4RRFFQ69G5FAV", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"}, {"-1h", "99999999h"}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, since, until string) {
		resp := s.do(t, "GET", "/api/rooms/r/export?"+url.Values{"since": {since}, "until": {until}}.Encode(), "", nil)
		if resp.status == http.StatusBadRequest {
			resp.errorMessage(t)
		} else if resp.status != http.StatusOK {
			t.Fatalf("since=%q until=%q: got %d %s", since, until, resp.status, resp.body)
		}
	})
}
