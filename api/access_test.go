package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
)

// TestAccessTable: what each kind of caller gets from each endpoint in each
// kind of room. Rooms: pub is public; priv is private with member alice;
// acme is private with no members, and the guest's room.
func TestAccessTable(t *testing.T) {
	s := mustStartAuthServer(t)
	alice := s.addUser(t, "alice")
	bob := s.addUser(t, "bob")
	s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/priv/access", map[string]any{"private": true, "members": []string{"alice"}}, s.admin...)
	s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/acme/access", map[string]any{"private": true}, s.admin...)
	first := map[string]string{} // room → its first message's id
	for _, room := range []string{"pub", "priv", "acme"} {
		m := s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/"+room+"/messages", map[string]string{"text": "first in " + room}, s.admin...)
		first[room] = m["id"].(string)
	}
	guest := s.guest(t, "acme", "Carol")
	files := map[string]string{} // room → a file of a message there, with a thumbnail
	for _, room := range []string{"pub", "priv", "acme"} {
		files[room] = s.mustPostFile(t, room, tinyPNG(t), s.admin...)
	}

	doomed := s.mustCall(t, http.StatusCreated, "POST", "/api/tokens", map[string]string{"label": "doomed"}, bob...)
	revoked := []string{"Authorization", "Bearer " + doomed["token"].(string)}
	s.mustCall(t, http.StatusNoContent, "DELETE", "/api/tokens/"+doomed["id"].(string), nil, revoked...)
	expiring := s.mustCall(t, http.StatusCreated, "POST", "/api/tokens", map[string]string{"expires_in": "1h"}, bob...)
	expired := []string{"Authorization", "Bearer " + expiring["token"].(string)}
	lateInvite := s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/acme/invites", map[string]string{"expires_in": "1h"}, s.admin...)
	s.clock.advance(2 * time.Hour)

	who := map[string][]string{
		"anonymous": nil, "guest of acme": guest, "alice (member of priv)": alice, "bob (member)": bob,
		"admin": s.admin, "revoked token": revoked, "expired token": expired,
	}
	// Room endpoints: %s is the room, {first} its first message. Statuses
	// are for pub, priv, acme.
	endpoints := []struct{ method, path, body string }{
		{"GET", "/api/rooms/%s/messages", ""},
		{"GET", "/api/rooms/%s/messages?around={first}&limit=3", ""},
		{"POST", "/api/rooms/%s/messages", `{"text":"hello"}`},
		{"GET", "/api/rooms/%s/events", ""},
		{"GET", "/api/events?rooms=%s", ""},
		{"GET", "/api/rooms/%s/events?last_event_id=00000000000000000000000000", ""},
		{"GET", "/api/rooms/%s/export", ""},
		{"GET", "/api/rooms/%s/settings", ""},
		{"PUT", "/api/rooms/%s/settings", `{"retention":null}`},
		{"POST", "/api/rooms/%s/invites", `{}`},
		{"GET", "/api/rooms/%s/access", ""},
		{"DELETE", "/api/rooms/%s/members/nobody", ""}, // changes nothing: rows stay independent
		{"PUT", "/api/rooms/%s/members/root", ""},      // an admin as a member: no one's access changes
		{"GET", "/api/rooms/%s/presence", ""},
		{"POST", "/api/rooms/%s/typing", ""},
		{"POST", "/api/rooms/%s/signal", `{"kind":"nope"}`}, // 400 once past access
		{"GET", "/api/rooms/%s/read", ""},
		{"PUT", "/api/rooms/%s/read", `{"id":"00000000000000000000000000"}`}, // moves nothing
		{"GET", "/api/search?q=first&rooms=%s", ""},
		{"POST", "/api/rooms/%s/files?name=a.txt", `plain text`},
		{"GET", "/api/rooms/%s/files/{file}", ""},
		{"HEAD", "/api/rooms/%s/files/{file}", ""},
		{"GET", "/api/rooms/%s/files/{file}/thumb", ""},
		{"GET", "/api/rooms/%s/export?format=tar", ""}, // the room with its files
	}
	all401 := [][3]int{}
	for range endpoints {
		all401 = append(all401, [3]int{401, 401, 401})
	}
	want := map[string][][3]int{
		"anonymous":     all401,
		"revoked token": all401,
		"expired token": all401,
		"guest of acme": {
			{403, 403, 200}, {403, 403, 200}, {403, 403, 201}, {403, 403, 200}, {403, 403, 200}, {403, 403, 200}, {403, 403, 200},
			{403, 403, 200}, {403, 403, 403}, {403, 403, 403}, {403, 403, 403}, {403, 403, 403}, {403, 403, 403},
			{403, 403, 200}, {403, 403, 204}, {403, 403, 400}, {403, 403, 200}, {403, 403, 200},
			{403, 403, 200},
			{403, 403, 201}, {403, 403, 200}, {403, 403, 200}, {403, 403, 200},
			{403, 403, 200},
		},
		"alice (member of priv)": {
			{200, 200, 403}, {200, 200, 403}, {201, 201, 403}, {200, 200, 403}, {200, 200, 403}, {200, 200, 403}, {200, 200, 403},
			{200, 200, 403}, {403, 403, 403}, {201, 201, 403}, {200, 200, 403}, {403, 403, 403}, {403, 403, 403},
			{200, 200, 403}, {204, 204, 403}, {400, 400, 403}, {200, 200, 403}, {200, 200, 403},
			{200, 200, 403},
			{201, 201, 403}, {200, 200, 403}, {200, 200, 403}, {200, 200, 403},
			{200, 200, 403},
		},
		"bob (member)": {
			{200, 403, 403}, {200, 403, 403}, {201, 403, 403}, {200, 403, 403}, {200, 403, 403}, {200, 403, 403}, {200, 403, 403},
			{200, 403, 403}, {403, 403, 403}, {201, 403, 403}, {200, 403, 403}, {403, 403, 403}, {403, 403, 403},
			{200, 403, 403}, {204, 403, 403}, {400, 403, 403}, {200, 403, 403}, {200, 403, 403},
			{200, 403, 403},
			{201, 403, 403}, {200, 403, 403}, {200, 403, 403}, {200, 403, 403},
			{200, 403, 403},
		},
		"admin": {
			{200, 200, 200}, {200, 200, 200}, {201, 201, 201}, {200, 200, 200}, {200, 200, 200}, {200, 200, 200}, {200, 200, 200},
			{200, 200, 200}, {200, 200, 200}, {201, 201, 201}, {200, 200, 200}, {200, 200, 200}, {200, 200, 200},
			{200, 200, 200}, {204, 204, 204}, {400, 400, 400}, {200, 200, 200}, {200, 200, 200},
			{200, 200, 200},
			{201, 201, 201}, {200, 200, 200}, {200, 200, 200}, {200, 200, 200},
			{200, 200, 200},
		},
	}
	// Endpoints without a room: statuses for each caller.
	global := []struct {
		method, path, body string
		want               map[string]int
	}{
		{"GET", "/api/rooms", "", map[string]int{"guest of acme": 200, "alice (member of priv)": 200, "bob (member)": 200, "admin": 200}},
		{"GET", "/api/mentions", "", map[string]int{"guest of acme": 200, "alice (member of priv)": 200, "bob (member)": 200, "admin": 200}},
		{"GET", "/api/search?q=first", "", map[string]int{"guest of acme": 200, "alice (member of priv)": 200, "bob (member)": 200, "admin": 200}},
		{"GET", "/api/me", "", map[string]int{"guest of acme": 200, "alice (member of priv)": 200, "bob (member)": 200, "admin": 200}},
		{"GET", "/api/users", "", map[string]int{"guest of acme": 403, "alice (member of priv)": 403, "bob (member)": 403, "admin": 200}},
		{"GET", "/api/tokens", "", map[string]int{"guest of acme": 403, "alice (member of priv)": 200, "bob (member)": 200, "admin": 200}},
		{"POST", "/api/tokens", "", map[string]int{"guest of acme": 403, "alice (member of priv)": 201, "bob (member)": 201, "admin": 201}},
		// Bob's own password needs the current one; an admin needs none.
		{"PUT", "/api/users/bob/password", `{"password":"bob-password-2"}`, map[string]int{"guest of acme": 403, "alice (member of priv)": 403, "bob (member)": 400, "admin": 204}},
		{"GET", "/api/admin/backup", "", map[string]int{"guest of acme": 403, "alice (member of priv)": 403, "bob (member)": 403, "admin": 200}},
		{"GET", "/metrics", "", map[string]int{"guest of acme": 403, "alice (member of priv)": 403, "bob (member)": 403, "admin": 200}},
		{"GET", "/healthz", "", map[string]int{"anonymous": 200, "revoked token": 200, "expired token": 200, "guest of acme": 200, "alice (member of priv)": 200, "bob (member)": 200, "admin": 200}},
	}

	for _, name := range slices.Sorted(maps.Keys(who)) {
		header := who[name]
		t.Run(name, func(t *testing.T) {
			for i, ep := range endpoints {
				for j, room := range []string{"pub", "priv", "acme"} {
					path := strings.ReplaceAll(fmt.Sprintf(ep.path, room), "{first}", first[room])
					path = strings.ReplaceAll(path, "{file}", files[room])
					if got, body := s.status(t, ep.method, path, ep.body, header...); got != want[name][i][j] {
						t.Errorf("%s %s: got %d %s, want %d", ep.method, path, got, body, want[name][i][j])
					}
				}
			}
			for _, ep := range global {
				w, ok := ep.want[name]
				if !ok {
					w = http.StatusUnauthorized
				}
				if got, body := s.status(t, ep.method, ep.path, ep.body, header...); got != w {
					t.Errorf("%s %s: got %d %s, want %d", ep.method, ep.path, got, body, w)
				}
			}
		})
	}

	t.Run("401 says how to authenticate", func(t *testing.T) {
		resp := s.do(t, http.MethodGet, "/api/rooms", "", nil)
		if got := resp.header.Get("WWW-Authenticate"); got != `Bearer realm="parley"` {
			t.Fatalf("WWW-Authenticate: got %q", got)
		}
	})

	t.Run("expired invite", func(t *testing.T) {
		got, body := s.status(t, "POST", "/api/join/"+lateInvite["code"].(string), `{"name":"Dave"}`)
		if got != http.StatusNotFound {
			t.Fatalf("join with an expired invite: got %d %s, want 404", got, body)
		}
	})
}

