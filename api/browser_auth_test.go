package api_test

// Browser tests of the web client under access control (docs/access.md):
// setting up the first admin, signing in and out, a session that ends, a
// private room, and a guest who joins from an invite link and sees only
// their room. The server is real, with its accounts in the bbolt file;
// users are made through the HTTP API as an admin would.
//
// PARLEY_SCREENSHOTS=1 also writes docs/ui-signin.png and docs/ui-guest.png.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store/bolt"
)

const browserSetupToken = "browser-test-setup-token"

// browserAuthServer is a real server with access control on, over a real
// bbolt file that also holds its accounts.
type browserAuthServer struct {
	tb  testing.TB
	URL string
	db  *bolt.DB
	srv *api.Server
}

// browserStartAuthServer starts it; configure may adjust the server before
// Open.
func browserStartAuthServer(tb testing.TB, configure ...func(*api.Server)) *browserAuthServer {
	tb.Helper()
	db := bolt.NewDB(filepath.Join(tb.TempDir(), "parley.db"))
	db.Logger = quietLogger()
	if err := db.Open(); err != nil {
		tb.Fatalf("open db: %v", err)
	}
	srv := api.NewServer(db)
	srv.Addr = "127.0.0.1:0"
	srv.Logger = slog.New(slog.DiscardHandler)
	srv.Accounts = db
	srv.SetupToken = browserSetupToken
	// argon2 as cheap as it goes: the tests hash a dozen passwords.
	srv.PasswordTime = 1
	srv.PasswordMemoryKiB = 1024
	for _, f := range configure {
		f(srv)
	}
	if err := srv.Open(); err != nil {
		db.Close()
		tb.Fatalf("open server: %v", err)
	}
	tb.Cleanup(func() {
		srv.Close()
		db.Close()
	})
	return &browserAuthServer{tb: tb, URL: srv.URL(), db: db, srv: srv}
}

// request sends body as JSON with cookie (a "name=value" Cookie header, or
// "") and returns the response with its body read.
func (s *browserAuthServer) request(method, path, cookie string, body any) (*http.Response, []byte) {
	s.tb.Helper()
	return browserRequest(s.tb, method, s.URL+path, cookie, body)
}

// must is request that fails the test unless the status is want; it
// decodes a JSON answer into out, if given.
func (s *browserAuthServer) must(method, path, cookie string, body any, want int, out any) *http.Response {
	s.tb.Helper()
	resp, raw := s.request(method, path, cookie, body)
	if resp.StatusCode != want {
		s.tb.Fatalf("%s %s: got status %d (%s), want %d", method, path, resp.StatusCode, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.tb.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp
}

// sessionCookie returns the "parley_session=…" that resp sets.
func (s *browserAuthServer) sessionCookie(resp *http.Response) string {
	s.tb.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "parley_session" && c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	s.tb.Fatalf("%s %s: no parley_session cookie in %v", resp.Request.Method, resp.Request.URL.Path, resp.Header["Set-Cookie"])
	return ""
}

// setupAdmin creates the first admin with the setup token and returns the
// admin's session cookie.
func (s *browserAuthServer) setupAdmin(name, password string) string {
	s.tb.Helper()
	resp := s.must(http.MethodPost, "/api/setup", "", map[string]string{"token": browserSetupToken, "name": name, "password": password}, http.StatusCreated, nil)
	return s.sessionCookie(resp)
}

// login signs name in through the API and returns the session cookie.
func (s *browserAuthServer) login(name, password string) string {
	s.tb.Helper()
	resp := s.must(http.MethodPost, "/api/login", "", map[string]string{"name": name, "password": password}, http.StatusOK, nil)
	return s.sessionCookie(resp)
}

func (s *browserAuthServer) addUser(admin, name, password, role string) {
	s.tb.Helper()
	s.must(http.MethodPost, "/api/users", admin, map[string]string{"name": name, "password": password, "role": role}, http.StatusCreated, nil)
}

// post stores a message as the holder of cookie.
func (s *browserAuthServer) post(cookie, room, text string) browserEvent {
	s.tb.Helper()
	var ev browserEvent
	s.must(http.MethodPost, "/api/rooms/"+room+"/messages", cookie, map[string]string{"text": text}, http.StatusCreated, &ev)
	return ev
}

// messages returns a room's stored events as the holder of cookie sees them.
func (s *browserAuthServer) messages(cookie, room string) []browserEvent {
	s.tb.Helper()
	var out struct {
		Events []browserEvent `json:"events"`
	}
	s.must(http.MethodGet, "/api/rooms/"+room+"/messages?limit=1000", cookie, nil, http.StatusOK, &out)
	return out.Events
}

// browserShown is a JavaScript expression: the element id is rendered.
func browserShown(id string) string {
	return fmt.Sprintf(`Boolean(document.getElementById(%q)?.checkVisibility())`, id)
}

// signIn fills in and sends the sign-in form, which must be showing.
func (p *browserPage) signIn(name, password string) {
	p.tb.Helper()
	p.wait("the sign-in form", browserShown("signin-form"))
	p.clear("signin-name")
	p.clear("signin-password")
	p.do(
		chromedp.SendKeys(chromedp.ID("signin-name"), name),
		chromedp.SendKeys(chromedp.ID("signin-password"), password+"\n"),
	)
}

// waitLoad is wait for an expression that becomes true on a page the
// page itself loads (after signing in again, or joining): polls that the
// navigation cuts short ("target navigated", "cannot find context") are
// tried again until the deadline.
func (p *browserPage) waitLoad(what, expr string) {
	p.tb.Helper()
	deadline := time.Now().Add(browserWait)
	for {
		ctx, cancel := context.WithDeadline(p.ctx, deadline)
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
			chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("waiting %v for %s: %v; the page shows %q", browserWait, what, err, p.texts())
		}
	}
}

// clear empties the text field id, as selecting all and deleting would.
func (p *browserPage) clear(id string) {
	p.tb.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`{
		const e = document.getElementById(%q);
		e.value = '';
		e.dispatchEvent(new Event('input', {bubbles: true}));
	}`, id)))
}

