package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/stream"
)

// liveStream reads a stream's events on its own goroutine, so a test can
// wait for them with a deadline.
type liveStream struct {
	events chan stream.Event
	stop   func()
	hello  struct {
		Rooms      []string `json:"rooms"`
		Connection string   `json:"connection"`
		You        *struct {
			Name  string `json:"name"`
			Guest bool   `json:"guest"`
		} `json:"you"`
	}
}

// openLive opens a stream and reads its hello.
func (s *testServer) openLive(tb testing.TB, path string, header ...string) *liveStream {
	tb.Helper()
	r, stop := s.openStream(tb, path, header...)
	tb.Cleanup(stop)
	l := &liveStream{events: make(chan stream.Event, 1<<12), stop: stop}
	go func() {
		defer close(l.events)
		for {
			e, err := r.Next()
			if err != nil {
				return
			}
			l.events <- e
		}
	}()
	h := l.next(tb)
	if h.Type != "hello" || json.Unmarshal([]byte(h.Data), &l.hello) != nil {
		tb.Fatalf("first event: got %+v, want a hello", h)
	}
	return l
}

// next returns the next event, waiting up to a minute.
func (l *liveStream) next(tb testing.TB) stream.Event {
	tb.Helper()
	select {
	case e, ok := <-l.events:
		if !ok {
			tb.Fatal("the stream ended")
		}
		return e
	case <-time.After(time.Minute):
		tb.Fatal("no event within a minute")
	}
	return stream.Event{}
}

// nextOf skips events until one of type typ.
func (l *liveStream) nextOf(tb testing.TB, typ string) stream.Event {
	tb.Helper()
	for {
		if e := l.next(tb); e.Type == typ {
			return e
		}
	}
}

// noneBefore reads up to the record with id, failing if an event of type
// typ comes first.
func (l *liveStream) noneBefore(tb testing.TB, typ, id string) {
	tb.Helper()
	for {
		e := l.next(tb)
		if e.Type == typ {
			tb.Fatalf("got %+v before %s", e, id)
		}
		if !e.NoID && e.ID == id {
			return
		}
	}
}

// presenceOf answers GET /api/rooms/ROOM/presence.
func (s *testServer) presenceOf(tb testing.TB, room string, header ...string) stream.Presence {
	tb.Helper()
	resp := s.do(tb, http.MethodGet, "/api/rooms/"+room+"/presence", "", nil, header...)
	var p stream.Presence
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &p) != nil {
		tb.Fatalf("presence of %s: got %d %s", room, resp.status, resp.body)
	}
	return p
}

func names(p stream.Presence) string {
	var out []string
	for _, person := range p.People {
		out = append(out, fmt.Sprintf("%s%v", person.Name, person.Connections))
	}
	return strings.Join(out, " ")
}

// TestPresenceOverHTTP: without access control, a stream is whoever its
// ?author= says, or anonymous; presence shows them on streams and at
// /presence.
func TestPresenceOverHTTP(t *testing.T) {
	s := mustStartServer(t)
	carol := s.openLive(t, "/api/rooms/a/events?author=carol")
	if carol.hello.You == nil || carol.hello.You.Name != "carol" {
		t.Fatalf("hello: got %+v, want you carol", carol.hello)
	}
	carol.nextOf(t, "live")
	alice := s.openLive(t, "/api/events?rooms=a,b&author=alice")
	for _, e := range []stream.Event{carol.nextOf(t, "presence"), carol.nextOf(t, "presence")} {
		if !strings.Contains(e.Data, `"name":"`) {
			t.Fatalf("got %s", e.Data)
		}
	}
	s.openLive(t, "/api/rooms/a/events") // anonymous
	p := s.presenceOf(t, "a")
	want := fmt.Sprintf("alice[%s] carol[%s]", alice.hello.Connection, carol.hello.Connection)
	if names(p) != want || p.Anonymous != 1 || p.Room != "a" {
		t.Fatalf("presence: got %+v, want %s and one anonymous", p, want)
	}
	for _, bad := range []string{"/api/rooms/a/events?author=%01", "/api/rooms/a/events?author=" + strings.Repeat("x", 65), "/api/rooms/a/events?connection=NOT_AN_ID"} {
		resp := s.do(t, http.MethodGet, bad, "", nil)
		if resp.status != http.StatusBadRequest {
			t.Errorf("GET %s: got %d %s, want 400", bad, resp.status, resp.body)
		}
		resp.errorMessage(t)
	}
}