// TestRoomListShowsOnlyUsableRooms: the room list is filtered per caller.
func TestRoomListShowsOnlyUsableRooms(t *testing.T) {
	s := mustStartAuthServer(t)
	bob := s.addUser(t, "bob")
	s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/secret/access", map[string]any{"private": true}, s.admin...)
	for _, room := range []string{"pub", "secret", "acme"} {
		s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/"+room+"/messages", map[string]string{"text": "x"}, s.admin...)
	}
	guest := s.guest(t, "acme", "Carol")
	for _, tc := range []struct {
		name   string
		header []string
		want   string
	}{
		{"admin", s.admin, "acme,pub,secret"},
		{"member", bob, "acme,pub"},
		{"guest", guest, "acme"},
	} {
		var got []string
		for _, r := range s.mustCall(t, http.StatusOK, "GET", "/api/rooms", nil, tc.header...)["rooms"].([]any) {
			got = append(got, r.(map[string]any)["name"].(string))
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, got, tc.want)
		}
	}
}

// TestGuestCannotLearnOtherRoomsExist: for a guest, a private room with
// events and a room that never existed answer alike on every endpoint, and
// nothing of the other room reaches the guest's stream.
func TestGuestCannotLearnOtherRoomsExist(t *testing.T) {
	s := mustStartAuthServer(t)
	s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/secret/access", map[string]any{"private": true}, s.admin...)
	first := s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/secret/messages", map[string]string{"text": "board meeting"}, s.admin...)
	guest := s.guest(t, "acme", "Carol")
	id := first["id"].(string)

	for _, ep := range []struct{ method, path, body string }{
		{"GET", "/api/rooms/%s/messages", ""},
		{"GET", "/api/rooms/%s/messages?view=events", ""},
		{"GET", "/api/rooms/%s/messages?around=" + id, ""},
		{"POST", "/api/rooms/%s/messages", `{"text":"hi"}`},
		{"PATCH", "/api/rooms/%s/messages/" + id, `{"text":"x"}`},
		{"DELETE", "/api/rooms/%s/messages/" + id, ""},
		{"POST", "/api/rooms/%s/messages/" + id + "/reactions", `{"emoji":"👍"}`},
		{"GET", "/api/rooms/%s/events", ""},
		{"GET", "/api/rooms/%s/events?last_event_id=00000000000000000000000000", ""},
		{"GET", "/api/events?rooms=acme,%s", ""},
		{"GET", "/api/rooms/%s/export", ""},
		{"GET", "/api/rooms/%s/export?format=html", ""},
		{"GET", "/api/rooms/%s/export?format=tar", ""},
		{"GET", "/api/rooms/%s/settings", ""},
		{"GET", "/api/rooms/%s/access", ""},
		{"GET", "/api/rooms/%s/invites", ""},
		{"POST", "/api/rooms/%s/import", "{}"},
		{"GET", "/api/rooms/%s/presence", ""},
		{"POST", "/api/rooms/%s/typing", ""},
		{"POST", "/api/rooms/%s/signal", `{"kind":"ring","from":"a-1","to":"a-2"}`},
		{"GET", "/api/rooms/%s/read", ""},
		{"PUT", "/api/rooms/%s/read", `{"id":"` + id + `"}`},
		{"GET", "/api/search?q=board&rooms=%s", ""},
		{"GET", "/api/search?q=board&rooms=acme,%s", ""},
	} {
		secretStatus, secretBody := s.status(t, ep.method, fmt.Sprintf(ep.path, "secret"), ep.body, guest...)
		ghostStatus, ghostBody := s.status(t, ep.method, fmt.Sprintf(ep.path, "ghost"), ep.body, guest...)
		if secretStatus != ghostStatus || strings.ReplaceAll(secretBody, "secret", "ghost") != ghostBody {
			t.Errorf("%s %s tells rooms apart: %d %s vs %d %s", ep.method, ep.path, secretStatus, secretBody, ghostStatus, ghostBody)
		}
		if secretStatus < 400 {
			t.Errorf("%s %s: got %d for a room the guest may not use", ep.method, ep.path, secretStatus)
		}
	}

	// The guest's stream, resumed from the very start, carries acme only.
	r, stop := s.openStream(t, "/api/rooms/acme/events", append([]string{"Last-Event-ID", "00000000000000000000000000"}, guest...)...)
	defer stop()
	s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/secret/messages", map[string]string{"text": "more secrets"}, s.admin...)
	s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/acme/messages", map[string]string{"text": "hello Carol"}, s.admin...)
	if evs := nextEvents(t, r, 1); evs[0].Room != "acme" || evs[0].Text != "hello Carol" {
		t.Fatalf("guest stream: got %+v, want acme's message only", evs[0])
	}
}