// openSignedIn loads url, signs in, and waits for the chat to be live.
func (p *browserPage) openSignedIn(url, name, password string) {
	p.tb.Helper()
	p.do(chromedp.Navigate(url))
	p.signIn(name, password)
	p.waitReady()
	p.checkSignedIn(name)
}

// checkSignedIn checks that the page shows the chat for name: no name
// prompt, and sign-out instead of changing the name.
func (p *browserPage) checkSignedIn(name string) {
	p.tb.Helper()
	p.wait("the chat for "+name, fmt.Sprintf(`document.getElementById('me-name').textContent === %q`, name)+
		` && `+browserShown("sign-out")+` && !`+browserShown("change-name")+
		` && !document.getElementById('name-dialog').open && !`+browserShown("auth"))
}

// cookie returns the page's session cookie as "parley_session=…"; the page
// itself cannot read it (HttpOnly), the browser can.
func (p *browserPage) cookie(url string) string {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		p.tb.Fatalf("get cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == "parley_session" {
			if !c.HTTPOnly {
				p.tb.Errorf("parley_session: got HttpOnly false, want true")
			}
			return c.Name + "=" + c.Value
		}
	}
	p.tb.Fatalf("no parley_session cookie for %s", url)
	return ""
}

// shoot writes the page, at width×height, to docs/name when
// PARLEY_SCREENSHOTS=1.
func (p *browserPage) shoot(name string, width, height int64, settled string) {
	p.tb.Helper()
	if os.Getenv("PARLEY_SCREENSHOTS") != "1" {
		return
	}
	p.do(chromedp.EmulateViewport(width, height, chromedp.EmulateScale(1)))
	p.wait("the layout to settle", settled)
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.tb.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", name), buf, 0o644); err != nil {
		p.tb.Fatalf("write %s: %v", name, err)
	}
}

