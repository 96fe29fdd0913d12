package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parleychat/parley/api"
)

func TestPostMessage(t *testing.T) {
	s := mustStartServer(t)
	e := s.post(t, "general", map[string]string{"author": "alice", "text": "hello"}, http.StatusCreated)
	if e.Room != "general" || e.Type != "message" || e.Author != "alice" || e.Text != "hello" || e.ClientID != "" {
		t.Fatalf("got %+v", e)
	}
	if e.Time.UnixMilli() != int64(e.ID.Time()) {
		t.Fatalf("time %v is not the id's timestamp", e.Time)
	}

	form := url.Values{"author": {"bob"}, "text": {"from a form"}, "client_id": {"f1"}}
	resp := s.do(t, http.MethodPost, "/api/rooms/general/messages", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if resp.status != http.StatusCreated || !strings.Contains(string(resp.body), `"client_id":"f1"`) {
		t.Fatalf("form post: got %d %s", resp.status, resp.body)
	}
	// A retry with the same client id answers 200 with the original event
	// and stores nothing.
	again := s.do(t, http.MethodPost, "/api/rooms/general/messages", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if again.status != http.StatusOK || string(again.body) != string(resp.body) {
		t.Fatalf("retry: got %d %s, want 200 %s", again.status, again.body, resp.body)
	}
	if h := s.history(t, "/api/rooms/general/messages"); texts(h) != "hello,from a form" {
		t.Fatalf("history: got %q", texts(h))
	}
}

func TestPostMessageRejectsBadInput(t *testing.T) {
	s := mustStartServer(t, func(s *api.Server) { s.MaxMessageBytes = 100 })
	const path = "/api/rooms/general/messages"
	const js = "application/json"
	for _, tc := range []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		want        int
	}{
		{"malformed JSON", "POST", path, js, `{"author":"a","text":`, 400},
		{"not an object", "POST", path, js, `["a"]`, 400},
		{"trailing data", "POST", path, js, `{"author":"a","text":"b"} {}`, 400},
		{"unknown field", "POST", path, js, `{"author":"a","text":"b","color":"red"}`, 400},
		{"wrong type", "POST", path, js, `{"author":"a","text":5}`, 400},
		{"empty text", "POST", path, js, `{"author":"a","text":""}`, 400},
		{"whitespace text", "POST", path, js, `{"author":"a","text":"  \n"}`, 400},
		{"missing author", "POST", path, js, `{"text":"b"}`, 400},
		{"invalid UTF-8 in JSON", "POST", path, js, "{\"author\":\"a\",\"text\":\"\xff\xfe\"}", 400},
		{"invalid UTF-8 in form", "POST", path, "application/x-www-form-urlencoded", "author=a&text=%ff", 400},
		{"control character in author", "POST", path, js, `{"author":"a\u0007b","text":"b"}`, 400},
		{"newline in author", "POST", path, js, `{"author":"a\nb","text":"b"}`, 400},
		{"zero-width space in author", "POST", path, js, `{"author":"bob\u200b","text":"b"}`, 400},
		{"bidi override in author", "POST", path, js, `{"author":"\u202ebob","text":"b"}`, 400},
		{"bidi isolate in author", "POST", path, js, `{"author":"bob\u2066","text":"b"}`, 400},
		{"zero-width space in room name", "POST", "/api/rooms/gen%E2%80%8Beral/messages", js, `{"author":"a","text":"b"}`, 400},
		{"bad client id", "POST", path, js, `{"author":"a","text":"b","client_id":"a/b"}`, 400},
		{"invalid room name", "POST", "/api/rooms/Not_Valid/messages", js, `{"author":"a","text":"b"}`, 400},
		{"room name too long", "POST", "/api/rooms/" + strings.Repeat("a", 65) + "/messages", js, `{"author":"a","text":"b"}`, 400},
		{"text over the limit", "POST", path, js, `{"author":"a","text":"` + strings.Repeat("x", 101) + `"}`, 413},
		{"multi-byte text over the limit", "POST", path, js, `{"author":"a","text":"` + strings.Repeat("é", 51) + `"}`, 413},
		{"body far over the limit", "POST", path, js, `{"author":"a","text":"` + strings.Repeat("x", 10000) + `"}`, 413},
		{"no Content-Type", "POST", path, "", `{"author":"a","text":"b"}`, 415},
		{"text/plain", "POST", path, "text/plain", `hello`, 415},
		{"multipart", "POST", path, "multipart/form-data; boundary=x", `--x--`, 415},
		{"latin-1 charset", "POST", path, "application/json; charset=latin1", `{"author":"a","text":"b"}`, 415},
		{"PUT", "PUT", path, js, `{"author":"a","text":"b"}`, 405},
		{"DELETE on rooms", "DELETE", "/api/rooms", "", ``, 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.do(t, tc.method, tc.path, tc.contentType, []byte(tc.body))
			if resp.status != tc.want {
				t.Fatalf("got %d %s, want %d", resp.status, resp.body, tc.want)
			}
			if msg := resp.errorMessage(t); msg == "internal error" {
				t.Fatalf("got a generic error for bad input")
			}
		})
	}
	if resp := s.do(t, "GET", "/api/rooms", "", nil); string(resp.body) != "{\"rooms\":[]}\n" {
		t.Fatalf("bad input stored something: %s", resp.body)
	}
	// The limit is inclusive and counts bytes.
	s.post(t, "general", map[string]string{"author": "a", "text": strings.Repeat("é", 50)}, http.StatusCreated)
}

