package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
)

// join redeems an invite code as name and returns the guest's cookie
// header and the answer's name, failing unless the join succeeds.
func (s *authServer) join(tb testing.TB, code, name string) ([]string, string) {
	tb.Helper()
	resp := s.call(tb, http.MethodPost, "/api/join/"+code, map[string]string{"name": name})
	if resp.status != http.StatusOK {
		tb.Fatalf("join as %s: got %d %s", name, resp.status, resp.body)
	}
	var who struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(resp.body, &who); err != nil {
		tb.Fatal(err)
	}
	return []string{"Cookie", sessionOf(tb, resp.header)}, who.Name
}

// TestInviteEndsWithItsCreatorsAccess: an invite never grants more than
// its creator may still reach. However the creator loses its room, the
// guests the invite admitted lose their streams and their requests fail at
// once, and the invite admits nobody else.
func TestInviteEndsWithItsCreatorsAccess(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup returns the header of the invite's creator; the room is
		// acme.
		setup func(t *testing.T, s *authServer) []string
		lose  func(t *testing.T, s *authServer)
	}{
		{"removed from the room", func(t *testing.T, s *authServer) []string {
			maria := s.addUser(t, "maria")
			s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/acme/access", map[string]any{"private": true, "members": []string{"maria"}}, s.admin...)
			return maria
		}, func(t *testing.T, s *authServer) {
			s.mustCall(t, http.StatusOK, "DELETE", "/api/rooms/acme/members/maria", nil, s.admin...)
		}},
		{"members replaced", func(t *testing.T, s *authServer) []string {
			maria := s.addUser(t, "maria")
			s.addUser(t, "nina")
			s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/acme/access", map[string]any{"private": true, "members": []string{"maria"}}, s.admin...)
			return maria
		}, func(t *testing.T, s *authServer) {
			s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/acme/access", map[string]any{"private": true, "members": []string{"nina"}}, s.admin...)
		}},
		{"public room made private", func(t *testing.T, s *authServer) []string {
			return s.addUser(t, "maria")
		}, func(t *testing.T, s *authServer) {
			s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/acme/access", map[string]any{"private": true}, s.admin...)
		}},
		{"creator deleted", func(t *testing.T, s *authServer) []string {
			return s.addUser(t, "maria")
		}, func(t *testing.T, s *authServer) {
			s.mustCall(t, http.StatusNoContent, "DELETE", "/api/users/maria", nil, s.admin...)
		}},
		{"admin demoted", func(t *testing.T, s *authServer) []string {
			s.mustCall(t, http.StatusCreated, "POST", "/api/users", map[string]string{"name": "ada", "password": "ada-password", "role": "admin"}, s.admin...)
			s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/acme/access", map[string]any{"private": true}, s.admin...)
			return s.login(t, "ada", "ada-password", true)
		}, func(t *testing.T, s *authServer) {
			s.mustCall(t, http.StatusOK, "PUT", "/api/users/ada/role", map[string]string{"role": "member"}, s.admin...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustStartAuthServer(t)
			creator := tc.setup(t, s)
			used := s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/acme/invites", nil, creator...)
			unused := s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/acme/invites", nil, creator...)
			kept := s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/acme/invites", nil, s.admin...)
			guest, _ := s.join(t, used["code"].(string), "Bob")
			other, _ := s.join(t, kept["code"].(string), "Carol")
			r, stop := s.openStream(t, "/api/rooms/acme/events", guest...)
			defer stop()

			tc.lose(t, s)
			mustEnd(t, r, "the guest's stream went on after the invite's creator lost the room")
			if got, body := s.status(t, "GET", "/api/rooms/acme/messages", "", guest...); got != http.StatusUnauthorized {
				t.Errorf("the guest's request: got %d %s, want 401", got, body)
			}
			if got, body := s.status(t, "POST", "/api/join/"+unused["code"].(string), `{"name":"Dave"}`); got != http.StatusNotFound {
				t.Errorf("joining with the creator's other invite: got %d %s, want 404", got, body)
			}
			invs := s.mustCall(t, http.StatusOK, "GET", "/api/rooms/acme/invites", nil, s.admin...)["invites"].([]any)
			if len(invs) != 1 || invs[0].(map[string]any)["id"] != kept["id"] {
				t.Errorf("invites left: got %v, want only the admin's", invs)
			}
			// The admin's invite and its guest are untouched.
			if got, body := s.status(t, "GET", "/api/rooms/acme/messages", "", other...); got != http.StatusOK {
				t.Errorf("the other invite's guest: got %d %s, want 200", got, body)
			}
		})
	}
}