// TestCrossSiteFormPostIsRefused: a form on another site posting with the
// user's session cookie is refused; the page's own origin is not.
func TestCrossSiteFormPostIsRefused(t *testing.T) {
	s := mustStartAuthServer(t)
	s.addUser(t, "alice")
	cookie := s.login(t, "alice", "alice-password", false)
	form := []byte("text=transfer+all+the+money")
	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"cross-site", []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"cross-site, old browser without Sec-Fetch-Site", []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"same origin", []string{"Origin", s.URL(), "Sec-Fetch-Site", "same-origin"}, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.do(t, http.MethodPost, "/api/rooms/general/messages", "application/x-www-form-urlencoded", form, append(tc.header, cookie...)...)
			if resp.status != tc.want {
				t.Fatalf("got %d %s, want %d", resp.status, resp.body, tc.want)
			}
			if tc.want == http.StatusForbidden {
				resp.errorMessage(t)
			}
		})
	}
	evs := s.history(t, "/api/rooms/general/messages", s.admin...)
	if len(evs) != 1 || evs[0].Author != "alice" {
		t.Fatalf("stored: got %+v, want only the same-origin post", evs)
	}
}

// TestLoginBruteForceIsLimited: wrong passwords from one address run into
// 429 with Retry-After, and then even the right password waits.
func TestLoginBruteForceIsLimited(t *testing.T) {
	s := mustStartAuthServer(t, func(srv *api.Server) { srv.Limits.LoginPerMinuteIP = 5 })
	s.addUser(t, "alice")
	// The setup, the admin's token and alice's took three attempts of five.
	for i := 0; i < 2; i++ {
		if got, body := s.status(t, "POST", "/api/login", `{"name":"alice","password":"guess-`+fmt.Sprint(i)+`"}`); got != http.StatusUnauthorized {
			t.Fatalf("attempt %d: got %d %s, want 401", i, got, body)
		}
	}
	for _, pw := range []string{"another-guess", "alice-password"} {
		resp := s.call(t, http.MethodPost, "/api/login", map[string]string{"name": "alice", "password": pw})
		if resp.status != http.StatusTooManyRequests || resp.header.Get("Retry-After") == "" {
			t.Fatalf("got %d (Retry-After %q) %s, want 429 with Retry-After", resp.status, resp.header.Get("Retry-After"), resp.body)
		}
		resp.errorMessage(t)
	}
	// Basic auth for tokens and guest joins count as sign-in attempts too.
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/api/tokens", nil)
	req.SetBasicAuth("alice", "alice-password")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("basic auth: got %d, want 429", resp.StatusCode)
	}
	if got, _ := s.status(t, "POST", "/api/join/pi_guess", `{"name":"x"}`); got != http.StatusTooManyRequests {
		t.Fatalf("join: got %d, want 429", got)
	}
	// A minute later one attempt is back.
	s.clock.advance(13 * time.Second)
	s.login(t, "alice", "alice-password", false)
}

