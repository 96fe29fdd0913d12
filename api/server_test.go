package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
	"github.com/parleychat/parley/stream"
)

// testServer is a real server on a loopback port over a real bbolt file.
type testServer struct {
	*api.Server
	db *bolt.DB
}

// mustStartServer starts a server on 127.0.0.1:0; configure may adjust it
// before Open. Both are closed at cleanup.
func mustStartServer(tb testing.TB, configure ...func(*api.Server)) *testServer {
	tb.Helper()
	db := bolt.NewDB(filepath.Join(tb.TempDir(), "parley.db"))
	db.Logger = quietLogger()
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	return mustStartServerOn(tb, db, configure...)
}

// mustStartServerOn is mustStartServer over an open db.
func mustStartServerOn(tb testing.TB, db *bolt.DB, configure ...func(*api.Server)) *testServer {
	tb.Helper()
	srv := api.NewServer(db)
	srv.Addr, srv.Logger = "127.0.0.1:0", quietLogger()
	srv.Files = db
	for _, f := range configure {
		f(srv)
	}
	if err := srv.Open(); err != nil {
		db.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		srv.Close()
		db.Close()
	})
	return &testServer{Server: srv, db: db}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// response is what a test request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorMessage returns the {"error":...} text, failing if the body is not that shape.
func (r response) errorMessage(tb testing.TB) string {
	tb.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		tb.Fatalf("body %q is not {\"error\":...}", r.body)
	}
	return e.Error
}

func (s *testServer) do(tb testing.TB, method, path, contentType string, body []byte, header ...string) response {
	tb.Helper()
	req, err := http.NewRequest(method, s.URL()+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// post sends a JSON message and returns the event, failing unless want is the status.
func (s *testServer) post(tb testing.TB, room string, msg map[string]string, want int) store.Event {
	tb.Helper()
	b, _ := json.Marshal(msg)
	resp := s.do(tb, http.MethodPost, "/api/rooms/"+room+"/messages", "application/json", b)
	if resp.status != want {
		tb.Fatalf("POST %s: got %d %s, want %d", room, resp.status, resp.body, want)
	}
	var e store.Event
	if err := json.Unmarshal(resp.body, &e); err != nil {
		tb.Fatalf("decode %s: %v", resp.body, err)
	}
	return e
}

// history reads a page of history, with header pairs for the caller.
func (s *testServer) history(tb testing.TB, path string, header ...string) []store.Event {
	tb.Helper()
	resp := s.do(tb, http.MethodGet, path, "", nil, header...)
	if resp.status != http.StatusOK {
		tb.Fatalf("GET %s: got %d %s", path, resp.status, resp.body)
	}
	var page struct {
		Events []store.Event `json:"events"`
	}
	if err := json.Unmarshal(resp.body, &page); err != nil {
		tb.Fatal(err)
	}
	return page.Events
}

// openStream opens an SSE stream and checks its headers.
func (s *testServer) openStream(tb testing.TB, path string, header ...string) (*stream.Reader, func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("GET %s: got %d %s", path, resp.StatusCode, b)
	}
	return stream.NewReader(resp.Body, 1<<20), func() { cancel(); resp.Body.Close() }
}

// nextLogged returns the next event of r that is history: a record, not a
// stream marker or an ephemeral event (those have no id of their own).
func nextLogged(r *stream.Reader) (stream.Event, error) {
	for {
		e, err := r.Next()
		if err != nil || !e.NoID {
			return e, err
		}
	}
}

// nextEvents reads n events within a deadline and decodes their data.
func nextEvents(tb testing.TB, r *stream.Reader, n int) []store.Event {
	tb.Helper()
	type result struct {
		evs []store.Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		var evs []store.Event
		for len(evs) < n {
			e, err := nextLogged(r)
			if err != nil {
				done <- result{evs, err}
				return
			}
			var ev store.Event
			if err := json.Unmarshal([]byte(e.Data), &ev); err != nil {
				done <- result{evs, err}
				return
			}
			if e.ID != ev.ID.String() || e.Type != ev.Type {
				tb.Errorf("frame id %s type %s, data id %s type %s", e.ID, e.Type, ev.ID, ev.Type)
			}
			evs = append(evs, ev)
		}
		done <- result{evs, nil}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			tb.Fatalf("after %d events: %v", len(res.evs), res.err)
		}
		return res.evs
	case <-time.After(time.Minute):
		tb.Fatalf("timed out waiting for %d events", n)
	}
	return nil
}

