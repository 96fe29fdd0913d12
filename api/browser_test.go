package api_test

// Browser tests: the web client in web/ driven in real headless Chromium
// against a real server and bbolt file. They need /usr/bin/chromium; without
// it they skip, unless CI=true, where they fail. Helpers are in
// browser_helpers_test.go; edits, deletes, reactions and replies are tested
// in browser_lifecycle_test.go.
//
// PARLEY_SCREENSHOTS=1 also writes docs/ui-*.png.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

func TestBrowserTwoPagesChat(t *testing.T) {
	srv := browserStartServer(t)
	browser := browserStart(t)
	alice := browserNewPage(t, browser)
	bob := browserNewPage(t, browser)
	alice.open(srv.URL+"/r/lobby", "alice")
	bob.open(srv.URL+"/r/lobby", "bob")

	var want []string
	say := func(from *browserPage, text string) {
		t.Helper()
		from.send(text)
		want = append(want, text)
		for _, p := range []*browserPage{alice, bob} {
			p.waitTexts(fmt.Sprintf("%q on both pages", text), want)
		}
	}
	say(alice, "hello from alice")
	say(bob, "hi alice, bob here")
	say(alice, "how is the weather?")
	say(alice, "grouped under the same header")

	if got := browserEval[string](alice, `document.activeElement.id`); got != "composer-text" {
		t.Errorf("focus after sending: got %q, want composer-text", got)
	}
	// Shift+Enter is a new line; Enter sends.
	alice.do(
		chromedp.SendKeys(chromedp.ID("composer-text"), "line one"),
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierShift)),
		chromedp.SendKeys(chromedp.ID("composer-text"), "line two\n"),
	)
	want = append(want, "line one\nline two")
	bob.waitTexts("the two-line message", want)
	alice.waitTexts("the two-line message", want)

	aliceIDs, bobIDs := alice.ids(), bob.ids()
	if !slices.Equal(aliceIDs, bobIDs) {
		t.Fatalf("order differs: alice sees %v, bob sees %v", aliceIDs, bobIDs)
	}
	browserCheckAscending(t, aliceIDs)

	// Grouping: the second of alice's two messages in a row has no header.
	continued := browserEval[[]bool](bob, `[...document.querySelectorAll('#messages .msg')].map((e) => e.classList.contains('continued'))`)
	if wantContinued := []bool{false, false, false, true, true}; !slices.Equal(continued, wantContinued) {
		t.Errorf("grouping: got %v, want %v", continued, wantContinued)
	}
	// Each header shows a local time with the full timestamp on hover.
	if n := browserEval[int](bob, `[...document.querySelectorAll('#messages .msg-time')].filter((t) => t.title && t.dateTime).length`); n != 3 {
		t.Errorf("times with a full-timestamp title: got %d, want 3", n)
	}
	if n := browserEval[int](bob, `document.querySelectorAll('#messages .day').length`); n != 1 {
		t.Errorf("day separators: got %d, want 1", n)
	}
	bob.wait("a screen-reader announcement of alice's messages", `/alice in #lobby: |new messages in #lobby/.test(document.getElementById('announcer').textContent)`)

	// Text over the server's limit is refused before sending.
	var config struct {
		MaxMessageBytes int `json:"max_message_bytes"`
	}
	srv.getJSON("/api/config", &config)
	alice.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`{
		const t = document.getElementById('composer-text');
		t.value = 'é'.repeat(%d);
		t.dispatchEvent(new Event('input'));
	}`, config.MaxMessageBytes/2+1)))
	alice.wait("the too-long hint", `document.getElementById('send-button').disabled &&
		document.getElementById('composer-text').getAttribute('aria-invalid') === 'true' &&
		/limit/.test(document.getElementById('composer-hint').textContent)`)
	alice.do(chromedp.Focus(chromedp.ID("composer-text")), chromedp.KeyEvent("\r"))
	if n := browserEval[int](alice, `document.querySelectorAll('#outbox li').length`); n != 0 {
		t.Errorf("outbox after Enter on a too-long text: got %d items, want 0", n)
	}
	if got := len(srv.messages("lobby")); got != len(want) {
		t.Errorf("stored messages: got %d, want %d", got, len(want))
	}

	// A reload resumes from the tab's cache and the stream cursor: no fetch
	// of the room's messages, and nothing missed meanwhile.
	bob.do(chromedp.Reload())
	srv.post("lobby", "carol", "posted around the reload", "")
	want = append(want, "posted around the reload")
	bob.waitReady()
	bob.waitTexts("the messages after a reload", want)
	if n := browserEval[int](bob, `performance.getEntriesByType('resource').filter((e) => /\/api\/rooms\/[^/]+\/messages/.test(e.name)).length`); n != 0 {
		t.Errorf("message fetches after a reload: got %d, want 0", n)
	}
	alice.checkClean()
	bob.checkClean()
}