// TestInviteSurvivesOthersChanges: access changes that leave the creator
// its room leave its invites alone.
func TestInviteSurvivesOthersChanges(t *testing.T) {
	s := mustStartAuthServer(t)
	maria := s.addUser(t, "maria")
	s.addUser(t, "nina")
	s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/acme/access", map[string]any{"private": true, "members": []string{"maria", "nina"}}, s.admin...)
	inv := s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/acme/invites", nil, maria...)
	guest, _ := s.join(t, inv["code"].(string), "Bob")
	s.mustCall(t, http.StatusOK, "DELETE", "/api/rooms/acme/members/nina", nil, s.admin...)
	s.mustCall(t, http.StatusNoContent, "DELETE", "/api/users/nina", nil, s.admin...)
	s.mustCall(t, http.StatusOK, "GET", "/api/rooms/acme/messages", nil, guest...)
	s.join(t, inv["code"].(string), "Carol")
}

// TestInviteExpiryIsCapped: expires_in may not pass the server's
// MaxInviteTTL, and the default never does.
func TestInviteExpiryIsCapped(t *testing.T) {
	s := mustStartAuthServer(t)
	for _, tc := range []struct {
		expiresIn string
		want      int
	}{
		{"876000h", http.StatusBadRequest},
		{"721h", http.StatusBadRequest},
		{"720h", http.StatusCreated},
		{"72h", http.StatusCreated},
	} {
		resp := s.call(t, http.MethodPost, "/api/rooms/acme/invites", map[string]string{"expires_in": tc.expiresIn}, s.admin...)
		if resp.status != tc.want {
			t.Errorf("expires_in %s: got %d %s, want %d", tc.expiresIn, resp.status, resp.body, tc.want)
		}
		if tc.want == http.StatusBadRequest {
			if msg := resp.errorMessage(t); !strings.Contains(msg, "at most 720h") {
				t.Errorf("expires_in %s: got %q, want it to name the maximum", tc.expiresIn, msg)
			}
		}
	}

	short := mustStartAuthServer(t, func(srv *api.Server) { srv.MaxInviteTTL = 24 * time.Hour })
	inv := short.mustCall(t, http.StatusCreated, "POST", "/api/rooms/acme/invites", nil, short.admin...)
	created, _ := time.Parse(time.RFC3339, inv["created"].(string))
	expires, _ := time.Parse(time.RFC3339, inv["expires"].(string))
	if got := expires.Sub(created); got != 24*time.Hour {
		t.Errorf("default expiry under a 24h maximum: got %v, want 24h", got)
	}
}

// TestConcurrentMemberChanges: members added and removed at the same time
// all take effect; none is lost to another's change.
func TestConcurrentMemberChanges(t *testing.T) {
	s := mustStartAuthServer(t)
	var users []string
	for i := range 24 {
		name := fmt.Sprintf("user%02d", i)
		s.mustCall(t, http.StatusCreated, "POST", "/api/users", map[string]string{"name": name, "password": name + "-password"}, s.admin...)
		users = append(users, name)
	}
	change := func(method string, names []string) {
		var wg sync.WaitGroup
		for _, name := range names {
			wg.Go(func() {
				if got, body := s.status(t, method, "/api/rooms/priv/members/"+name, "", s.admin...); got != http.StatusOK {
					t.Errorf("%s %s: got %d %s", method, name, got, body)
				}
			})
		}
		wg.Wait()
	}
	members := func() []string {
		var got []string
		for _, m := range s.mustCall(t, http.StatusOK, "GET", "/api/rooms/priv/access", nil, s.admin...)["members"].([]any) {
			got = append(got, m.(string))
		}
		return got
	}
	change("PUT", users)
	if got := members(); !slices.Equal(got, users) {
		t.Fatalf("after adding %d members at once: got %v", len(users), got)
	}
	change("DELETE", users[:12])
	if got := members(); !slices.Equal(got, users[12:]) {
		t.Fatalf("after removing 12 at once: got %v, want %v", got, users[12:])
	}
}