// TestPasswordChangeIsLimited: changing a password takes a password hash
// (and checks one, for your own), so it counts as a sign-in attempt at the
// account: over the limit it is 429, and nothing changes.
func TestPasswordChangeIsLimited(t *testing.T) {
	s := mustStartAuthServer(t, func(srv *api.Server) { srv.Limits.LoginPerMinute = 3 })
	s.addUser(t, "alice") // the first attempt at alice: her token
	for i := range 2 {
		s.mustCall(t, http.StatusNoContent, "PUT", "/api/users/alice/password", map[string]string{"password": fmt.Sprintf("password-%d", i)}, s.admin...)
	}
	resp := s.call(t, http.MethodPut, "/api/users/alice/password", map[string]string{"password": "password-2"}, s.admin...)
	if resp.status != http.StatusTooManyRequests || resp.header.Get("Retry-After") == "" {
		t.Fatalf("got %d (Retry-After %q) %s, want 429 with Retry-After", resp.status, resp.header.Get("Retry-After"), resp.body)
	}
	s.clock.advance(time.Minute)
	s.login(t, "alice", "password-1", false)
}

// TestPostingIsLimited: over the per-identity rate a post is 429 and is not
// stored.
func TestPostingIsLimited(t *testing.T) {
	s := mustStartAuthServer(t, func(srv *api.Server) { srv.Limits.PostPerSecond = 1 })
	alice := s.addUser(t, "alice")
	for i := 0; i < 3; i++ { // the burst: three times the rate
		s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/a/messages", map[string]string{"text": fmt.Sprint(i)}, alice...)
	}
	resp := s.call(t, http.MethodPost, "/api/rooms/a/messages", map[string]string{"text": "one too many", "client_id": "c1"}, alice...)
	if resp.status != http.StatusTooManyRequests || resp.header.Get("Retry-After") != "1" {
		t.Fatalf("got %d Retry-After %q, want 429 Retry-After 1", resp.status, resp.header.Get("Retry-After"))
	}
	// Others are not held up by alice, and alice's retry after the wait
	// stores the message once.
	s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/a/messages", map[string]string{"text": "admin"}, s.admin...)
	s.clock.advance(time.Second)
	s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/a/messages", map[string]string{"text": "one too many", "client_id": "c1"}, alice...)
	if evs := s.history(t, "/api/rooms/a/messages", s.admin...); texts(evs) != "0,1,2,admin,one too many" {
		t.Fatalf("stored: got %s", texts(evs))
	}
}