func TestBrowserHostileText(t *testing.T) {
	srv := browserStartServer(t)
	payloads := []string{
		`<img src=x onerror="window.parleyPwned = 1">`,
		`<script>window.parleyPwned = 2</script>`,
		`<a href="javascript:window.parleyPwned = 3">click me</a>`,
		`javascript:window.parleyPwned = 4`,
		`<svg onload="window.parleyPwned = 5"></svg><iframe src="javascript:window.parleyPwned = 6"></iframe>`,
		`http://example.com/"><img src=x onerror="window.parleyPwned = 7">`,
		`see https://example.com/docs?q=1&lang=en. or (https://example.org/a_(b)) or ftp://example.net/x`,
	}
	for _, text := range payloads {
		srv.post("sec", "mallory", text, "")
	}
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/sec", "victim")
	p.waitTexts("every payload as text", payloads)

	if n := browserEval[int](p, `document.querySelectorAll('#messages img, #messages script, #messages svg, #messages iframe').length`); n != 0 {
		t.Errorf("elements made from message text: got %d, want 0", n)
	}
	type link struct {
		Href string `json:"href"`
		Rel  string `json:"rel"`
		Text string `json:"text"`
	}
	// Links made of message text; the only others are permalinks (a
	// message's time), to this page.
	links := browserEval[[]link](p, `[...document.querySelectorAll('#messages .msg-text a')].map((a) => ({href: a.href, rel: a.rel, text: a.textContent}))`)
	if other := browserEval[[]string](p, `[...document.querySelectorAll('#messages a:not(.msg-text a)')].map((a) => a.href)
		.filter((h) => !h.startsWith(location.origin + '/r/sec?m='))`); len(other) != 0 {
		t.Errorf("links outside message text that are not permalinks: %q", other)
	}
	wantLinks := []link{
		{Href: "http://example.com/", Rel: "noopener noreferrer", Text: "http://example.com/"},
		{Href: "https://example.com/docs?q=1&lang=en", Rel: "noopener noreferrer", Text: "https://example.com/docs?q=1&lang=en"},
		{Href: "https://example.org/a_(b)", Rel: "noopener noreferrer", Text: "https://example.org/a_(b)"},
	}
	if !slices.Equal(links, wantLinks) {
		t.Errorf("links: got %+v, want %+v", links, wantLinks)
	}
	// Hovering and clicking around must not run anything either.
	p.do(chromedp.Click(chromedp.CSS("#messages .msg:nth-of-type(2) .msg-text")))
	if v := browserEval[any](p, `window.parleyPwned`); v != nil {
		t.Errorf("window.parleyPwned: got %v, want undefined", v)
	}
	p.checkClean()
}

func TestBrowserServerRestart(t *testing.T) {
	srv := browserStartServer(t)
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/ops", "dana")

	var want []string
	post := func(text string) {
		t.Helper()
		srv.post("ops", "bot", text, "")
		want = append(want, text)
	}
	for i := range 3 {
		post(fmt.Sprintf("before %d", i))
	}
	p.waitTexts("messages before the restart", want)

	srv.stop()
	p.wait("the indicator to leave live", `['reconnecting', 'offline'].includes(document.getElementById('conn').dataset.state)`)
	srv.start()
	for i := range 3 {
		post(fmt.Sprintf("during %d", i)) // before the page is back
	}
	p.wait("the indicator to show live", `document.getElementById('conn').dataset.state === 'live'`)
	for i := range 3 {
		post(fmt.Sprintf("after %d", i))
	}
	p.waitTexts("every message exactly once, in order", want)
	browserCheckAscending(t, p.ids())
	p.checkClean()
}