func TestBrowserAuthSetup(t *testing.T) {
	srv := browserStartAuthServer(t)
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.do(chromedp.Navigate(srv.URL + "/"))
	p.wait("the setup form", browserShown("setup-form")+` && !`+browserShown("app")+
		` && !document.getElementById('name-dialog').open`)

	var wantErr struct {
		Error string `json:"error"`
	}
	srv.must(http.MethodPost, "/api/setup", "", map[string]string{"token": "wrong", "name": "x", "password": "long enough"}, http.StatusForbidden, &wantErr)
	p.do(
		chromedp.SendKeys(chromedp.ID("setup-token"), "not-the-token"),
		chromedp.SendKeys(chromedp.ID("setup-name"), "root"),
		chromedp.SendKeys(chromedp.ID("setup-password"), "correct horse battery\n"),
	)
	p.wait("the server's error in the form", fmt.Sprintf(`document.getElementById('setup-error').textContent === %q`, wantErr.Error)+
		` && `+browserShown("setup-error")+` && document.getElementById('setup-error').getAttribute('role') === 'alert'`)

	p.clear("setup-token")
	p.do(chromedp.SendKeys(chromedp.ID("setup-token"), browserSetupToken+"\n"))
	p.waitReady()
	p.checkSignedIn("root")
	p.wait("the invite button of an admin", browserShown("invite-button"))

	// The form made an admin: the setup is done, and root signs in.
	var config struct {
		Auth  string `json:"auth"`
		Setup bool   `json:"setup"`
	}
	srv.must(http.MethodGet, "/api/config", "", nil, http.StatusOK, &config)
	if config.Auth != "on" || config.Setup {
		t.Errorf("config after setup: got auth %q setup %v, want on false", config.Auth, config.Setup)
	}
	var me struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	srv.must(http.MethodGet, "/api/me", p.cookie(srv.URL), nil, http.StatusOK, &me)
	if me.Name != "root" || me.Role != "admin" {
		t.Errorf("the page's identity: got %+v, want root, admin", me)
	}
	p.send("first message on a fresh server")
	p.waitTexts("the first message", []string{"first message on a fresh server"})
	if msgs := srv.messages(p.cookie(srv.URL), "general"); len(msgs) != 1 || msgs[0].Author != "root" {
		t.Errorf("stored: got %+v, want one message by root", msgs)
	}
	p.checkClean()
}