// TestStreamsAreCapped: a caller's open streams are bounded.
func TestStreamsAreCapped(t *testing.T) {
	s := mustStartAuthServer(t, func(srv *api.Server) { srv.Limits.MaxStreams = 2 })
	alice := s.addUser(t, "alice")
	for i := 0; i < 2; i++ {
		_, stop := s.openStream(t, "/api/rooms/a/events", alice...)
		defer stop()
	}
	if got, body := s.status(t, "GET", "/api/rooms/a/events", "", alice...); got != http.StatusTooManyRequests {
		t.Fatalf("third stream: got %d %s, want 429", got, body)
	}
	_, stop := s.openStream(t, "/api/rooms/a/events", s.admin...) // someone else's
	stop()
}

// TestSecretsNeverLeak: passwords, their hashes, tokens, session cookies
// and invite codes appear in no log line, no export and no API answer but
// the one that hands them out.
func TestSecretsNeverLeak(t *testing.T) {
	var logs syncBuffer
	s := mustStartAuthServer(t, func(srv *api.Server) {
		srv.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	alice := s.addUser(t, "alice")
	session := s.login(t, "alice", "alice-password", false)
	inv := s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/acme/invites", nil, s.admin...)
	guest := s.call(t, http.MethodPost, "/api/join/"+inv["code"].(string), map[string]string{"name": "Carol"})
	guestCookie := sessionOf(t, guest.header)
	s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/acme/messages", map[string]string{"text": "hi"}, alice...)
	s.status(t, "GET", "/api/login?password=alice-password", "")                     // a wrong method, logged
	s.status(t, "POST", "/api/join/"+inv["code"].(string)+"x", `{"name":"Mallory"}`) // a bad code, logged
	s.status(t, "GET", "/api/rooms/acme/messages", "", "Authorization", "Bearer pt_not-a-real-token")

	u, err := s.db.User(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"password":      "alice-password",
		"password hash": u.PasswordHash,
		"token":         strings.TrimPrefix(alice[1], "Bearer "),
		"session":       strings.TrimPrefix(session[1], "parley_session="),
		"guest session": strings.TrimPrefix(guestCookie, "parley_session="),
		"invite code":   inv["code"].(string),
	}
	var seen strings.Builder
	for _, path := range []string{
		"/api/users", "/api/tokens", "/api/rooms/acme/invites", "/api/me", "/api/rooms",
		"/api/rooms/acme/messages", "/api/rooms/acme/export", "/api/rooms/acme/export?format=json",
		"/api/rooms/acme/export?format=html", "/api/rooms/acme/export?format=csv", "/metrics",
	} {
		_, body := s.status(t, "GET", path, "", s.admin...)
		seen.WriteString(body)
	}
	seen.WriteString(logs.String())
	if !strings.Contains(logs.String(), "route=/api/join/:code") {
		t.Fatalf("the debug log has no request lines to check:\n%s", logs.String())
	}
	for what, secret := range secrets {
		if secret == "" || len(secret) < 8 {
			t.Fatalf("%s: empty secret %q", what, secret)
		}
		if strings.Contains(seen.String(), secret) {
			t.Errorf("the %s appears in an answer or the log", what)
		}
	}
}

// TestLosingAccessEndsStreamsAndResumes: a member removed from a private
// room loses their open stream at once, and resuming with the last id they
// saw replays nothing of that room.
func TestLosingAccessEndsStreamsAndResumes(t *testing.T) {
	s := mustStartAuthServer(t)
	alice := s.addUser(t, "alice")
	s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/priv/access", map[string]any{"private": true, "members": []string{"alice"}}, s.admin...)
	r, stop := s.openStream(t, "/api/events?rooms=pub,priv", alice...)
	defer stop()
	s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/priv/messages", map[string]string{"text": "before"}, s.admin...)
	seen := nextEvents(t, r, 1)[0]

	s.mustCall(t, http.StatusOK, "DELETE", "/api/rooms/priv/members/alice", nil, s.admin...)
	s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/priv/messages", map[string]string{"text": "after"}, s.admin...)
	s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/pub/messages", map[string]string{"text": "public"}, s.admin...)
	mustEnd(t, r, "the stream went on after access was taken away")

	cursor := []string{"Last-Event-ID", seen.ID.String()}
	for _, path := range []string{"/api/events?rooms=pub,priv", "/api/rooms/priv/events"} {
		if got, body := s.status(t, "GET", path, "", append(cursor, alice...)...); got != http.StatusForbidden {
			t.Errorf("resume %s: got %d %s, want 403", path, got, body)
		}
	}
	r, stop = s.openStream(t, "/api/events?rooms=pub", append(cursor, alice...)...)
	defer stop()
	if evs := nextEvents(t, r, 1); evs[0].Room != "pub" || evs[0].Text != "public" {
		t.Fatalf("resumed: got %+v, want pub's message only", evs[0])
	}
}

// TestDemotionEndsStreams: an admin made a member loses an open stream of a
// private room they are no member of, and the role change is answered with
// the user.
func TestDemotionEndsStreams(t *testing.T) {
	s := mustStartAuthServer(t)
	s.mustCall(t, http.StatusCreated, "POST", "/api/users", map[string]string{"name": "ada", "password": "ada-password", "role": "admin"}, s.admin...)
	ada := s.login(t, "ada", "ada-password", true)
	s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/priv/access", map[string]any{"private": true, "members": []string{}}, s.admin...)
	r, stop := s.openStream(t, "/api/rooms/priv/events", ada...)
	defer stop()
	s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/priv/messages", map[string]string{"text": "for admins"}, s.admin...)
	nextEvents(t, r, 1)

	u := s.mustCall(t, http.StatusOK, "PUT", "/api/users/ada/role", map[string]string{"role": "member"}, s.admin...)
	if u["name"] != "ada" || u["role"] != "member" || u["hash"] != nil || u["password_hash"] != nil {
		t.Fatalf("role change answered %v, want ada as a member and no hash", u)
	}
	mustEnd(t, r, "the stream went on after its admin was made a member")
	if got, body := s.status(t, "GET", "/api/rooms/priv/messages", "", ada...); got != http.StatusForbidden {
		t.Fatalf("after demotion: got %d %s, want 403", got, body)
	}
}

// TestRevocationEndsStreams: revoking a token, signing out, removing a user
// or revoking an invite ends the streams of that credential.
func TestRevocationEndsStreams(t *testing.T) {
	s := mustStartAuthServer(t)
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T) []string // the credential
		revoke func(t *testing.T, cred []string)
	}{
		{"token revoked", func(t *testing.T) []string {
			return s.addUser(t, "tina")
		}, func(t *testing.T, cred []string) {
			tokens := s.mustCall(t, http.StatusOK, "GET", "/api/tokens?user=tina", nil, s.admin...)["tokens"].([]any)
			s.mustCall(t, http.StatusNoContent, "DELETE", "/api/tokens/"+tokens[0].(map[string]any)["id"].(string), nil, s.admin...)
		}},
		{"signed out", func(t *testing.T) []string {
			s.addUser(t, "sam")
			return s.login(t, "sam", "sam-password", false)
		}, func(t *testing.T, cred []string) {
			s.mustCall(t, http.StatusNoContent, "POST", "/api/logout", nil, cred...)
		}},
		{"user removed", func(t *testing.T) []string {
			return s.addUser(t, "ursula")
		}, func(t *testing.T, cred []string) {
			s.mustCall(t, http.StatusNoContent, "DELETE", "/api/users/ursula", nil, s.admin...)
		}},
		{"invite revoked", func(t *testing.T) []string {
			return s.guest(t, "acme", "Gina")
		}, func(t *testing.T, cred []string) {
			invs := s.mustCall(t, http.StatusOK, "GET", "/api/rooms/acme/invites", nil, s.admin...)["invites"].([]any)
			s.mustCall(t, http.StatusNoContent, "DELETE", "/api/rooms/acme/invites/"+invs[len(invs)-1].(map[string]any)["id"].(string), nil, s.admin...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred := tc.setup(t)
			r, stop := s.openStream(t, "/api/rooms/acme/events", cred...)
			defer stop()
			tc.revoke(t, cred)
			mustEnd(t, r, "the stream went on after revocation")
			if got, _ := s.status(t, "GET", "/api/rooms/acme/messages", "", cred...); got != http.StatusUnauthorized {
				t.Fatalf("after revocation: got %d, want 401", got)
			}
		})
	}
}

// TestAuthorIsTheIdentity: with access control the author is the caller;
// only admins change others' messages.
func TestAuthorIsTheIdentity(t *testing.T) {
	s := mustStartAuthServer(t)
	alice, bob := s.addUser(t, "alice"), s.addUser(t, "bob")
	msg := s.mustCall(t, http.StatusCreated, "POST", "/api/rooms/a/messages", map[string]string{"text": "mine"}, alice...)
	if msg["author"] != "alice" {
		t.Fatalf("author: got %v, want alice", msg["author"])
	}
	path := "/api/rooms/a/messages/" + msg["id"].(string)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		header []string
		want   int
	}{
		{"post as someone else", "POST", "/api/rooms/a/messages", map[string]string{"author": "alice", "text": "forged"}, bob, 403},
		{"guest name as a member", "POST", "/api/rooms/a/messages", map[string]string{"author": "Carol (guest)", "text": "x"}, bob, 403},
		{"edit another's message", "PATCH", path, map[string]string{"text": "changed"}, bob, 403},
		{"delete another's message", "DELETE", path, nil, bob, 403},
		{"react as someone else", "POST", path + "/reactions", map[string]string{"emoji": "👍", "author": "alice"}, bob, 403},
		{"react as yourself", "POST", path + "/reactions", map[string]string{"emoji": "👍"}, bob, 201},
		{"edit your own", "PATCH", path, map[string]string{"text": "edited"}, alice, 201},
		{"admin edits", "PATCH", path, map[string]string{"text": "[moderated]"}, s.admin, 201},
		{"admin deletes", "DELETE", path, nil, s.admin, 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp := s.call(t, tc.method, tc.path, tc.body, tc.header...); resp.status != tc.want {
				t.Fatalf("got %d %s, want %d", resp.status, resp.body, tc.want)
			}
		})
	}
}