// setOnline emulates the browser losing or regaining its network: requests
func TestBrowserNetworkDrop(t *testing.T) {
	srv := browserStartServer(t)
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/train", "frank")

	var want []string
	post := func(text string) {
		t.Helper()
		srv.post("train", "bot", text, "")
		want = append(want, text)
	}
	post("before the tunnel")
	p.waitTexts("the first message", want)

	p.setOnline(false)
	p.wait("the indicator to show offline", `document.getElementById('conn').dataset.state === 'offline'`)
	for i := range 3 {
		post(fmt.Sprintf("in the tunnel %d", i))
	}
	p.setOnline(true)
	p.wait("the indicator to show live", `document.getElementById('conn').dataset.state === 'live'`)
	post("after the tunnel")
	p.waitTexts("every message exactly once, in order", want)
	browserCheckAscending(t, p.ids())
	p.checkClean()
}

func TestBrowserScrollback(t *testing.T) {
	const total = 520
	srv := browserStartServer(t)
	want := make([]string, total)
	for i := range total {
		want[i] = fmt.Sprintf("history %03d", i)
		srv.post("history", []string{"ann", "ben", "cat"}[i%3], want[i], "")
	}
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/history", "reader")
	p.wait("the newest message", `document.querySelector('#messages .msg:last-of-type .msg-text')?.textContent === 'history 519'`)

	type anchor struct {
		ID    string  `json:"id"`
		Top   float64 `json:"top"`
		Count int     `json:"count"`
	}
	for pages := 0; ; pages++ {
		if pages > total/10 {
			t.Fatalf("scrollback did not finish after %d pages", pages)
		}
		// Scroll to the top and note where the oldest shown message is.
		a := browserEval[anchor](p, `(() => {
			const s = document.getElementById('scroller');
			s.scrollTop = 0;
			const li = document.querySelector('#messages .msg');
			return {id: li.dataset.id, top: li.getBoundingClientRect().top, count: document.querySelectorAll('#messages .msg').length};
		})()`)
		if a.Count == total {
			break
		}
		p.wait("an older page", fmt.Sprintf(`document.querySelectorAll('#messages .msg').length > %d &&
			document.getElementById('scroller').getAttribute('aria-busy') === 'false'`, a.Count))
		top := browserEval[float64](p, fmt.Sprintf(`document.querySelector('#messages .msg[data-id="%s"]').getBoundingClientRect().top`, a.ID))
		if d := top - a.Top; d < -2 || d > 2 {
			t.Fatalf("page %d: the message in view moved by %.1fpx, want no jump", pages, d)
		}
	}
	p.waitTexts("the whole history", want)
	browserCheckAscending(t, p.ids())
	p.wait("the start-of-room note", `/start of #history/.test(document.getElementById('history-status').textContent)`)

	// Scrolled up, a new message shows the pill instead of moving the view.
	scrollTop := browserEval[float64](p, `document.getElementById('scroller').scrollTop`)
	srv.post("history", "ann", "new while reading", "")
	p.wait("the new-messages pill", `!document.getElementById('new-pill').hidden`)
	if got := browserEval[float64](p, `document.getElementById('scroller').scrollTop`); got != scrollTop {
		t.Errorf("scrollTop after a new message while scrolled up: got %v, want %v", got, scrollTop)
	}
	p.do(chromedp.Click(chromedp.ID("new-pill")))
	atBottom := `(() => { const s = document.getElementById('scroller'); return s.scrollHeight - s.scrollTop - s.clientHeight < 2; })()`
	p.wait("the view at the bottom", atBottom+` && document.getElementById('new-pill').hidden`)
	// At the bottom, new messages keep the view at the bottom.
	srv.post("history", "ben", "new while at the bottom", "")
	p.wait("the newest message", `document.querySelector('#messages .msg:last-of-type .msg-text')?.textContent === 'new while at the bottom'`)
	p.wait("the view to stay at the bottom", atBottom+` && document.getElementById('new-pill').hidden`)
	p.checkClean()
}

