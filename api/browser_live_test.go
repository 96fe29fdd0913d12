package api_test

// Browser tests of the live parts of the page (docs/live.md): presence,
// typing, read markers and the "new messages" line, mentions and their
// counts, desktop notifications, and one stream shared by all the tabs of
// a browser.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// browserOpenTab opens a tab in parent: with newContext, in a browser
// context of its own (another person, or another device); without, in
// parent's (another tab of the same browser, sharing its storage). close
// closes the tab as a person would.
func browserOpenTab(tb testing.TB, parent context.Context, newContext bool) (p *browserPage, close func()) {
	tb.Helper()
	var opts []chromedp.ContextOption
	if newContext {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(parent, opts...)
	tb.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("open tab: %v", err)
	}
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.parleyCSP = [];
document.addEventListener('securitypolicyviolation', (e) => window.parleyCSP.push(e.violatedDirective + ' ' + e.blockedURI));`,
	})
	if err != nil {
		tb.Fatalf("add init script: %v", err)
	}
	return &browserPage{tb: tb, ctx: ctx}, cancel
}

// presenceJS is who the presence line shows, as "name:connections", with
// " guest" for a guest.
const presenceJS = `[...document.querySelectorAll('#presence .presence-person')].map((li) =>
	li.dataset.name + ':' + li.dataset.connections + (li.classList.contains('guest') ? ' guest' : ''))`

// waitPresence waits until the presence line shows exactly want.
func (p *browserPage) waitPresence(what string, want []string) {
	p.tb.Helper()
	js, _ := json.Marshal(want)
	p.wait(what, fmt.Sprintf(`JSON.stringify(%s) === JSON.stringify(%s) && !document.getElementById('presence').hidden`, presenceJS, js))
}

// typingJS is the typing line's text.
const typingJS = `document.getElementById('typing').textContent`

// TestBrowserPresence: two people see each other come and go; a person
// with two devices is listed once, and stays until both are gone; the
// connection indicator says "Live" once the stream has caught up.
func TestBrowserPresence(t *testing.T) {
	srv := browserStartServer(t)
	srv.post("general", "carol", "hello", "")
	chrome := browserStart(t)
	alice, _ := browserOpenTab(t, chrome, true)
	alice.open(srv.URL+"/r/general", "alice")
	alice.waitPresence("alice alone", []string{"alice:1"})
	alice.wait("caught up", `document.getElementById('conn-label').textContent === 'Live'`)

	bob, closeBob := browserOpenTab(t, chrome, true)
	bob.open(srv.URL+"/r/general", "bob")
	alice.waitPresence("bob to join", []string{"alice:1", "bob:1"})
	bob.waitPresence("alice there", []string{"alice:1", "bob:1"})

	bob2, closeBob2 := browserOpenTab(t, chrome, true)
	bob2.open(srv.URL+"/r/general", "bob")
	alice.waitPresence("bob once, with two connections", []string{"alice:1", "bob:2"})

	closeBob2()
	alice.waitPresence("bob's second device gone, bob still there", []string{"alice:1", "bob:1"})
	closeBob()
	alice.waitPresence("bob gone", []string{"alice:1"})
	alice.checkClean()
}

// TestBrowserPresenceGuest: under access control a guest is listed as a
// guest, by the name they chose, with a badge.
func TestBrowserPresenceGuest(t *testing.T) {
	srv := browserStartAuthServer(t)
	admin := srv.setupAdmin("root", "root-password")
	srv.addUser(admin, "maria", "maria-password", "member")
	chrome := browserStart(t)
	maria := browserNewPage(t, chrome)
	maria.openSignedIn(srv.URL+"/r/acme", "maria", "maria-password")
	maria.send("Welcome!")
	maria.click("#invite-button")
	maria.wait("the invite link", `document.getElementById('invite-dialog').open &&
		document.getElementById('invite-link').value.startsWith(location.origin + '/join/')`)
	link := browserEval[string](maria, `document.getElementById('invite-link').value`)
	maria.click(`#invite-form button[type="submit"]`)

	guest := browserNewPage(t, chrome)
	guest.do(chromedp.Navigate(link))
	guest.wait("the join form", browserShown("join-form"))
	guest.do(chromedp.SendKeys(chromedp.ID("join-name"), "Bob\n"))
	guest.waitLoad("the guest's room", `location.pathname === '/r/acme' && document.readyState === 'complete'`)
	guest.waitReady()

	want := []string{"Bob (guest):1 guest", "maria:1"}
	maria.waitPresence("the guest", want)
	guest.waitPresence("maria and the guest", want)
	maria.wait("the guest's badge", `(() => {
		const li = document.querySelector('#presence .presence-person.guest');
		return li.querySelector('.presence-name').textContent === 'Bob' && li.querySelector('.guest-badge').textContent === 'guest';
	})()`)
	maria.checkClean()
}