// TestFirstAdminSetup: the setup token creates the first admin, once.
func TestFirstAdminSetup(t *testing.T) {
	s := mustStartAuthServerWithoutAdmin(t)
	if cfg := s.mustCall(t, http.StatusOK, "GET", "/api/config", nil); cfg["auth"] != "on" || cfg["setup"] != true {
		t.Fatalf("config: got %v, want auth on, setup true", cfg)
	}
	admin := map[string]string{"token": setupToken, "name": "root", "password": "rootpassword"}
	for _, tc := range []struct {
		name string
		body map[string]string
		want int
	}{
		{"wrong token", map[string]string{"token": "guess", "name": "root", "password": "rootpassword"}, 403},
		{"short password", map[string]string{"token": setupToken, "name": "root", "password": "short"}, 400},
		{"bad name", map[string]string{"token": setupToken, "name": "Root User", "password": "rootpassword"}, 400},
		{"setup", admin, 201},
		{"twice", admin, 409},
	} {
		if resp := s.call(t, http.MethodPost, "/api/setup", tc.body); resp.status != tc.want {
			t.Fatalf("%s: got %d %s, want %d", tc.name, resp.status, resp.body, tc.want)
		}
	}
	if cfg := s.mustCall(t, http.StatusOK, "GET", "/api/config", nil); cfg["setup"] != false {
		t.Fatalf("config after setup: got %v, want setup false", cfg)
	}
	cookie := s.login(t, "root", "rootpassword", false)
	if me := s.mustCall(t, http.StatusOK, "GET", "/api/me", nil, cookie...); me["name"] != "root" || me["role"] != "admin" {
		t.Fatalf("me: got %v", me)
	}
}