// TestBrowserScreenshots writes docs/ui-desktop.png, docs/ui-desktop-dark.png,
// docs/ui-phone.png and docs/ui-phone-rooms.png when PARLEY_SCREENSHOTS=1.
func TestBrowserScreenshots(t *testing.T) {
	if os.Getenv("PARLEY_SCREENSHOTS") != "1" {
		t.Skip("set PARLEY_SCREENSHOTS=1 to write docs/ui-*.png")
	}
	srv := browserStartServer(t)
	browser := browserStart(t)
	srv.post("design", "noor", "First pass at the new settings screen is up for review.", "")
	srv.post("random", "sam", "Anyone up for lunch at 12:30?", "")
	morning := srv.post("general", "maria", "Morning all! The staging deploy finished overnight.", "")
	notes := srv.post("general", "maria", "Release notes draft: https://example.com/notes/2026-11", "")
	thanks := srv.post("general", "tom", "Thanks! I'll go through the migration steps before standup.", "")
	question := srv.post("general", "tom", "One question: does the export keep message ids?", "")
	answer := srv.reply("general", "maria", "Yes, every line is the stored event, ids included.", question.ID)
	srv.edit("general", thanks.ID, "tom", "Thanks! I'll go through the migration steps before standup tomorrow.")
	srv.react("general", morning.ID, "tom", "🎉")
	srv.react("general", morning.ID, "ada", "🎉")
	srv.react("general", morning.ID, "lee", "👍")
	srv.react("general", notes.ID, "tom", "👀")
	srv.react("general", answer.ID, "tom", "🙏")
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/general", "ada")
	p.do(chromedp.Navigate(srv.URL + "/r/design"))
	p.waitReady()
	p.do(chromedp.Navigate(srv.URL + "/r/random"))
	p.waitReady()
	p.do(chromedp.Navigate(srv.URL + "/r/general"))
	p.waitReady()
	srv.post("design", "noor", "Updated the mockups with your notes.", "")
	srv.post("design", "lee", "Looks great, ship it.", "")
	srv.post("random", "sam", "12:30 it is.", "")
	p.do(chromedp.Focus(chromedp.CSS(`#messages li.msg[data-id="`+answer.ID+`"] [data-action="reply"]`)), chromedp.KeyEvent(kb.Enter))
	p.wait("reply mode", `!document.getElementById('reply-bar').hidden`)
	p.send("Great, thanks Maria! I'll post the checklist here after the call.")
	p.wait("the unread badges", `document.querySelectorAll('#room-list .badge').length === 2`)
	p.wait("the sent message", `document.querySelectorAll('#outbox li').length === 0 && document.querySelectorAll('#messages .msg').length === 6 &&
		document.querySelectorAll('#messages .msg-quote').length === 2 && document.querySelectorAll('#messages .reaction').length === 4`)
	p.do(chromedp.Blur(chromedp.ID("composer-text")))

	shoot := func(name string, width, height int64, scale float64, mobile bool, settled string) {
		t.Helper()
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(scale)}
		if mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		}
		p.do(chromedp.EmulateViewport(width, height, opts...))
		p.wait("the layout to settle", settled)
		ctx, cancel := context.WithTimeout(p.ctx, browserWait)
		defer cancel()
		buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.MkdirAll(filepath.Join("..", "docs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "docs", name), buf, 0o644); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
	}
	sidebarRight := `document.getElementById('sidebar').getBoundingClientRect().right`
	// The desktop shot shows one message's actions.
	p.do(chromedp.EmulateViewport(1280, 800, chromedp.EmulateScale(1)))
	p.mouseClick(`#messages li.msg[data-id="` + question.ID + `"] .msg-text`)
	shoot("ui-desktop.png", 1280, 800, 1, false, sidebarRight+` === 272`)
	// Headless Chromium has no hover: the click selected the message as a
	// tap would, and a second one unselects it.
	p.mouseClick(`#messages li.msg[data-id="` + question.ID + `"] .msg-text`)
	p.wait("no message selected", `!document.querySelector('#messages li.msg.selected')`)
	shoot("ui-phone.png", 390, 844, 2, true, sidebarRight+` <= 0`)
	p.do(chromedp.Click(chromedp.ID("menu-button")))
	shoot("ui-phone-rooms.png", 390, 844, 2, true, sidebarRight+` > 300`)
	p.do(chromedp.KeyEvent(kb.Escape))
	if _, err := chromedp.Call(p.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		t.Fatalf("emulate dark mode: %v", err)
	}
	shoot("ui-desktop-dark.png", 1280, 800, 1, false, sidebarRight+` === 272`)
}