// keepTyping says author is typing in room again and again (the server's
// indicator lasts 5 s) until the returned stop is called, so that a test
// waiting to see the indicator does not race its expiry.
func (s *browserServer) keepTyping(room, author string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			body := fmt.Sprintf(`{"author":%q}`, author)
			if resp, err := http.Post(s.URL+"/api/rooms/"+room+"/typing", "application/json", strings.NewReader(body)); err == nil {
				resp.Body.Close()
			}
			select {
			case <-done:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// TestBrowserTyping: typing shows on the other page, is sent now and then
// rather than per key, ends by itself, and ends when the message arrives.
func TestBrowserTyping(t *testing.T) {
	srv := browserStartServer(t)
	chrome := browserStart(t)
	alice, _ := browserOpenTab(t, chrome, true)
	alice.open(srv.URL+"/r/general", "alice")
	bob, _ := browserOpenTab(t, chrome, true)
	bob.open(srv.URL+"/r/general", "bob")
	alice.waitPresence("bob", []string{"alice:1", "bob:1"})

	// Alice types; bob sees it once her typing reaches him, however long
	// that takes: she goes on typing a key a second (the page renews her
	// typing every 3 s) until he does.
	before := srv.typingRequests()
	typed := 0
	deadline := time.Now().Add(browserWait)
	for !browserEval[bool](bob, typingJS+` === 'alice is typing…'`) {
		if time.Now().After(deadline) {
			t.Fatalf("bob's typing line: got %q, want alice typing", browserEval[string](bob, typingJS))
		}
		alice.do(chromedp.SendKeys(chromedp.ID("composer-text"), "x"))
		typed++
		for range 10 {
			if browserEval[bool](bob, typingJS+` === 'alice is typing…'`) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if got := browserEval[string](alice, typingJS); got != "" {
		t.Errorf("alice's own typing line: got %q, want empty", got)
	}
	bob.wait("the indicator to end by itself", typingJS+` === ''`)

	// Typing on and on sends typing now and then, not per key: a request
	// per key would be refused by the server's limit (2 a second).
	keys := "the quick brown fox jumps over the lazy dog "
	alice.do(chromedp.SendKeys(chromedp.ID("composer-text"), keys))
	if n := srv.typingRequests() - before; n < 1 || n > (typed+len(keys))/4 {
		t.Errorf("typing requests for %d keys: got %d, want at least 1 and far fewer than keys", typed+len(keys), n)
	}
	alice.clear("composer-text") // clearing the box says she stopped
	bob.wait("the indicator to end", typingJS+` === ''`)

	// Someone typing shows, and their message ends it.
	stop := srv.keepTyping("general", "carol")
	bob.wait("carol typing", typingJS+` === 'carol is typing…'`)
	stop()
	srv.post("general", "carol", "done typing", "")
	bob.waitTexts("carol's message", []string{"done typing"})
	bob.wait("no one typing", typingJS+` === ''`)
	alice.send("hello")
	bob.waitTexts("alice's message", []string{"done typing", "hello"})
	bob.wait("still no one typing", typingJS+` === ''`)
	bob.checkClean()
}

// browserMarker is the reader's read marker in room, from the server.
func browserMarker(srv *browserServer, room, author string) string {
	var out struct {
		ID string `json:"id"`
	}
	srv.getJSON("/api/rooms/"+room+"/read?author="+author, &out)
	return out.ID
}

// waitMarker waits until the server's marker of author in room is id.
func browserWaitMarker(tb testing.TB, srv *browserServer, room, author, id string) {
	tb.Helper()
	deadline := time.Now().Add(browserWait)
	for got := browserMarker(srv, room, author); got != id; got = browserMarker(srv, room, author) {
		if time.Now().After(deadline) {
			tb.Fatalf("%s's marker in %s: got %q, want %q", author, room, got, id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lineBeforeJS is the text of the message just after the "new messages"
// line, or null when there is no line.
const lineBeforeJS = `(() => {
	const line = document.querySelector('#messages .unread-line');
	if (!line) return null;
	let n = line.nextElementSibling;
	while (n && !n.matches('.msg')) n = n.nextElementSibling;
	return n ? n.querySelector('.msg-text').textContent : '';
})()`

// TestBrowserReadMarkers: the page stores what the reader has read on the
// server; unread and mention counts come from it on another device too; a
// reload shows the "new messages" line where the reader left off.
func TestBrowserReadMarkers(t *testing.T) {
	srv := browserStartServer(t)
	srv.post("general", "bob", "one", "")
	two := srv.post("general", "bob", "two", "")
	chrome := browserStart(t)
	alice, closeAlice := browserOpenTab(t, chrome, true)
	alice.open(srv.URL+"/r/general", "alice")
	alice.waitTexts("general", []string{"one", "two"})
	browserWaitMarker(t, srv, "general", "alice", two.ID)
	if got := browserEval[any](alice, lineBeforeJS); got != nil {
		t.Errorf("a first visit shows a new-messages line before %v", got)
	}

	// Away in another room, alice sees general's counts change live.
	alice.openRoom("random")
	srv.post("general", "bob", "three", "")
	srv.post("general", "bob", "four, @alice", "")
	alice.waitBadges("general's unread", map[string]string{"general": "2"})
	alice.wait("general's mention", `document.querySelector('#room-list a[data-room="general"] .mention-count')?.textContent === '@1'`)

	// Another device of alice's, which never followed general, has the
	// same counts from the server.
	phone, _ := browserOpenTab(t, chrome, true)
	phone.open(srv.URL+"/r/random", "alice")
	phone.wait("general's counts among the other rooms", `(() => {
		const a = document.querySelector('#other-rooms a[data-room="general"]');
		return a?.querySelector('.badge')?.textContent === '2' && a.querySelector('.mention-count')?.textContent === '@1';
	})()`)

	// Back in general after a reload: the line sits before what is new.
	alice.do(chromedp.Navigate(srv.URL + "/r/general"))
	alice.waitReady()
	alice.waitTexts("general", []string{"one", "two", "three", "four, @alice"})
	alice.wait("the line before three", lineBeforeJS+` === 'three'`)
	four := srv.messages("general")[3]
	browserWaitMarker(t, srv, "general", "alice", four.ID)

	// The phone opens general: everything there is read.
	phone.openRoom("general")
	phone.waitTexts("general", []string{"one", "two", "three", "four, @alice"})
	if got := browserEval[any](phone, lineBeforeJS); got != nil {
		t.Errorf("the phone shows a new-messages line before %v after alice read everything", got)
	}
	// Something new while alice is away everywhere shows on the phone's
	// return. (With her first tab open on general she would read it there.)
	alice.checkClean()
	closeAlice()
	phone.openRoom("random")
	srv.post("general", "bob", "five", "")
	phone.waitBadges("general's unread on the phone", map[string]string{"general": "1"})
	phone.do(chromedp.Navigate(srv.URL + "/r/general"))
	phone.waitReady()
	phone.wait("the phone's line before five", lineBeforeJS+` === 'five'`)
	phone.checkClean()
}

// TestBrowserMentions: mentions are highlighted as nodes, never as HTML, the
// reader's own most; an edit changes them.
func TestBrowserMentions(t *testing.T) {
	srv := browserStartServer(t)
	chrome := browserStart(t)
	alice, _ := browserOpenTab(t, chrome, true)
	alice.open(srv.URL+"/r/general", "alice")
	msg := srv.post("general", "bob", "hi @Alice and @bob. mail bob@example.com <b>@alice</b>", "")
	alice.waitTexts("the message", []string{"hi @Alice and @bob. mail bob@example.com <b>@alice</b>"})
	sel := `#messages li.msg[data-id="` + msg.ID + `"]`
	got := browserEval[[]string](alice, `[...document.querySelectorAll('`+sel+` .mention')].map((m) => m.textContent + (m.classList.contains('mention-me') ? ' me' : ''))`)
	if want := []string{"@Alice me", "@bob", "@alice me"}; !slices.Equal(got, want) {
		t.Errorf("mentions: got %q, want %q", got, want)
	}
	if !browserEval[bool](alice, `document.querySelector('`+sel+`').classList.contains('mentions-me') && !document.querySelector('`+sel+` b')`) {
		t.Errorf("the message is not marked as mentioning alice, or shows HTML")
	}

	srv.edit("general", msg.ID, "bob", "now only @bob")
	alice.wait("the edit", `(() => {
		const li = document.querySelector('`+sel+`');
		return li.querySelector('.msg-text').textContent === 'now only @bob' && !li.classList.contains('mentions-me') &&
			JSON.stringify([...li.querySelectorAll('.mention')].map((m) => m.textContent)) === '["@bob"]';
	})()`)
	alice.checkClean()
}

// notificationsJS wraps window.Notification so the test sees each one
// constructed, with whether the page was hidden then.
const notificationsJS = `(() => {
	const Real = window.Notification;
	window.parleyNotifications = [];
	window.Notification = class extends Real {
		constructor(title, options) {
			window.parleyNotifications.push({title, body: options?.body || '', hidden: document.visibilityState === 'hidden'});
			super(title, options);
		}
	};
})();`

// setHidden makes the page say it is hidden (or visible) as when its tab
// is in the background: headless Chromium shows every tab.
func (p *browserPage) setHidden(hidden bool) {
	p.tb.Helper()
	state := "visible"
	if hidden {
		state = "hidden"
	}
	p.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`
		Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => %q});
		Object.defineProperty(document, 'hidden', {configurable: true, get: () => %t});
		document.dispatchEvent(new Event('visibilitychange'));`, state, hidden)))
}

// TestBrowserNotifications: notifications are opt-in from a button; they
// come only while the tab is hidden, for mentions, or in a room where the
// reader chose so, for every message.
func TestBrowserNotifications(t *testing.T) {
	srv := browserStartServer(t)
	chrome := browserStart(t)
	alice, _ := browserOpenTab(t, chrome, true)
	if _, err := chromedp.Call(alice.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: notificationsJS}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.CallBrowser(alice.ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission:       &browser.PermissionDescriptor{Name: "notifications"},
		Setting:          browser.PermissionSettingGranted,
		Origin:           srv.URL,
		BrowserContextID: chromedp.FromContext(alice.ctx).BrowserContextID,
	}); err != nil {
		t.Fatalf("grant notifications: %v", err)
	}
	alice.open(srv.URL+"/r/general", "alice")
	notes := func() []string {
		return browserEval[[]string](alice, `window.parleyNotifications.map((n) => n.title + ': ' + n.body + (n.hidden ? '' : ' (visible)'))`)
	}
	button := `document.getElementById('notify-button')`

	// Not opted in yet: nothing, even for a mention in a hidden tab.
	alice.wait("the button", button+`.textContent === 'Notify: off'`)
	alice.setHidden(true)
	srv.post("general", "bob", "@alice before opting in", "")
	alice.waitTexts("the first mention", []string{"@alice before opting in"})

	alice.setHidden(false)
	alice.click("#notify-button")
	alice.wait("mentions on", button+`.textContent === 'Notify: mentions'`)
	// Visible: no notification.
	srv.post("general", "bob", "@alice while you look", "")
	alice.waitTexts("the visible mention", []string{"@alice before opting in", "@alice while you look"})

	alice.setHidden(true)
	srv.post("general", "bob", "just chatting", "")
	srv.post("general", "bob", "@alice are you there?", "")
	want := []string{"bob mentioned you in #general: @alice are you there?"}
	alice.wait("the mention's notification", fmt.Sprintf(`JSON.stringify(window.parleyNotifications.map((n) => n.title + ': ' + n.body)) === %q`, mustJSON(want)))

	// Every message of the room, by choice (kept for the room).
	alice.click("#notify-button")
	alice.wait("all messages", button+`.textContent === 'Notify: all messages'`)
	srv.post("general", "bob", "lunch?", "")
	want = append(want, "bob in #general: lunch?")
	alice.wait("the message's notification", fmt.Sprintf(`JSON.stringify(window.parleyNotifications.map((n) => n.title + ': ' + n.body)) === %q`, mustJSON(want)))
	if got := notes(); !slices.Equal(got, want) {
		t.Errorf("notifications: got %q, want %q", got, want)
	}
	alice.setHidden(false)
	alice.do(chromedp.Navigate(srv.URL + "/r/general"))
	alice.waitReady()
	alice.wait("the choice kept", button+`.textContent === 'Notify: all messages'`)
	alice.checkClean()
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

var browserTypingRequests = regexp.MustCompile(`(?m)^parley_http_requests_total\{code="[0-9]+",method="POST",route="/api/rooms/:room/typing"\} ([0-9]+)$`)

// typingRequests is how many typing requests the server has answered.
func (s *browserServer) typingRequests() int {
	s.tb.Helper()
	_, raw := browserRequest(s.tb, http.MethodGet, s.URL+"/metrics", "", nil)
	n := 0
	for _, m := range browserTypingRequests.FindAllSubmatch(raw, -1) {
		v, _ := strconv.Atoi(string(m[1]))
		n += v
	}
	return n
}

var browserStreamsOpen = regexp.MustCompile(`(?m)^parley_streams_open ([0-9]+)$`)

// streamsOpen is how many event streams the server has open now.
func (s *browserServer) streamsOpen() int {
	s.tb.Helper()
	resp, raw := browserRequest(s.tb, http.MethodGet, s.URL+"/metrics", "", nil)
	if resp.StatusCode != http.StatusOK {
		s.tb.Fatalf("metrics: got status %d", resp.StatusCode)
	}
	m := browserStreamsOpen.FindSubmatch(raw)
	if m == nil {
		s.tb.Fatalf("metrics: no parley_streams_open in %s", raw)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// connections is the connection ids presence lists for name in room.
func (s *browserServer) connections(room, name string) []string {
	s.tb.Helper()
	var out struct {
		People []struct {
			Name        string   `json:"name"`
			Connections []string `json:"connections"`
		} `json:"people"`
	}
	s.getJSON("/api/rooms/"+room+"/presence", &out)
	for _, p := range out.People {
		if p.Name == name {
			return p.Connections
		}
	}
	return nil
}

// waitStreams waits until the server has n streams open and name has one
// connection in room, and returns it.
func (s *browserServer) waitOneStream(room, name string) string {
	s.tb.Helper()
	deadline := time.Now().Add(browserWait)
	for {
		open, conns := s.streamsOpen(), s.connections(room, name)
		if open == 1 && len(conns) == 1 {
			return conns[0]
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("streams open: got %d, want 1; %s's connections: got %q, want one", open, name, conns)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrowserSharedStream: eight tabs of one browser share one stream (the
// seventh no longer hangs on HTTP/1.1's six connections); when the tab
// holding it closes, another takes over where it left off, keeping its
// connection id, and every tab gets every message once.
func TestBrowserSharedStream(t *testing.T) {
	srv := browserStartServer(t)
	chrome := browserStart(t)
	// The tabs are children of a blank tab of their browser context, which
	// stays open: closing a tab closes its children.
	holder, _ := browserOpenTab(t, chrome, true)
	first, closeFirst := browserOpenTab(t, holder.ctx, false)
	first.open(srv.URL+"/r/general", "alice")
	tabs := []*browserPage{first}
	closers := []func(){closeFirst}
	for range 7 {
		tab, closeTab := browserOpenTab(t, holder.ctx, false)
		tab.do(chromedp.Navigate(srv.URL + "/r/general"))
		tab.waitReady()
		tabs = append(tabs, tab)
		closers = append(closers, closeTab)
	}
	for _, tab := range tabs {
		tab.waitPresence("alice, once, with one connection", []string{"alice:1"})
	}
	conn := srv.waitOneStream("general", "alice")

	srv.post("general", "bob", "m1", "")
	for _, tab := range tabs {
		tab.waitTexts("m1 in every tab", []string{"m1"})
	}

	leader := -1
	for i, tab := range tabs {
		if browserEval[string](tab, `document.documentElement.dataset.stream`) == "leader" {
			if leader >= 0 {
				t.Fatalf("tabs %d and %d both hold the stream", leader, i)
			}
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no tab holds the stream")
	}
	closers[leader]()
	tabs = slices.Delete(tabs, leader, leader+1)
	// A message while nobody holds the stream is not lost.
	srv.post("general", "bob", "m2", "")
	leaders := `document.documentElement.dataset.stream === 'leader'`
	deadline := time.Now().Add(browserWait)
	for {
		n := 0
		for _, tab := range tabs {
			if browserEval[bool](tab, leaders) {
				n++
			}
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tabs holding the stream after the holder closed: got %d, want 1", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := srv.waitOneStream("general", "alice"); got != conn {
		t.Errorf("connection after the takeover: got %s, want %s, kept", got, conn)
	}
	srv.post("general", "bob", "m3", "")
	for _, tab := range tabs {
		tab.waitTexts("every message once in every tab", []string{"m1", "m2", "m3"})
		tab.waitPresence("alice still once", []string{"alice:1"})
	}

	// A new name given in a tab that does not hold the stream: the stream
	// goes on under it.
	follower := tabs[0]
	for _, tab := range tabs {
		if browserEval[string](tab, `document.documentElement.dataset.stream`) != "leader" {
			follower = tab
			break
		}
	}
	follower.click("#change-name")
	follower.wait("the name dialog", `document.getElementById('name-dialog').open`)
	follower.clear("name-input")
	follower.do(chromedp.SendKeys(chromedp.ID("name-input"), "alicia\n"))
	for _, tab := range tabs {
		tab.waitPresence("the new name", []string{"alicia:1"})
		tab.checkClean()
	}
	if n := srv.streamsOpen(); n != 1 {
		t.Errorf("streams open after the new name: got %d, want 1", n)
	}
}

// TestBrowserLiveView: the room as a reader sees it with everything live
// at once: who is here, someone typing, mentions, the "new messages" line
// and counts of another room. With PARLEY_SCREENSHOTS=1 it writes
// docs/ui-live.png.
func TestBrowserLiveView(t *testing.T) {
	srv := browserStartServer(t)
	srv.post("general", "maria", "Morning all! The staging deploy finished overnight.", "")
	srv.post("general", "tom", "Thanks! I'll go through the migration steps before standup.", "")
	chrome := browserStart(t)
	ada, _ := browserOpenTab(t, chrome, true)
	ada.open(srv.URL+"/r/general", "ada")
	ada.openRoom("design")
	ada.do(chromedp.Navigate("about:blank"))
	srv.post("general", "maria", "@ada could you look at the export before the release?", "")
	srv.post("general", "tom", "And @maria, the notes need a line on retention.", "")
	srv.post("design", "noor", "@ada the new mockups are up.", "")
	srv.post("design", "noor", "Feedback by Friday, please.", "")
	for _, name := range []string{"maria", "tom"} {
		p, _ := browserOpenTab(t, chrome, true)
		p.open(srv.URL+"/r/general", name)
	}
	ada.do(chromedp.Navigate(srv.URL + "/r/general"))
	ada.waitReady()
	ada.waitPresence("everyone", []string{"ada:1", "maria:1", "tom:1"})
	ada.wait("the line", lineBeforeJS+` === '@ada could you look at the export before the release?'`)
	ada.wait("design's counts", `(() => {
		const a = document.querySelector('#room-list a[data-room="design"]');
		return a?.querySelector('.badge')?.textContent === '2' && a.querySelector('.mention-count')?.textContent === '@1';
	})()`)
	if got := browserEval[int](ada, `document.querySelectorAll('#messages .mention-me').length`); got != 1 {
		t.Errorf("ada's mentions highlighted: got %d, want 1", got)
	}
	stop := srv.keepTyping("general", "maria")
	defer stop()
	ada.wait("maria typing", typingJS+` === 'maria is typing…'`)
	// The streams maria and tom opened before they gave their names are
	// gone after the grace period.
	ada.wait("no unnamed streams", `!document.querySelector('#presence .presence-count').textContent.includes('unnamed')`)
	ada.shoot("ui-live.png", 1280, 800, typingJS+` === 'maria is typing…'`)
	ada.checkClean()
}