// TestUsers: the users API, through to what removal takes away.
func TestUsers(t *testing.T) {
	s := mustStartAuthServer(t)
	alice := s.addUser(t, "alice")
	aliceSession := s.login(t, "alice", "alice-password", false)
	s.mustSteps(t, []step{
		{"name taken", "POST", "/api/users", map[string]string{"name": "alice", "password": "whatever1"}, s.admin, 409},
		{"unknown role", "POST", "/api/users", map[string]string{"name": "carl", "password": "whatever1", "role": "owner"}, s.admin, 400},
		{"member adds a user", "POST", "/api/users", map[string]string{"name": "carl", "password": "whatever1"}, alice, 403},
		{"member changes another's password", "PUT", "/api/users/root/password", map[string]string{"password": "hijacked1"}, alice, 403},
		{"member changes their own password without the current one", "PUT", "/api/users/alice/password", map[string]string{"password": "new-password"}, alice, 400},
		{"member changes their own password with a wrong one", "PUT", "/api/users/alice/password", map[string]string{"password": "new-password", "current_password": "guess-guess"}, alice, 403},
		{"the wrong one ended nothing", "GET", "/api/me", nil, aliceSession, 200},
		{"member changes their own password", "PUT", "/api/users/alice/password", map[string]string{"password": "new-password", "current_password": "alice-password"}, alice, 204},
		{"the password change ended alice's session", "GET", "/api/me", nil, aliceSession, 401},
		{"but not her token", "GET", "/api/me", nil, alice, 200},
		{"the admin needs no current password for hers", "PUT", "/api/users/alice/password", map[string]string{"password": "newer-password"}, s.admin, 204},
		{"nor may give one", "PUT", "/api/users/alice/password", map[string]string{"password": "newer-password", "current_password": "new-password"}, s.admin, 400},
		{"the admin changes his own with the current one", "PUT", "/api/users/root/password", map[string]string{"password": "rootpassword2", "current_password": "rootpassword"}, s.admin, 204},
		{"unknown user's password", "PUT", "/api/users/nobody/password", map[string]string{"password": "whatever1"}, s.admin, 404},
		{"member makes herself admin", "PUT", "/api/users/alice/role", map[string]string{"role": "admin"}, alice, 403},
		{"unknown role", "PUT", "/api/users/alice/role", map[string]string{"role": "owner"}, s.admin, 400},
		{"no role", "PUT", "/api/users/alice/role", map[string]string{}, s.admin, 400},
		{"role and password", "PUT", "/api/users/alice/role", map[string]string{"role": "admin", "password": "whatever1"}, s.admin, 400},
		{"unknown user's role", "PUT", "/api/users/nobody/role", map[string]string{"role": "admin"}, s.admin, 404},
		{"demote the last admin", "PUT", "/api/users/root/role", map[string]string{"role": "member"}, s.admin, 409},
		{"promote alice", "PUT", "/api/users/alice/role", map[string]string{"role": "admin"}, s.admin, 200},
		{"alice's token now lists users", "GET", "/api/users", nil, alice, 200},
		{"alice demotes root", "PUT", "/api/users/root/role", map[string]string{"role": "member"}, alice, 200},
		{"root's token no longer lists users", "GET", "/api/users", nil, s.admin, 403},
		{"alice, the last admin, stays one", "PUT", "/api/users/alice/role", map[string]string{"role": "member"}, alice, 409},
		{"alice promotes root again", "PUT", "/api/users/root/role", map[string]string{"role": "admin"}, alice, 200},
		{"the same role again", "PUT", "/api/users/root/role", map[string]string{"role": "admin"}, s.admin, 200},
		{"root demotes alice", "PUT", "/api/users/alice/role", map[string]string{"role": "member"}, s.admin, 200},
		{"alice's token no longer lists users", "GET", "/api/users", nil, alice, 403},
		{"remove the last admin", "DELETE", "/api/users/root", nil, s.admin, 409},
		{"remove a user", "DELETE", "/api/users/alice", nil, s.admin, 204},
		{"removed user's token", "GET", "/api/me", nil, alice, 401},
	})
	users := s.mustCall(t, http.StatusOK, "GET", "/api/users", nil, s.admin...)["users"].([]any)
	if len(users) != 1 || users[0].(map[string]any)["name"] != "root" {
		t.Fatalf("users: got %v, want root only", users)
	}
}