func TestListMessagesPages(t *testing.T) {
	s := mustStartServer(t)
	var all []string
	var ids []string
	for i := 0; i < 120; i++ {
		e := s.post(t, "a", map[string]string{"author": "x", "text": fmt.Sprint(i)}, 201)
		all, ids = append(all, fmt.Sprint(i)), append(ids, e.ID.String())
		if i%10 == 0 {
			s.post(t, "b", map[string]string{"author": "x", "text": "other"}, 201)
		}
	}
	join := func(s []string) string { return strings.Join(s, ",") }
	for _, tc := range []struct {
		query string
		want  string
	}{
		{"", join(all[70:])},
		{"?limit=5", join(all[115:])},
		{"?before=" + ids[10] + "&limit=3", join(all[7:10])},
		{"?before=" + ids[2], join(all[:2])},
		{"?after=" + ids[100], join(all[101:])},
		{"?after=" + ids[0] + "&limit=2", join(all[1:3])},
		{"?after=00000000000000000000000000&limit=1000", join(all)},
	} {
		if got := texts(s.history(t, "/api/rooms/a/messages"+tc.query)); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.query, got, tc.want)
		}
	}
	if got := s.history(t, "/api/rooms/empty/messages"); len(got) != 0 {
		t.Errorf("room without events: got %d events", len(got))
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?before=nope", "?after=" + ids[0] + "x", "?before=" + ids[1] + "&after=" + ids[0]} {
		resp := s.do(t, "GET", "/api/rooms/a/messages"+q, "", nil)
		if resp.status != http.StatusBadRequest {
			t.Errorf("%s: got %d, want 400", q, resp.status)
		}
		resp.errorMessage(t)
	}
}