// TestTypingOverHTTP: a typing notice reaches the others in the room,
// names its author, ends with a stop or the author's message, and is
// rate-limited.
func TestTypingOverHTTP(t *testing.T) {
	frozen := time.Now()
	s := mustStartServer(t, func(srv *api.Server) {
		srv.Limits.TypingPerSecond, srv.Now = 1, func() time.Time { return frozen }
	})
	carol := s.openLive(t, "/api/rooms/a/events?author=carol")
	typing := func(body, query string, want int) response {
		t.Helper()
		resp := s.do(t, http.MethodPost, "/api/rooms/a/typing"+query, "application/json", []byte(body))
		if resp.status != want {
			t.Fatalf("typing %s%s: got %d %s, want %d", body, query, resp.status, resp.body, want)
		}
		return resp
	}
	expect := func(ms int) {
		t.Helper()
		if e := carol.nextOf(t, "typing"); !e.NoID || e.Data != fmt.Sprintf(`{"room":"a","author":"alice","expires_in_ms":%d}`, ms) {
			t.Fatalf("got %+v, want alice typing for %d ms", e, ms)
		}
	}
	typing(`{"author":"alice"}`, "", http.StatusNoContent)
	expect(5000)
	typing(`{"stop":true}`, "?author=alice", http.StatusNoContent)
	expect(0)
	typing(`{"author":"alice"}`, "", http.StatusNoContent)
	expect(5000)
	s.post(t, "a", map[string]string{"author": "alice", "text": "hi"}, http.StatusCreated)
	expect(0)
	if p := s.presenceOf(t, "a"); len(p.Typing) != 0 {
		t.Fatalf("typing after the message: got %+v", p.Typing)
	}
	typing(`{}`, "", http.StatusBadRequest).errorMessage(t)
	typing(`{"author":"alice","text":"x"}`, "", http.StatusBadRequest).errorMessage(t)
	typing(`{"author":"alice"}`, "", http.StatusNoContent)
	typing(`{"author":"alice"}`, "", http.StatusNoContent) // the fifth of a burst of five
	resp := typing(`{"author":"alice"}`, "", http.StatusTooManyRequests)
	if resp.header.Get("Retry-After") == "" {
		t.Fatalf("429 without Retry-After")
	}
	typing(`{"author":"bob"}`, "", http.StatusNoContent) // others are not held up
}