func TestBrowserAuthSignIn(t *testing.T) {
	srv := browserStartAuthServer(t)
	admin := srv.setupAdmin("root", "root-password")
	srv.addUser(admin, "alice", "alice-password", "member")
	srv.addUser(admin, "bob", "bob-password", "member")
	srv.must(http.MethodPut, "/api/rooms/secret/access", admin, map[string]any{"private": true, "members": []string{}}, http.StatusOK, nil)
	srv.post(admin, "secret", "the secret plans")
	var wantErr struct {
		Error string `json:"error"`
	}
	srv.must(http.MethodPost, "/api/login", "", map[string]string{"name": "alice", "password": "not her password"}, http.StatusUnauthorized, &wantErr)

	browser := browserStart(t)
	alice := browserNewPage(t, browser)
	bob := browserNewPage(t, browser)

	// A wrong password shows the server's error in the form.
	alice.do(chromedp.Navigate(srv.URL + "/r/lobby"))
	alice.wait("the sign-in form and nothing else", browserShown("signin-form")+` && !`+browserShown("app")+
		` && !`+browserShown("setup-form")+` && !document.getElementById('name-dialog').open`)
	alice.shoot("ui-signin.png", 1280, 800, browserShown("signin-form"))
	alice.signIn("alice", "not her password")
	alice.wait("the error", fmt.Sprintf(`document.getElementById('signin-error').textContent === %q`, wantErr.Error)+
		` && `+browserShown("signin-error")+` && document.getElementById('signin-error').getAttribute('role') === 'alert'`)

	alice.signIn("alice", "alice-password")
	alice.waitReady()
	alice.checkSignedIn("alice")
	bob.openSignedIn(srv.URL+"/r/lobby", "bob", "bob-password")
	alice.wait("the invite button of a member", browserShown("invite-button"))

	var want []string
	say := func(from *browserPage, text string) {
		t.Helper()
		from.send(text)
		want = append(want, text)
		for _, p := range []*browserPage{alice, bob} {
			p.waitTexts(fmt.Sprintf("%q on both pages", text), want)
		}
	}
	say(alice, "hello bob, signed in at last")
	say(bob, "hi alice, no more name prompt")
	var authors []string
	for _, m := range srv.messages(admin, "lobby") {
		authors = append(authors, m.Author)
	}
	if wantAuthors := []string{"alice", "bob"}; !slices.Equal(authors, wantAuthors) {
		t.Errorf("stored authors: got %q, want %q (the server's names for the sessions)", authors, wantAuthors)
	}
	if n := browserEval[int](alice, `document.querySelectorAll('#messages .guest-badge').length`); n != 0 {
		t.Errorf("guest badges among members: got %d, want 0", n)
	}

	// A private room alice is not in shows that, and nothing of it; the
	// stream of her other rooms carries on.
	alice.do(chromedp.SendKeys(chromedp.ID("room-input"), "secret\n"))
	alice.wait("the no-access state", browserShown("denied")+` && !`+browserShown("timeline")+` && !`+browserShown("composer")+
		` && /do not have access/.test(document.getElementById('denied').textContent)`)
	if body := browserEval[string](alice, `document.body.textContent`); strings.Contains(body, "the secret plans") {
		t.Errorf("the page shows the private room's message")
	}
	srv.post(srv.login("bob", "bob-password"), "lobby", "while alice looked elsewhere")
	want = append(want, "while alice looked elsewhere")
	alice.click(`#room-list a[data-room="lobby"]`)
	alice.waitTexts("lobby again, with what came meanwhile", want)
	alice.wait("the stream live", `document.getElementById('conn').dataset.state === 'live'`)

	// Signing out goes back to the form, and the old cookie is dead.
	cookie := alice.cookie(srv.URL)
	srv.must(http.MethodGet, "/api/me", cookie, nil, http.StatusOK, nil)
	alice.click("#sign-out")
	alice.wait("the sign-in form after signing out", browserShown("signin-form")+` && !`+browserShown("app"))
	srv.must(http.MethodGet, "/api/me", cookie, nil, http.StatusUnauthorized, nil)
	srv.must(http.MethodGet, "/api/rooms/lobby/messages", cookie, nil, http.StatusUnauthorized, nil)
	if n := browserEval[int](alice, `Object.keys(sessionStorage).filter((k) => k.startsWith('parley.session')).length`); n != 0 {
		t.Errorf("cached sessions after signing out: got %d, want 0", n)
	}

	// A room made private under bob's eyes turns into the no-access state;
	// his other room stays live.
	bob.do(chromedp.SendKeys(chromedp.ID("room-input"), "random\n"))
	bob.wait("random", `document.getElementById('room-title').textContent === 'random' && !`+browserShown("denied"))
	bob.click(`#room-list a[data-room="lobby"]`)
	bob.waitTexts("lobby again", want)
	srv.must(http.MethodPut, "/api/rooms/lobby/access", admin, map[string]any{"private": true, "members": []string{"alice"}}, http.StatusOK, nil)
	bob.wait("the no-access state", browserShown("denied")+` && document.querySelectorAll('#messages .msg').length === 0`)
	srv.post(admin, "random", "still live in random")
	bob.click(`#room-list a[data-room="random"]`)
	bob.waitTexts("random, live", []string{"still live in random"})

	// A session ended by the server (the user removed) returns bob's page to
	// the form too: the stream fails, and /api/me says why.
	srv.must(http.MethodDelete, "/api/users/bob", admin, nil, http.StatusNoContent, nil)
	bob.wait("the sign-in form after the session ended", browserShown("signin-form")+` && !`+browserShown("app")+
		` && /session has ended/.test(document.getElementById('signin-form').textContent)`)

	// Signing in again starts a clean chat.
	alice.signIn("alice", "alice-password")
	alice.waitLoad("the chat after signing in again", `document.readyState === 'complete' && !`+browserShown("auth")+
		` && document.getElementById('conn').dataset.state === 'live'`)
	alice.waitReady()
	alice.checkSignedIn("alice")
	alice.waitTexts("lobby after signing in again", want)
	alice.checkClean()
	bob.checkClean()
}

