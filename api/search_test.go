package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// searchResults calls GET /api/search and returns its results' texts,
// rooms, highlights and next cursor.
func searchResults(tb testing.TB, s *authServer, query string, header ...string) (texts, rooms []string, highlights [][][2]int, next string) {
	tb.Helper()
	got := s.mustCall(tb, http.StatusOK, "GET", "/api/search?"+query, nil, header...)
	for _, r := range got["results"].([]any) {
		ev := r.(map[string]any)["event"].(map[string]any)
		texts = append(texts, ev["text"].(string))
		rooms = append(rooms, ev["room"].(string))
		var hl [][2]int
		b, _ := json.Marshal(r.(map[string]any)["highlights"])
		if err := json.Unmarshal(b, &hl); err != nil {
			tb.Fatal(err)
		}
		highlights = append(highlights, hl)
	}
	return texts, rooms, highlights, got["next"].(string)
}

// TestSearchAPI: results across the rooms a caller may read, newest first,
// with highlights in UTF-16 code units and a cursor; a private room's text
// never reaches anyone else; bad queries are a 400 with a JSON error.
func TestSearchAPI(t *testing.T) {
	s := mustStartAuthServer(t)
	bob := s.addUser(t, "bob")
	s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/secret/access", map[string]any{"private": true}, s.admin...)
	post := func(room, text string, header ...string) string {
		return s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/"+room+"/messages", map[string]string{"text": text}, header...)["id"].(string)
	}
	post("pub", "the deploy went fine", s.admin...)
	post("secret", "deploy the secret plan", s.admin...)
	post("ops", "😀 café deploy at 東京", bob...)
	edited := post("ops", "nothing here", bob...)
	s.mustCall(t, http.StatusCreated, "PATCH", "/api/rooms/ops/messages/"+edited, map[string]string{"text": "deployment edited in"}, bob...)
	deleted := post("pub", "deploy to delete", bob...)
	s.mustCall(t, http.StatusCreated, "DELETE", "/api/rooms/pub/messages/"+deleted, nil, bob...)

	texts, rooms, hl, next := searchResults(t, s, "q=depl", bob...)
	if want := []string{"deployment edited in", "😀 café deploy at 東京", "the deploy went fine"}; !slices.Equal(texts, want) || next != "" {
		t.Fatalf("bob: got %q next %q, want %q", texts, next, want)
	}
	if !slices.Equal(rooms, []string{"ops", "ops", "pub"}) {
		t.Errorf("rooms: got %v", rooms)
	}
	// 😀 is two UTF-16 code units, é one: "deploy", found by its prefix,
	// is 8 to 14.
	if !slices.Equal(hl[1], [][2]int{{8, 14}}) {
		t.Errorf("highlights of %q: got %v, want [[8 14]]", texts[1], hl[1])
	}
	texts, _, _, _ = searchResults(t, s, "q="+url.QueryEscape("deploy in:secret"), bob...)
	if len(texts) != 0 {
		t.Errorf("bob with in:secret: got %q", texts)
	}
	texts, _, _, _ = searchResults(t, s, "q=deploy", s.admin...)
	if len(texts) != 4 || texts[2] != "deploy the secret plan" {
		t.Errorf("admin: got %q", texts)
	}
	texts, _, _, _ = searchResults(t, s, "q="+url.QueryEscape("東京")+"&rooms=ops&author=bob", bob...)
	if !slices.Equal(texts, []string{"😀 café deploy at 東京"}) {
		t.Errorf("rooms=ops&author=bob: got %q", texts)
	}
	// Paging: next is the before of the following page.
	var all []string
	for page, cursor := 0, ""; page < 5; page++ {
		texts, _, _, next := searchResults(t, s, "q=deploy&limit=1&before="+cursor, bob...)
		all = append(all, texts...)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(all) != 3 {
		t.Errorf("paging: got %q, want the three messages bob may read with deploy…", all)
	}
	for _, bad := range []string{"q=", "q=%22open", "q=a&limit=0", "q=a&limit=1000", "q=a&before=nope", "q=a&rooms=bad%2Fname", "q=" + url.QueryEscape("before:2026-13-01 a")} {
		code, body := s.status(t, "GET", "/api/search?"+bad, "", bob...)
		var e struct{ Error string }
		if code != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("%s: got %d %s, want 400 with a JSON error", bad, code, body)
		}
	}
	if code, body := s.status(t, "GET", "/api/search?q=deploy&rooms=pub,secret", "", bob...); code != http.StatusForbidden || !strings.Contains(body, "secret") {
		t.Errorf("bob naming the private room: got %d %s, want 403", code, body)
	}
	// A guest searches its room only.
	post("acme", "deploy from the guest room", s.admin...)
	guest := s.guest(t, "acme", "Carol")
	if texts, rooms, _, _ := searchResults(t, s, "q=deploy", guest...); !slices.Equal(texts, []string{"deploy from the guest room"}) || rooms[0] != "acme" {
		t.Errorf("guest: got %q in %v, want its room's message only", texts, rooms)
	}
}