// TestLoginLimitPerName: guesses at one account from many addresses are
// limited too.
func TestLoginLimitPerName(t *testing.T) {
	s := mustStartAuthServer(t, func(srv *api.Server) {
		srv.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		srv.Limits.LoginPerMinute = 2
	})
	s.addUser(t, "alice") // one attempt at alice: her first token
	guess := `{"name":"alice","password":"guess-guess"}`
	if got, _ := s.status(t, "POST", "/api/login", guess, "X-Forwarded-For", "198.51.100.1"); got != http.StatusUnauthorized {
		t.Fatalf("second attempt: got %d, want 401", got)
	}
	if got, _ := s.status(t, "POST", "/api/login", guess, "X-Forwarded-For", "198.51.100.2"); got != http.StatusTooManyRequests {
		t.Fatalf("third attempt from another address: got %d, want 429", got)
	}
	// Other accounts are not held up.
	s.login(t, "root", "rootpassword", false)
}

// TestStreamRatePerIdentity: opening streams in a tight loop runs into 429.
func TestStreamRatePerIdentity(t *testing.T) {
	s := mustStartAuthServer(t, func(srv *api.Server) { srv.Limits.StreamsPerSecond = 0.01 })
	alice := s.addUser(t, "alice")
	for i := 0; i < 20; i++ { // the burst
		if got, body := s.status(t, "GET", "/api/rooms/a/events", "", alice...); got != http.StatusOK {
			t.Fatalf("stream %d: got %d %s", i, got, body)
		}
	}
	if got, _ := s.status(t, "GET", "/api/rooms/a/events", "", alice...); got != http.StatusTooManyRequests {
		t.Fatalf("stream 21: got %d, want 429", got)
	}
}

// TestExpiryEndsStreams: a stream opened with a token ends when the token
// expires.
func TestExpiryEndsStreams(t *testing.T) {
	s := mustStartAuthServer(t)
	s.addUser(t, "alice")
	tok := s.mustCall(t, http.StatusCreated, "POST", "/api/tokens", map[string]string{"expires_in": "1s", "user": "alice"}, s.admin...)
	r, stop := s.openStream(t, "/api/rooms/a/events", "Authorization", "Bearer "+tok["token"].(string))
	defer stop()
	mustEnd(t, r, "the stream outlived its token")
}

// TestLimitsPerAddress: without access control the limits apply per client
// address: posts, new streams and open streams.
func TestLimitsPerAddress(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits api.Limits
		method string
		path   string
		body   string
		allow  int // requests allowed before the 429
	}{
		{"posts", api.Limits{PostPerSecondIP: 1}, "POST", "/api/rooms/a/messages", `{"author":"a","text":"x"}`, 3},
		{"new streams", api.Limits{StreamsPerSecondIP: 0.01}, "GET", "/api/rooms/a/events", "", 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &authServer{testServer: mustStartServer(t, func(srv *api.Server) { srv.Limits = tc.limits })}
			for i := range tc.allow {
				if got, body := s.status(t, tc.method, tc.path, tc.body); got >= 300 {
					t.Fatalf("request %d: got %d %s", i, got, body)
				}
			}
			if got, _ := s.status(t, tc.method, tc.path, tc.body); got != http.StatusTooManyRequests {
				t.Fatalf("request %d: got %d, want 429", tc.allow, got)
			}
		})
	}
	t.Run("open streams", func(t *testing.T) {
		s := &authServer{testServer: mustStartServer(t, func(srv *api.Server) { srv.Limits = api.Limits{MaxStreamsIP: 1} })}
		_, stop := s.openStream(t, "/api/rooms/a/events")
		if got, _ := s.status(t, "GET", "/api/rooms/a/events", ""); got != http.StatusTooManyRequests {
			t.Fatalf("second stream: got %d, want 429", got)
		}
		stop()
		// The slot is free again once the stream has ended on the server.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			got, _ := s.status(t, "GET", "/api/rooms/a/events", "")
			if got == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the first stream ended: got %d, want 200", got)
			}
		}
	})
}

// TestIgnoredForwardedForIsLogged: a proxy's X-Forwarded-For without
// -behind-proxy is ignored, and the log says so.
func TestIgnoredForwardedForIsLogged(t *testing.T) {
	var logs syncBuffer
	s := &authServer{testServer: mustStartServer(t, func(srv *api.Server) {
		srv.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})}
	s.status(t, "GET", "/api/rooms", "", "X-Forwarded-For", "203.0.113.9")
	s.status(t, "GET", "/api/rooms/a/events", "", "X-Forwarded-For", "203.0.113.9")
	if n := strings.Count(logs.String(), "set -behind-proxy"); n != 1 {
		t.Fatalf("got %d warnings, want one:\n%s", n, logs.String())
	}
}
