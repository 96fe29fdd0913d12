package api_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store"
)

func TestChangesRulesAndErrors(t *testing.T) {
	s := mustStartServer(t, func(s *api.Server) { s.MaxMessageBytes = 50 })
	m := s.post(t, "a", map[string]string{"author": "alice", "text": "hello"}, 201)
	other := s.post(t, "b", map[string]string{"author": "alice", "text": "elsewhere"}, 201)
	gone := s.post(t, "a", map[string]string{"author": "alice", "text": "bye"}, 201)
	if resp := s.do(t, "DELETE", "/api/rooms/a/messages/"+gone.ID.String()+"?author=alice", "", nil); resp.status != 201 {
		t.Fatalf("delete: %d %s", resp.status, resp.body)
	}
	msg := "/api/rooms/a/messages/" + m.ID.String()
	const js = "application/json"
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"edit unknown message", "PATCH", "/api/rooms/a/messages/01M802EGKM2R908TN6558B93Q5", `{"author":"alice","text":"x"}`, 404},
		{"edit malformed id", "PATCH", "/api/rooms/a/messages/nope", `{"author":"alice","text":"x"}`, 404},
		{"edit message of another room", "PATCH", "/api/rooms/a/messages/" + other.ID.String(), `{"author":"alice","text":"x"}`, 404},
		{"edit in a room that does not exist", "PATCH", "/api/rooms/zzz/messages/" + m.ID.String(), `{"author":"alice","text":"x"}`, 404},
		{"edit by another author", "PATCH", msg, `{"author":"bob","text":"x"}`, 403},
		{"delete by another author", "DELETE", msg + "?author=bob", ``, 403},
		{"edit of a deleted message", "PATCH", "/api/rooms/a/messages/" + gone.ID.String(), `{"author":"alice","text":"x"}`, 409},
		{"reaction to a deleted message", "POST", "/api/rooms/a/messages/" + gone.ID.String() + "/reactions", `{"author":"bob","emoji":"👍"}`, 409},
		{"empty edit", "PATCH", msg, `{"author":"alice","text":""}`, 400},
		{"edit over the limit", "PATCH", msg, `{"author":"alice","text":"` + strings.Repeat("x", 51) + `"}`, 413},
		{"emoji field on an edit", "PATCH", msg, `{"author":"alice","text":"x","emoji":"👍"}`, 400},
		{"unknown field", "PATCH", msg, `{"author":"alice","text":"x","pin":true}`, 400},
		{"invalid emoji", "POST", msg + "/reactions", `{"author":"bob","emoji":"lol"}`, 400},
		{"markup as emoji", "POST", msg + "/reactions", `{"author":"bob","emoji":"\"><"}`, 400},
		{"slash in emoji", "POST", msg + "/reactions", `{"author":"bob","emoji":"👍/"}`, 400},
		{"emoji too long", "POST", msg + "/reactions", `{"author":"bob","emoji":"` + strings.Repeat("👍", 9) + `"}`, 400},
		{"zero-width space in emoji", "POST", msg + "/reactions", `{"author":"bob","emoji":"👍\u200b"}`, 400},
		{"bidi override as emoji", "POST", msg + "/reactions", `{"author":"bob","emoji":"\u202e"}`, 400},
		{"reaction without author", "POST", msg + "/reactions", `{"emoji":"👍"}`, 400},
		{"delete without author", "DELETE", msg, ``, 400},
		{"reply to an unknown message", "POST", "/api/rooms/a/messages", `{"author":"bob","text":"re","reply_to":"01M802EGKM2R908TN6558B93Q5"}`, 400},
		{"reply to a malformed id", "POST", "/api/rooms/a/messages", `{"author":"bob","text":"re","reply_to":"x"}`, 400},
		{"reply across rooms", "POST", "/api/rooms/a/messages", `{"author":"bob","text":"re","reply_to":"` + other.ID.String() + `"}`, 400},
		{"PUT on a message", "PUT", msg, `{}`, 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := js
			if tc.body == "" {
				ct = ""
			}
			resp := s.do(t, tc.method, tc.path, ct, []byte(tc.body))
			if resp.status != tc.want {
				t.Fatalf("got %d %s, want %d", resp.status, resp.body, tc.want)
			}
			resp.errorMessage(t)
		})
	}
	// Nothing above was stored: the room holds its two messages and one delete.
	if evs := s.history(t, "/api/rooms/a/messages?view=events"); len(evs) != 3 {
		t.Fatalf("failed changes stored events: %d", len(evs))
	}

	// Idempotent changes answer 200 with the state and store nothing.
	for _, tc := range []struct{ name, method, path, body string }{
		{"delete twice", "DELETE", "/api/rooms/a/messages/" + gone.ID.String(), `{"author":"alice"}`},
		{"edit to the same text", "PATCH", msg, `{"author":"alice","text":"hello"}`},
		{"remove a reaction never made", "DELETE", msg + "/reactions/" + url.PathEscape("👍") + "?author=bob", ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := js
			if tc.body == "" {
				ct = ""
			}
			resp := s.do(t, tc.method, tc.path, ct, []byte(tc.body))
			var state store.Message
			if resp.status != 200 || json.Unmarshal(resp.body, &state) != nil {
				t.Fatalf("got %d %s, want 200 with the message", resp.status, resp.body)
			}
		})
	}
	if evs := s.history(t, "/api/rooms/a/messages?view=events"); len(evs) != 3 {
		t.Fatalf("idempotent changes stored events: %d", len(evs))
	}
}