// TestCallSignallingOverHTTP: a call rings and is accepted through
// /signal; each signal reaches its recipient only, and a forged sender, an
// unknown recipient or a bad body is refused with a clear error.
func TestCallSignallingOverHTTP(t *testing.T) {
	s := mustStartServer(t, func(srv *api.Server) { srv.PresenceGrace = time.Hour })
	alice := s.openLive(t, "/api/rooms/a/events?author=alice")
	bob := s.openLive(t, "/api/rooms/a/events?author=bob")
	carol := s.openLive(t, "/api/rooms/a/events?author=carol")
	a, b, c := alice.hello.Connection, bob.hello.Connection, carol.hello.Connection
	signal := func(body string, want int) response {
		t.Helper()
		resp := s.do(t, http.MethodPost, "/api/rooms/a/signal", "application/json", []byte(body))
		if resp.status != want {
			t.Fatalf("signal %.80s: got %d %s, want %d", body, resp.status, resp.body, want)
		}
		if want >= 400 {
			resp.errorMessage(t)
		}
		return resp
	}
	signal(`{"author":"alice","from":"`+a+`","to":"`+b+`","kind":"ring","payload":{"call":"c1","media":"video"}}`, http.StatusNoContent)
	want := `{"room":"a","kind":"ring","from":"` + a + `","to":"` + b + `","author":"alice","guest":false,"payload":{"call":"c1","media":"video"}}`
	if e := bob.nextOf(t, "signal"); !e.NoID || e.Data != want {
		t.Fatalf("bob got %+v, want %s", e, want)
	}
	signal(`{"author":"bob","from":"`+b+`","to":"`+a+`","kind":"accept","payload":{"call":"c1"}}`, http.StatusNoContent)
	if e := alice.nextOf(t, "signal"); !strings.Contains(e.Data, `"kind":"accept","from":"`+b+`"`) {
		t.Fatalf("alice got %+v, want bob's accept", e)
	}
	mark := s.post(t, "a", map[string]string{"author": "x", "text": "after the signals"}, http.StatusCreated)
	carol.noneBefore(t, "signal", mark.ID.String())

	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"forged sender", `{"author":"carol","from":"` + a + `","to":"` + b + `","kind":"offer","payload":{}}`, http.StatusForbidden},
		{"no author", `{"from":"` + c + `","to":"` + b + `","kind":"offer"}`, http.StatusBadRequest},
		{"unknown recipient", `{"author":"carol","from":"` + c + `","to":"x-1","kind":"offer"}`, http.StatusNotFound},
		{"unknown kind", `{"author":"carol","from":"` + c + `","to":"` + b + `","kind":"dance"}`, http.StatusBadRequest},
		{"to itself", `{"author":"carol","from":"` + c + `","to":"` + c + `","kind":"ring"}`, http.StatusBadRequest},
		{"no recipient", `{"author":"carol","from":"` + c + `","kind":"ring"}`, http.StatusBadRequest},
		{"payload not an object", `{"author":"carol","from":"` + c + `","to":"` + b + `","kind":"ring","payload":[1]}`, http.StatusBadRequest},
		{"unknown field", `{"author":"carol","from":"` + c + `","to":"` + b + `","kind":"ring","sdp":"x"}`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) { signal(tc.body, tc.want) })
	}
	t.Run("too large", func(t *testing.T) {
		// The server answers before reading the body and closes the
		// connection: with 100-continue the body is never sent, so the
		// answer cannot be lost to a reset.
		body := `{"author":"carol","from":"` + c + `","to":"` + b + `","kind":"offer","payload":{"sdp":"` + strings.Repeat("a", 64<<10) + `"}}`
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/api/rooms/a/signal", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Expect", "100-continue")
		client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %d, want 413", resp.StatusCode)
		}
	})
	resp := s.do(t, http.MethodPost, "/api/rooms/a/signal", "text/plain", []byte("ring"))
	if resp.status != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: got %d", resp.status)
	}

	// bob's tab closes: a signal to his stream is 404 at once, though
	// presence keeps him for the grace period.
	bob.stop()
	ring := `{"author":"alice","from":"` + a + `","to":"` + b + `","kind":"ring"}`
	waitFor(t, func() bool {
		return s.do(t, http.MethodPost, "/api/rooms/a/signal", "application/json", []byte(ring)).status == http.StatusNotFound
	})
	p := s.presenceOf(t, "a")
	if !slices.ContainsFunc(p.People, func(p stream.Person) bool { return p.Name == "bob" && slices.Contains(p.Connections, b) }) {
		t.Fatalf("presence: got %+v, want bob with %s", p, b)
	}
}