func TestBrowserAuthGuest(t *testing.T) {
	srv := browserStartAuthServer(t)
	admin := srv.setupAdmin("root", "root-password")
	srv.addUser(admin, "maria", "maria-password", "member")
	srv.post(admin, "internal", "internal only: the discount we may offer")

	browser := browserStart(t)
	maria := browserNewPage(t, browser)
	maria.openSignedIn(srv.URL+"/r/acme", "maria", "maria-password")
	maria.send("Welcome to Acme support! Someone will be with you shortly.")

	// Maria makes a guest link from the room's header.
	maria.click("#invite-button")
	maria.wait("the invite link", `document.getElementById('invite-dialog').open &&
		document.getElementById('invite-link').value.startsWith(location.origin + '/join/')`)
	link := browserEval[string](maria, `document.getElementById('invite-link').value`)
	maria.click(`#invite-form button[type="submit"]`)
	maria.wait("the dialog to close", `!document.getElementById('invite-dialog').open`)

	// A link that is no invite says so.
	stranger := browserNewPage(t, browser)
	stranger.do(chromedp.Navigate(srv.URL + "/join/not-a-code"))
	stranger.wait("the join form", browserShown("join-form")+` && !`+browserShown("app"))
	stranger.do(chromedp.SendKeys(chromedp.ID("join-name"), "Eve\n"))
	stranger.wait("the invalid-link error", `document.getElementById('join-error').textContent === 'This invite link is invalid or has expired.'`+
		` && `+browserShown("join-error"))
	if browserEval[bool](stranger, browserShown("join-signed-in")) {
		t.Errorf("the join page warns someone who is not signed in that they are")
	}

	guest := browserNewPage(t, browser)
	guest.do(chromedp.Navigate(link))
	guest.wait("the join form", browserShown("join-form")+` && !`+browserShown("app"))
	guest.do(chromedp.SendKeys(chromedp.ID("join-name"), "Bob\n"))
	guest.waitLoad("the guest's room", `location.pathname === '/r/acme' && document.readyState === 'complete' &&
		document.getElementById('conn').dataset.state === 'live'`)
	guest.waitReady()
	guest.checkSignedIn("Bob (guest)")
	for _, id := range []string{"room-form", "other-rooms", "leave-button", "invite-button"} {
		if browserEval[bool](guest, browserShown(id)) {
			t.Errorf("the guest's page shows #%s", id)
		}
	}
	guest.waitTexts("the welcome", []string{"Welcome to Acme support! Someone will be with you shortly."})
	if got := browserEval[[]string](guest, `[...document.querySelectorAll('#room-list a')].map((a) => a.dataset.room)`); !slices.Equal(got, []string{"acme"}) {
		t.Errorf("the guest's room list: got %q, want [acme]", got)
	}

	guest.send("Hi, my order #1042 has not arrived yet.")
	want := []string{"Welcome to Acme support! Someone will be with you shortly.", "Hi, my order #1042 has not arrived yet."}
	maria.waitTexts("the guest's message", want)
	maria.wait("the guest badge", `(() => {
		const li = [...document.querySelectorAll('#messages li.msg')].at(-1);
		return li.dataset.author === 'Bob (guest)' && li.querySelector('.guest-badge')?.textContent === 'guest' &&
			li.querySelector('.guest-badge').checkVisibility() && li.querySelector('.msg-author').textContent === 'Bob (guest)';
	})()`)
	maria.send("Sorry about that, Bob! Let me check with the warehouse.")
	want = append(want, "Sorry about that, Bob! Let me check with the warehouse.")
	guest.waitTexts("maria's answer", want)
	if n := browserEval[int](guest, `[...document.querySelectorAll('#messages li.msg')].filter((li) => li.querySelector('.guest-badge')).length`); n != 1 {
		t.Errorf("messages with a guest badge on the guest's page: got %d, want 1", n)
	}
	var authors []string
	for _, m := range srv.messages(admin, "acme") {
		authors = append(authors, m.Author)
	}
	if wantAuthors := []string{"maria", "Bob (guest)", "maria"}; !slices.Equal(authors, wantAuthors) {
		t.Errorf("stored authors: got %q, want %q", authors, wantAuthors)
	}
	guest.do(chromedp.Blur(chromedp.ID("composer-text")))
	guest.shoot("ui-guest.png", 1000, 640, `document.querySelectorAll('#messages .msg').length === 3`)

	// Another room, even one that exists, shows nothing of itself, and the
	// page does not ask the server about it.
	guest.do(chromedp.Navigate(srv.URL + "/r/internal"))
	guest.wait("the no-access state", browserShown("denied")+` && !`+browserShown("timeline")+` && !`+browserShown("composer")+
		` && /do not have access/.test(document.getElementById('denied').textContent)`)
	if n := browserEval[int](guest, `document.querySelectorAll('#messages .msg').length`); n != 0 {
		t.Errorf("messages shown in another room: got %d, want 0", n)
	}
	if body := browserEval[string](guest, `document.body.textContent`); strings.Contains(body, "internal only") {
		t.Errorf("the guest's page shows another room's message")
	}
	if got := browserEval[[]string](guest, `performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('internal'))`); len(got) != 0 {
		t.Errorf("requests about the other room: got %q, want none", got)
	}
	// Nor does it ask for a room's members, which guests may not see.
	if got := browserEval[[]string](guest, `performance.getEntriesByType('resource').map((e) => e.name).filter((n) => /\/api\/rooms\/[^/]+\/access/.test(n))`); len(got) != 0 {
		t.Errorf("the guest's page asks for room access: got %q, want no request", got)
	}
	// The way back leads to the guest's room.
	guest.click(`#denied-note a[data-room="acme"]`)
	guest.waitTexts("the guest's room again", want)

	// A second guest who also calls himself Bob is another author: his
	// badge tells the two apart, and the first Bob's message is not his.
	bob2 := browserNewPage(t, browser)
	bob2.do(chromedp.Navigate(link))
	bob2.wait("the join form", browserShown("join-form"))
	bob2.do(chromedp.SendKeys(chromedp.ID("join-name"), "Bob\n"))
	bob2.waitLoad("the second guest's room", `location.pathname === '/r/acme' && document.readyState === 'complete' &&
		document.getElementById('conn').dataset.state === 'live'`)
	bob2.waitReady()
	bob2.checkSignedIn("Bob (guest 2)")
	bob2.waitTexts("the room so far", want)
	bob2.send("I am another Bob.")
	want = append(want, "I am another Bob.")
	maria.waitTexts("the second Bob's message", want)
	maria.wait("the two Bobs' badges", `(() => {
		const heads = [...document.querySelectorAll('#messages li.msg')].filter((li) => li.querySelector('.guest-badge'));
		return heads.map((li) => li.querySelector('.msg-author').firstChild.textContent + ' ' + li.querySelector('.guest-badge').textContent).join() === 'Bob guest,Bob guest 2';
	})()`)
	bob2.waitTexts("his own message", want)
	if got := browserEval[[]string](bob2, `[...document.querySelectorAll('#messages li.msg.mine')].map((li) => li.dataset.author)`); !slices.Equal(got, []string{"Bob (guest 2)"}) {
		t.Errorf("messages the second Bob may edit: got %q, want only his own", got)
	}
	bob2.checkClean()

	// A member who opens a guest link is told that joining would sign her
	// out, and can go back to her rooms still signed in.
	maria.do(chromedp.Navigate(link))
	maria.wait("the join form with a warning", browserShown("join-form")+` && `+browserShown("join-signed-in")+
		` && document.getElementById('join-signed-in').textContent.startsWith('You are signed in as maria. Joining signs you out')`)
	maria.click(`#join-signed-in a`)
	maria.waitLoad("maria's chat", `location.pathname.startsWith('/r/') && document.readyState === 'complete' &&
		document.getElementById('conn').dataset.state === 'live'`)
	maria.waitReady()
	maria.checkSignedIn("maria")
	maria.checkClean()
	guest.checkClean()
	stranger.checkClean()
}

func TestBrowserAuthTooManyAttempts(t *testing.T) {
	now := time.Now()
	srv := browserStartAuthServer(t, func(s *api.Server) {
		s.Limits = api.Limits{LoginPerMinuteIP: 2} // a burst of 2, then one every 30 s
		// The clock stands still: however slow the machine, no attempt
		// comes back before the third.
		s.Now = func() time.Time { return now }
	})
	srv.setupAdmin("root", "root-password") // the first attempt
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.do(chromedp.Navigate(srv.URL + "/"))
	p.signIn("root", "not the password")
	p.wait("the wrong-password error", `/wrong/.test(document.getElementById('signin-error').textContent)`)
	p.signIn("root", "root-password")
	p.wait("the rate-limit error", `/^Too many attempts, try again in [1-9][0-9]* s\.$/.test(document.getElementById('signin-error').textContent)`+
		` && `+browserShown("signin-form"))
	p.checkClean()
}