func TestChangesFoldIntoHistory(t *testing.T) {
	s := mustStartServer(t)
	m := s.post(t, "a", map[string]string{"author": "alice", "text": "helo"}, 201)
	msg := "/api/rooms/a/messages/" + m.ID.String()
	reply := s.post(t, "a", map[string]string{"author": "bob", "text": "typo!", "reply_to": m.ID.String()}, 201)
	if reply.ReplyTo != m.ID {
		t.Fatalf("reply_to not kept: %+v", reply)
	}
	for _, step := range []struct{ method, path, body string }{
		{"PATCH", msg, `{"author":"alice","text":"hello"}`},
		{"POST", msg + "/reactions", `{"author":"bob","emoji":"👍"}`},
		{"POST", msg + "/reactions", `{"author":"carol","emoji":"👍"}`},
		{"POST", msg + "/reactions", `{"author":"carol","emoji":"🎉"}`},
		{"DELETE", msg + "/reactions/" + url.PathEscape("🎉"), `{"author":"carol"}`},
		{"DELETE", "/api/rooms/a/messages/" + reply.ID.String(), `{"author":"bob"}`},
	} {
		resp := s.do(t, step.method, step.path, "application/json", []byte(step.body))
		if resp.status != 201 {
			t.Fatalf("%s %s: got %d %s", step.method, step.path, resp.status, resp.body)
		}
	}
	page := s.history(t, "/api/rooms/a/messages")
	if len(page) != 2 {
		t.Fatalf("history has %d messages, want 2", len(page))
	}
	resp := s.do(t, "GET", "/api/rooms/a/messages", "", nil)
	var raw struct {
		Events []store.Message `json:"events"`
	}
	json.Unmarshal(resp.body, &raw)
	first, second := raw.Events[0], raw.Events[1]
	if first.Text != "hello" || first.EditedAt.IsZero() || len(first.Reactions) != 1 ||
		first.Reactions[0].Emoji != "👍" || first.Reactions[0].Count != 2 || strings.Join(first.Reactions[0].Authors, ",") != "bob,carol" {
		t.Fatalf("first: %+v", first)
	}
	if !second.Redacted || second.Text != "" || second.DeletedAt.IsZero() || second.ReplyTo != m.ID {
		t.Fatalf("second: %+v", second)
	}
	if evs := s.history(t, "/api/rooms/a/messages?view=events&limit=1000"); len(evs) != 8 {
		t.Fatalf("raw events: got %d, want 8", len(evs))
	}
	if resp := s.do(t, "GET", "/api/rooms/a/messages?view=folded", "", nil); resp.status != 400 {
		t.Fatalf("bad view: got %d", resp.status)
	}
}