// TestLiveOfAPrivateRoomIsInvisible: under access control, a stream is its
// caller's identity; nobody sees who is in, or who types in, a room they
// may not read, and may not signal into it.
func TestLiveOfAPrivateRoomIsInvisible(t *testing.T) {
	s := mustStartAuthServer(t)
	alice := s.addUser(t, "alice")
	bob := s.addUser(t, "bob")
	s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/priv/access", map[string]any{"private": true, "members": []string{"alice"}}, s.admin...)
	guest := s.guest(t, "acme", "Carol")

	inPriv := s.openLive(t, "/api/rooms/priv/events", alice...)
	if inPriv.hello.You == nil || inPriv.hello.You.Name != "alice" {
		t.Fatalf("hello: got %+v, want alice", inPriv.hello)
	}
	bobs := s.openLive(t, "/api/rooms/pub/events", bob...)
	carols := s.openLive(t, "/api/rooms/acme/events", guest...)
	if carols.hello.You == nil || carols.hello.You.Name != "Carol (guest)" || !carols.hello.You.Guest {
		t.Fatalf("guest's hello: got %+v", carols.hello)
	}
	s.mustCall(t, http.StatusNoContent, "POST", "/api/rooms/priv/typing", nil, alice...)
	mark := s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/pub/messages", map[string]string{"text": "in pub"}, s.admin...)
	bobs.noneBefore(t, "typing", mark["id"].(string))

	if got := names(s.presenceOf(t, "priv", alice...)); got != "alice["+inPriv.hello.Connection+"]" {
		t.Fatalf("presence of priv for alice: got %s", got)
	}
	if got := names(s.presenceOf(t, "pub", bob...)); got != "bob["+bobs.hello.Connection+"]" {
		t.Fatalf("presence of pub: got %s, want bob alone", got)
	}
	if p := s.presenceOf(t, "acme", guest...); len(p.People) != 1 || !p.People[0].Guest {
		t.Fatalf("presence of acme: got %+v, want the guest, marked", p)
	}
	ring := map[string]any{"from": bobs.hello.Connection, "to": inPriv.hello.Connection, "kind": "ring"}
	for _, tc := range []struct {
		method, path string
		body         any
		header       []string
		want         int
	}{
		{"GET", "/api/rooms/priv/presence", nil, bob, http.StatusForbidden},
		{"POST", "/api/rooms/priv/typing", nil, bob, http.StatusForbidden},
		{"POST", "/api/rooms/priv/signal", ring, bob, http.StatusForbidden},
		{"POST", "/api/rooms/pub/signal", ring, bob, http.StatusNotFound}, // alice has no stream of pub
		{"POST", "/api/rooms/pub/typing", map[string]string{"author": "alice"}, bob, http.StatusForbidden},
		{"GET", "/api/rooms/priv/events?author=bob", nil, alice, http.StatusForbidden},
	} {
		resp := s.call(t, tc.method, tc.path, tc.body, tc.header...)
		if resp.status != tc.want {
			t.Errorf("%s %s: got %d %s, want %d", tc.method, tc.path, resp.status, resp.body, tc.want)
		}
	}
}

// TestEphemeralEventsAreNotHistory: presence, typing, signals and read
// markers never reach history, an export, or a stream resumed from before
// them, and never carry an id.
func TestEphemeralEventsAreNotHistory(t *testing.T) {
	s := mustStartServer(t)
	first := s.post(t, "a", map[string]string{"author": "alice", "text": "before"}, http.StatusCreated)
	alice := s.openLive(t, "/api/rooms/a/events?author=alice")
	bob := s.openLive(t, "/api/rooms/a/events?author=bob")
	s.do(t, http.MethodPost, "/api/rooms/a/typing", "application/json", []byte(`{"author":"bob"}`))
	s.do(t, http.MethodPost, "/api/rooms/a/signal", "application/json",
		[]byte(`{"author":"bob","from":"`+bob.hello.Connection+`","to":"`+alice.hello.Connection+`","kind":"ring"}`))
	s.do(t, http.MethodPut, "/api/rooms/a/read", "application/json", []byte(`{"author":"alice","id":"`+first.ID.String()+`"}`))
	last := s.post(t, "a", map[string]string{"author": "alice", "text": "after"}, http.StatusCreated)
	seen := map[string]bool{}
	for e := alice.next(t); e.ID != last.ID.String() || e.NoID; e = alice.next(t) {
		if e.NoID != (e.Type != "message") {
			t.Fatalf("got %+v: only stored events carry an id", e)
		}
		seen[e.Type] = true
	}
	for _, typ := range []string{"presence", "typing", "signal", "read", "live"} {
		if !seen[typ] {
			t.Errorf("alice's stream had no %s event", typ)
		}
	}
	if evs := s.history(t, "/api/rooms/a/messages?view=events"); texts(evs) != "before,after" {
		t.Fatalf("history: got %s", texts(evs))
	}
	export := s.do(t, http.MethodGet, "/api/rooms/a/export", "", nil)
	if n := strings.Count(string(export.body), "\n"); n != 2 || strings.Contains(string(export.body), "ring") {
		t.Fatalf("export: got %s", export.body)
	}
	// bob stops typing: a stream starting now gets nobody typing, and the
	// past is not replayed.
	s.do(t, http.MethodPost, "/api/rooms/a/typing", "application/json", []byte(`{"author":"bob","stop":true}`))
	r, stop := s.openStream(t, "/api/rooms/a/events", "Last-Event-ID", first.ID.String())
	defer stop()
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == "typing" || e.Type == "signal" || e.Type == "read" {
			t.Fatalf("resumed stream: got %+v, an ephemeral event of the past", e)
		}
		if e.Type == "live" {
			break
		}
	}
}