// TestListMessagesAround: ?around=ID answers the page centred on a
// message; a malformed id or a bad combination is 400, an id that is not a
// message of the room 404, each with a JSON error.
func TestListMessagesAround(t *testing.T) {
	s := mustStartServer(t)
	var all, ids []string
	for i := range 30 {
		e := s.post(t, "a", map[string]string{"author": "x", "text": fmt.Sprint(i)}, 201)
		all, ids = append(all, fmt.Sprint(i)), append(ids, e.ID.String())
	}
	other := s.post(t, "b", map[string]string{"author": "x", "text": "elsewhere"}, 201)
	join := func(s []string) string { return strings.Join(s, ",") }
	for _, tc := range []struct{ query, want string }{
		{"?around=" + ids[15] + "&limit=5", join(all[13:18])},
		{"?around=" + ids[15], join(all[:30])}, // 24 before, 25 after: the whole room
		{"?around=" + ids[1] + "&limit=7", join(all[:5])},
		{"?around=" + ids[29] + "&limit=7", join(all[26:])},
		{"?around=" + strings.ToLower(ids[15]) + "&limit=1", "15"},
	} {
		if got := texts(s.history(t, "/api/rooms/a/messages"+tc.query)); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.query, got, tc.want)
		}
	}
	for _, tc := range []struct {
		query  string
		status int
		says   string
	}{
		{"?around=nope", 400, "malformed event id"},
		{"?around=", 400, "needs the id"},
		{"?around=" + ids[1] + "&before=" + ids[5], 400, "only one of before, after and around"},
		{"?around=" + ids[1] + "&after=" + ids[0], 400, "only one of"},
		{"?around=" + ids[1] + "&view=events", 400, "not view=events"},
		{"?around=" + ids[1] + "&limit=0", 400, "limit"},
		{"?around=01KAKM0S5QK8TF5X0V9K3FJ1ZZ", 404, "no message"},
		{"?around=" + other.ID.String(), 404, "no message"},
	} {
		resp := s.do(t, "GET", "/api/rooms/a/messages"+tc.query, "", nil)
		if msg := resp.errorMessage(t); resp.status != tc.status || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: got %d %q, want %d saying %q", tc.query, resp.status, msg, tc.status, tc.says)
		}
	}
	if resp := s.do(t, "GET", "/api/rooms/nowhere/messages?around="+ids[0], "", nil); resp.status != 404 {
		t.Errorf("room without events: got %d %s, want 404", resp.status, resp.body)
	}
}

// FuzzDecodeMessage posts arbitrary bodies: the server never fails with a
// 500, and what it accepts it stores exactly.
func FuzzDecodeMessage(f *testing.F) {
	s := mustStartServer(f)
	f.Add("application/json", `{"author":"a","text":"b","client_id":"c"}`)
	f.Add("application/x-www-form-urlencoded", "author=a&text=b%0Ac")
	f.Add("application/json", `{"author":"a","text":"\ud800"}`)
	f.Add("application/json; charset=utf-8", `{"author":"\u00e9","text":"<script>"}`)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		req := httptest.NewRequest("POST", s.URL()+"/api/rooms/fuzz/messages", strings.NewReader(body))
		req.RequestURI = ""
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Skip("request not sendable:", err)
		}
		defer resp.Body.Close()
		var got map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatalf("status %d with a non-JSON body: %v", resp.StatusCode, err)
		}
		switch {
		case resp.StatusCode == 201 || resp.StatusCode == 200:
			text, _ := got["text"].(string)
			if !utf8.ValidString(text) || strings.TrimSpace(text) == "" || got["room"] != "fuzz" {
				t.Fatalf("accepted %q as %v", body, got)
			}
		case resp.StatusCode >= 500:
			t.Fatalf("status %d for %q %q: %v", resp.StatusCode, contentType, body, got)
		}
	})
}

// TestClientIDIsScopedToTheAuthor: Carol posting with Bob's client_id gets
// her own message stored (201), not Bob's event; Bob's retry still gets his.
func TestClientIDIsScopedToTheAuthor(t *testing.T) {
	s := mustStartServer(t)
	bob := s.post(t, "r", map[string]string{"author": "bob", "text": "bob's", "client_id": "k1"}, 201)
	carol := s.post(t, "r", map[string]string{"author": "carol", "text": "carol's", "client_id": "k1"}, 201)
	if carol.ID == bob.ID || carol.Author != "carol" || carol.Text != "carol's" {
		t.Fatalf("carol got %+v, want her own message", carol)
	}
	if again := s.post(t, "r", map[string]string{"author": "bob", "text": "bob's", "client_id": "k1"}, 200); again.ID != bob.ID {
		t.Fatalf("bob's retry got %s, want %s", again.ID, bob.ID)
	}
}
