package api_test

import (
	"net/http"
	"testing"
)

// TestErrorTextsSayWhatHappened: a 404 says what was not found and a 409
// says what it conflicts with, whichever store rule refused the request;
// the conflict of one kind never reads like another's.
func TestErrorTextsSayWhatHappened(t *testing.T) {
	s := mustStartAuthServer(t)
	s.addUser(t, "bob")
	msg := s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/general/messages", map[string]string{"text": "oops"}, s.admin...)
	id := msg["id"].(string)
	s.mustCall(t, http.StatusCreated, "DELETE", "/api/rooms/general/messages/"+id, nil, s.admin...)
	const unknown = "01M802EGKM2R908TN6558B93Q5"
	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		status       int
		want         string
	}{
		{"edit of a deleted message", "PATCH", "/api/rooms/general/messages/" + id, map[string]string{"text": "x"}, 409, "the message was deleted"},
		{"edit of an unknown message", "PATCH", "/api/rooms/general/messages/" + unknown, map[string]string{"text": "x"}, 404, "no such message " + unknown + " in room general"},
		{"reaction in a room without events", "POST", "/api/rooms/empty/messages/" + unknown + "/reactions", map[string]string{"emoji": "👍"}, 404, "no such message " + unknown + " in room empty"},
		{"a user that exists", "POST", "/api/users", map[string]string{"name": "bob", "password": "another-password"}, 409, "user bob exists"},
		{"the last admin", "DELETE", "/api/users/root", nil, 409, "root is the last admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.call(t, tc.method, tc.path, tc.body, s.admin...)
			if got := resp.errorMessage(t); resp.status != tc.status || got != tc.want {
				t.Fatalf("got %d %q, want %d %q", resp.status, got, tc.status, tc.want)
			}
		})
	}
}