func texts(evs []store.Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Text)
	}
	return strings.Join(s, ",")
}

func TestHealthz(t *testing.T) {
	s := mustStartServer(t)
	if resp := s.do(t, http.MethodGet, "/healthz", "", nil); resp.status != http.StatusOK {
		t.Fatalf("got %d, want 200", resp.status)
	}
	s.db.Close()
	resp := s.do(t, http.MethodGet, "/healthz", "", nil)
	if resp.status != http.StatusServiceUnavailable {
		t.Fatalf("with the db closed: got %d, want 503", resp.status)
	}
	resp.errorMessage(t)
}

func TestCloseEndsStreamsAndIsIdempotent(t *testing.T) {
	// Were Close to wait for the open stream, it would wait this long.
	s := mustStartServer(t, func(s *api.Server) { s.ShutdownTimeout = time.Hour })
	r, stop := s.openStream(t, "/api/rooms/a/events")
	defer stop()
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	if _, err := nextLogged(r); err != io.EOF {
		t.Fatalf("stream after Close: got %v, want EOF", err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close waited for an open stream")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestOpenFailsOnBusyAddress(t *testing.T) {
	s := mustStartServer(t)
	db := bolt.NewDB(filepath.Join(t.TempDir(), "other.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other := api.NewServer(db)
	other.Addr = strings.TrimPrefix(s.URL(), "http://")
	if err := other.Open(); err == nil {
		other.Close()
		t.Fatal("second server opened on a busy address")
	}
	other.Close()
}

func TestUnknownPathIsJSON404(t *testing.T) {
	s := mustStartServer(t)
	resp := s.do(t, http.MethodGet, "/api/nope", "", nil)
	if resp.status != http.StatusNotFound {
		t.Fatalf("got %d", resp.status)
	}
	resp.errorMessage(t)
}

func TestRoomsList(t *testing.T) {
	s := mustStartServer(t)
	if resp := s.do(t, http.MethodGet, "/api/rooms", "", nil); string(resp.body) != "{\"rooms\":[]}\n" {
		t.Fatalf("empty: got %s", resp.body)
	}
	s.post(t, "b", map[string]string{"author": "x", "text": "1"}, 201)
	last := s.post(t, "b", map[string]string{"author": "x", "text": "2"}, 201)
	s.post(t, "a", map[string]string{"author": "x", "text": "3"}, 201)
	var got struct {
		Rooms []struct {
			Name   string `json:"name"`
			Events int    `json:"events"`
			LastID string `json:"last_id"`
		} `json:"rooms"`
	}
	json.Unmarshal(s.do(t, http.MethodGet, "/api/rooms", "", nil).body, &got)
	if len(got.Rooms) != 2 || got.Rooms[0].Name != "a" || got.Rooms[1].Name != "b" || got.Rooms[1].Events != 2 || got.Rooms[1].LastID != last.ID.String() {
		t.Fatalf("got %+v", got.Rooms)
	}
}

func TestWebClientHeaders(t *testing.T) {
	s := mustStartServer(t)
	for _, path := range []string{"/", "/r/general", "/assets/app.js", "/assets/style.css"} {
		resp := s.do(t, http.MethodGet, path, "", nil)
		if resp.status != http.StatusOK {
			t.Fatalf("GET %s: got %d", path, resp.status)
		}
		csp := resp.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: CSP allows inline code: %q", path, csp)
		}
		if resp.header.Get("X-Content-Type-Options") != "nosniff" || resp.header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: headers %v", path, resp.header)
		}
		etag := resp.header.Get("ETag")
		if etag == "" {
			t.Fatalf("GET %s: no ETag", path)
		}
		if again := s.do(t, http.MethodGet, path, "", nil, "If-None-Match", etag); again.status != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: got %d, want 304", path, again.status)
		}
	}
	if ct := s.do(t, http.MethodGet, "/assets/app.js", "", nil).header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("app.js Content-Type %q", ct)
	}
	if resp := s.do(t, http.MethodGet, "/assets/nope.js", "", nil); resp.status != http.StatusNotFound {
		t.Errorf("missing asset: got %d", resp.status)
	}
}
