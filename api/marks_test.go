package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

// readState is what the read endpoints answer.
type readState struct {
	Room     string `json:"room"`
	ID       string `json:"id"`
	Unread   int    `json:"unread"`
	Mentions int    `json:"mentions"`
}

// roomListing is a room of GET /api/rooms.
type roomListing struct {
	Name     string  `json:"name"`
	Events   int     `json:"events"`
	Messages int     `json:"messages"`
	Read     *string `json:"read"`
	Unread   *int    `json:"unread"`
	Mentions *int    `json:"mentions"`
}

func (s *testServer) rooms(tb testing.TB, query string, header ...string) map[string]roomListing {
	tb.Helper()
	resp := s.do(tb, http.MethodGet, "/api/rooms"+query, "", nil, header...)
	var got struct {
		Rooms []roomListing `json:"rooms"`
	}
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &got) != nil {
		tb.Fatalf("rooms: got %d %s", resp.status, resp.body)
	}
	out := map[string]roomListing{}
	for _, r := range got.Rooms {
		out[r.Name] = r
	}
	return out
}

// TestReadMarkersOverHTTP: a person's marker moves forward only, gives
// their unread counts in the room list, and reaches their other streams.
func TestReadMarkersOverHTTP(t *testing.T) {
	s := mustStartServer(t)
	m1 := s.post(t, "r", map[string]string{"author": "bob", "text": "one"}, http.StatusCreated)
	m2 := s.post(t, "r", map[string]string{"author": "bob", "text": "hi @alice"}, http.StatusCreated)
	s.post(t, "r", map[string]string{"author": "alice", "text": "mine"}, http.StatusCreated)
	s.do(t, http.MethodPost, "/api/rooms/r/messages/"+m1.ID.String()+"/reactions", "application/json", []byte(`{"author":"alice","emoji":"👍"}`))

	r := s.rooms(t, "?author=alice")["r"]
	if r.Events != 4 || r.Messages != 3 || r.Read == nil || *r.Read != "" || *r.Unread != 2 || *r.Mentions != 1 {
		t.Fatalf("rooms for alice: got %+v, want 4 events, 3 messages, 2 unread, 1 mention", r)
	}
	if r := s.rooms(t, "")["r"]; r.Unread != nil || r.Read != nil {
		t.Fatalf("rooms for nobody: got %+v, want no read state", r)
	}

	phone := s.openLive(t, "/api/rooms/r/events?author=alice")
	bob := s.openLive(t, "/api/rooms/r/events?author=bob")
	put := func(body string, want int) readState {
		t.Helper()
		resp := s.do(t, http.MethodPut, "/api/rooms/r/read", "application/json", []byte(body))
		if resp.status != want {
			t.Fatalf("PUT read %s: got %d %s, want %d", body, resp.status, resp.body, want)
		}
		var st readState
		if want == http.StatusOK {
			json.Unmarshal(resp.body, &st)
		} else {
			resp.errorMessage(t)
		}
		return st
	}
	if st := put(`{"author":"alice","id":"`+m2.ID.String()+`"}`, http.StatusOK); st != (readState{"r", m2.ID.String(), 0, 0}) {
		t.Fatalf("after reading m2: got %+v", st)
	}
	if e := phone.nextOf(t, "read"); !e.NoID || e.Data != `{"room":"r","id":"`+m2.ID.String()+`"}` {
		t.Fatalf("alice's other stream: got %+v", e)
	}
	if st := put(`{"author":"alice","id":"`+m1.ID.String()+`"}`, http.StatusOK); st.ID != m2.ID.String() {
		t.Fatalf("an older id moved the marker back: got %+v", st)
	}
	mark := s.post(t, "r", map[string]string{"author": "x", "text": "after the markers"}, http.StatusCreated)
	bob.noneBefore(t, "read", mark.ID.String())

	resp := s.do(t, http.MethodGet, "/api/rooms/r/read?author=alice", "", nil)
	var st readState
	if json.Unmarshal(resp.body, &st) != nil || st != (readState{"r", m2.ID.String(), 1, 0}) {
		t.Fatalf("GET read: got %d %s", resp.status, resp.body)
	}
	var future ulid.ULID
	future.SetTime(ulid.Timestamp(time.Now().Add(time.Hour)))
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"author":"alice"}`, http.StatusBadRequest},
		{`{"author":"alice","id":"nope"}`, http.StatusBadRequest},
		{`{"author":"alice","id":"` + future.String() + `"}`, http.StatusBadRequest},
		{`{"id":"` + m1.ID.String() + `"}`, http.StatusBadRequest},
		{`{"author":"alice","id":"` + m1.ID.String() + `","extra":1}`, http.StatusBadRequest},
	} {
		put(tc.body, tc.want)
	}
	if resp := s.do(t, http.MethodPut, "/api/rooms/empty/read", "application/json", []byte(`{"author":"alice","id":"`+m1.ID.String()+`"}`)); resp.status != http.StatusNotFound {
		t.Fatalf("a room without events: got %d %s, want 404", resp.status, resp.body)
	}
	if resp := s.do(t, http.MethodGet, "/api/rooms/r/read", "", nil); resp.status != http.StatusBadRequest {
		t.Fatalf("GET read without author: got %d, want 400", resp.status)
	}
}

// TestMentionsOverHTTP: GET /api/mentions lists what mentions the caller,
// newest first, only in rooms they may read; the room list counts unread
// mentions the same way.
func TestMentionsOverHTTP(t *testing.T) {
	s := mustStartAuthServer(t)
	alice := s.addUser(t, "alice")
	bob := s.addUser(t, "bob")
	s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/priv/access", map[string]any{"private": true, "members": []string{"alice"}}, s.admin...)
	post := func(room, text string, header []string) string {
		return s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/"+room+"/messages", map[string]string{"text": text}, header...)["id"].(string)
	}
	pub := post("pub", "@bob hi", s.admin)
	post("priv", "@bob, secret plans", alice)
	post("pub", "@alice note to self", alice)
	later := post("pub", "again @BOB", alice)
	guest := s.guest(t, "pub", "Carol")

	list := func(query string, header []string) string {
		t.Helper()
		resp := s.call(t, http.MethodGet, "/api/mentions"+query, nil, header...)
		var page struct {
			Events []struct {
				ID   string `json:"id"`
				Text string `json:"text"`
			} `json:"events"`
		}
		if resp.status != http.StatusOK || json.Unmarshal(resp.body, &page) != nil {
			t.Fatalf("mentions%s: got %d %s", query, resp.status, resp.body)
		}
		var texts []string
		for _, e := range page.Events {
			texts = append(texts, e.Text)
		}
		return strings.Join(texts, "|")
	}
	for _, tc := range []struct {
		who    string
		header []string
		query  string
		want   string
	}{
		{"bob", bob, "", "again @BOB|@bob hi"},
		{"bob, a page", bob, "?limit=1", "again @BOB"},
		{"bob, the next page", bob, "?limit=1&before=" + later, "@bob hi"},
		{"alice", alice, "", ""},
		{"a guest", guest, "", ""},
	} {
		if got := list(tc.query, tc.header); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.who, got, tc.want)
		}
	}
	if r := s.rooms(t, "", bob...)["pub"]; *r.Unread != 3 || *r.Mentions != 2 {
		t.Fatalf("bob's unread in pub: got %d and %d mentions, want 3 and 2", *r.Unread, *r.Mentions)
	}
	s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/pub/read", map[string]string{"id": pub}, bob...)
	if r := s.rooms(t, "", bob...)["pub"]; *r.Read != pub || *r.Unread != 2 || *r.Mentions != 1 {
		t.Fatalf("bob's unread in pub after reading the first: got %d and %d mentions, want 2 and 1", *r.Unread, *r.Mentions)
	}

	s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/priv/members/bob", nil, s.admin...)
	if got := list("", bob); got != "again @BOB|@bob, secret plans|@bob hi" {
		t.Fatalf("bob, member of priv: got %q", got)
	}
	for _, q := range []string{"?limit=0", "?limit=201", "?limit=x", "?before=nope"} {
		if resp := s.call(t, http.MethodGet, "/api/mentions"+q, nil, bob...); resp.status != http.StatusBadRequest {
			t.Errorf("mentions%s: got %d, want 400", q, resp.status)
		}
	}
}

// TestMentionsWithoutAccessControl: the caller names themselves.
func TestMentionsWithoutAccessControl(t *testing.T) {
	s := mustStartServer(t)
	s.post(t, "r", map[string]string{"author": "bob", "text": "hey @Alice"}, http.StatusCreated)
	if resp := s.do(t, http.MethodGet, "/api/mentions", "", nil); resp.status != http.StatusBadRequest {
		t.Fatalf("without author: got %d, want 400", resp.status)
	}
	resp := s.do(t, http.MethodGet, "/api/mentions?author=Alice", "", nil)
	if resp.status != http.StatusOK || !strings.Contains(string(resp.body), `"mentions":["alice"]`) {
		t.Fatalf("got %d %s", resp.status, resp.body)
	}
}