// TestGuestsWithOneNameAreTwoAuthors: two guests who choose the same name
// get different author names, so neither can change the other's messages,
// and their reactions count twice.
func TestGuestsWithOneNameAreTwoAuthors(t *testing.T) {
	s := mustStartAuthServer(t)
	inv := s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/acme/invites", nil, s.admin...)
	first, firstName := s.join(t, inv["code"].(string), "Bob")
	second, secondName := s.join(t, inv["code"].(string), "Bob")
	if firstName != "Bob (guest)" || secondName != "Bob (guest 2)" {
		t.Fatalf("names: got %q and %q, want Bob (guest) and Bob (guest 2)", firstName, secondName)
	}
	if me := s.mustCall(t, http.StatusOK, "GET", "/api/me", nil, second...); me["name"] != secondName {
		t.Fatalf("the second guest's /api/me: got %v, want %s", me, secondName)
	}
	msg := s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/acme/messages", map[string]string{"text": "my order"}, first...)
	if msg["author"] != firstName {
		t.Fatalf("author: got %v, want %s", msg["author"], firstName)
	}
	path := "/api/rooms/acme/messages/" + msg["id"].(string)
	s.mustSteps(t, []step{
		{"the other Bob edits", "PATCH", path, map[string]string{"text": "hijacked"}, second, http.StatusForbidden},
		{"the other Bob deletes", "DELETE", path, nil, second, http.StatusForbidden},
		{"the other Bob posts as the first", "POST", "/api/rooms/acme/messages", map[string]string{"author": firstName, "text": "x"}, second, http.StatusForbidden},
		{"the first Bob reacts", "POST", path + "/reactions", map[string]string{"emoji": "👍"}, first, http.StatusCreated},
		{"the other Bob's reaction counts too", "POST", path + "/reactions", map[string]string{"emoji": "👍"}, second, http.StatusCreated},
		{"the first Bob edits his own", "PATCH", path, map[string]string{"text": "my order #1042"}, first, http.StatusCreated},
	})
	evs := s.mustCall(t, http.StatusOK, "GET", "/api/rooms/acme/messages", nil, s.admin...)["events"].([]any)
	got := evs[0].(map[string]any)
	reactions, _ := got["reactions"].([]any)
	if len(evs) != 1 || got["text"] != "my order #1042" || len(reactions) != 1 || reactions[0].(map[string]any)["count"] != 2.0 {
		t.Fatalf("history: got %v, want the first Bob's edited message with 👍 from both", evs)
	}

	// A name that already looks like a numbered guest is refused, and so is
	// one that looks like Bob by an invisible or bidi control character.
	for _, name := range []string{"Bob (guest 2)", "Bob (Guest)", `Bob\u200b`, `\u202eBob`, `B\u200dob`} {
		if got, body := s.status(t, "POST", "/api/join/"+inv["code"].(string), `{"name":"`+name+`"}`); got != http.StatusBadRequest {
			t.Errorf("joining as %q: got %d %s, want 400", name, got, body)
		}
	}
}

// TestGuestCannotListMembers: a guest learns who is in the conversation
// from its messages, never the room's member list with its login names.
func TestGuestCannotListMembers(t *testing.T) {
	s := mustStartAuthServer(t)
	s.addUser(t, "quiet-member")
	s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/acme/access", map[string]any{"private": true, "members": []string{"quiet-member"}}, s.admin...)
	guest := s.guest(t, "acme", "Carol")
	got, body := s.status(t, "GET", "/api/rooms/acme/access", "", guest...)
	if got != http.StatusForbidden || strings.Contains(body, "quiet-member") {
		t.Fatalf("a guest asks for the room's access: got %d %s, want 403 without member names", got, body)
	}
}