// TestResumeAppliesMissedChanges: a client that drops, misses an edit and a
// delete, and resumes with Last-Event-ID receives both.
func TestResumeAppliesMissedChanges(t *testing.T) {
	s := mustStartServer(t)
	r, stop := s.openStream(t, "/api/rooms/a/events?last_event_id=00000000000000000000000000")
	keep := s.post(t, "a", map[string]string{"author": "alice", "text": "keep me"}, 201)
	drop := s.post(t, "a", map[string]string{"author": "alice", "text": "drop me"}, 201)
	seen := nextEvents(t, r, 2)
	stop()

	s.do(t, "PATCH", "/api/rooms/a/messages/"+keep.ID.String(), "application/json", []byte(`{"author":"alice","text":"kept, edited"}`))
	s.do(t, "DELETE", "/api/rooms/a/messages/"+drop.ID.String()+"?author=alice", "", nil)

	r, stop = s.openStream(t, "/api/rooms/a/events", "Last-Event-ID", seen[1].ID.String())
	defer stop()
	missed := nextEvents(t, r, 2)
	if missed[0].Type != "edit" || missed[0].Target != keep.ID || missed[0].Text != "kept, edited" {
		t.Fatalf("first missed event: %+v", missed[0])
	}
	if missed[1].Type != "delete" || missed[1].Target != drop.ID {
		t.Fatalf("second missed event: %+v", missed[1])
	}
}

// TestDeletedTextIsGone: after a delete neither history, the raw events,
// the export, a replay nor the bytes of the db file hold the text.
func TestDeletedTextIsGone(t *testing.T) {
	s := mustStartServer(t)
	const secret = "my password is hunter2-ZZ9"
	m := s.post(t, "a", map[string]string{"author": "alice", "text": secret}, 201)
	for i := 0; i < 20; i++ {
		s.post(t, "a", map[string]string{"author": "bob", "text": "noise"}, 201)
	}
	s.do(t, "PATCH", "/api/rooms/a/messages/"+m.ID.String(), "application/json", []byte(`{"author":"alice","text":"`+secret+` (edited)"}`))
	if resp := s.do(t, "DELETE", "/api/rooms/a/messages/"+m.ID.String(), "application/json", []byte(`{"author":"alice"}`)); resp.status != 201 {
		t.Fatalf("delete: %d %s", resp.status, resp.body)
	}
	r, stop := s.openStream(t, "/api/rooms/a/events?last_event_id=00000000000000000000000000")
	defer stop()
	var replay []string
	for _, e := range nextEvents(t, r, 23) {
		b, _ := json.Marshal(e)
		replay = append(replay, string(b))
	}
	for name, body := range map[string][]byte{
		"history": s.do(t, "GET", "/api/rooms/a/messages", "", nil).body,
		"events":  s.do(t, "GET", "/api/rooms/a/messages?view=events&limit=1000", "", nil).body,
		"export":  s.do(t, "GET", "/api/rooms/a/export", "", nil).body,
		"replay":  []byte(strings.Join(replay, "\n")),
	} {
		if bytes.Contains(body, []byte("hunter2")) {
			t.Errorf("%s still holds the deleted text", name)
		}
	}
	// Stale copies in free pages are erased in the background.
	for deadline := time.Now().Add(time.Minute); s.db.Stats().ScrubPending > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("scrub still pending after a minute: %+v", s.db.Stats())
		}
	}
	file, err := os.ReadFile(s.db.Path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(file, []byte("hunter2")) {
		t.Error("the db file still holds the deleted text")
	}
}
