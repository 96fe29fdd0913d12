package api_test

// Browser tests: the web client in web/ driven in real headless Chromium
// against a real server and bbolt file. They need /usr/bin/chromium; without
// it they skip, unless CI=true, where they fail.
//
// PARLEY_SCREENSHOTS=1 also writes docs/ui-*.png.

import (
	"bytes"
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

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store"
)

const browserChromiumPath = "/usr/bin/chromium"

// browserWaitLong bounds waits that involve reconnects and page loads;
// browserDelivery is how fast a message must reach every open page.
const (
	browserWaitLong = 15 * time.Second
	browserDelivery = time.Second
)

// browserEvent is an event as the HTTP API returns it.
type browserEvent struct {
	ID       string `json:"id"`
	Room     string `json:"room"`
	Type     string `json:"type"`
	Author   string `json:"author"`
	Text     string `json:"text"`
	Time     string `json:"time"`
	ClientID string `json:"client_id,omitempty"`
}

// browserServer is a real server on a real bbolt file that a test can stop
// and start again on the same address and file.
type browserServer struct {
	tb   testing.TB
	path string
	addr string
	URL  string
	db   *store.DB
	srv  *api.Server
}

func browserStartServer(tb testing.TB) *browserServer {
	tb.Helper()
	s := &browserServer{tb: tb, path: filepath.Join(tb.TempDir(), "parley.db"), addr: "127.0.0.1:0"}
	s.start()
	tb.Cleanup(s.stop)
	return s
}

// start opens the db and serves on the server's address (the first start
// picks a free port, later starts reuse it).
func (s *browserServer) start() {
	s.tb.Helper()
	db := store.NewDB(s.path)
	if err := db.Open(); err != nil {
		s.tb.Fatalf("open db: %v", err)
	}
	srv := api.NewServer(db)
	srv.Addr = s.addr
	srv.Logger = slog.New(slog.DiscardHandler)
	if err := srv.Open(); err != nil {
		db.Close()
		s.tb.Fatalf("open server on %s: %v", s.addr, err)
	}
	s.db, s.srv = db, srv
	s.URL = srv.URL()
	s.addr = strings.TrimPrefix(s.URL, "http://")
}

func (s *browserServer) stop() {
	if s.srv != nil {
		s.srv.Close()
	}
	if s.db != nil {
		s.db.Close()
	}
}

// post stores a message through the API, as another client would.
func (s *browserServer) post(room, author, text, clientID string) browserEvent {
	s.tb.Helper()
	body, _ := json.Marshal(map[string]string{"author": author, "text": text, "client_id": clientID})
	resp, err := http.Post(s.URL+"/api/rooms/"+room+"/messages", "application/json", bytes.NewReader(body))
	if err != nil {
		s.tb.Fatalf("post to %s: %v", room, err)
	}
	defer resp.Body.Close()
	var ev browserEvent
	if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil {
		s.tb.Fatalf("post to %s: decode: %v", room, err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		s.tb.Fatalf("post to %s: got status %d, want 201 or 200", room, resp.StatusCode)
	}
	return ev
}

// messages returns a room's stored events, oldest first.
func (s *browserServer) messages(room string) []browserEvent {
	s.tb.Helper()
	var out struct {
		Events []browserEvent `json:"events"`
	}
	s.getJSON("/api/rooms/"+room+"/messages?limit=1000", &out)
	return out.Events
}

func (s *browserServer) getJSON(path string, v any) {
	s.tb.Helper()
	resp, err := http.Get(s.URL + path)
	if err != nil {
		s.tb.Fatalf("get %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.tb.Fatalf("get %s: got status %d, want 200", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		s.tb.Fatalf("get %s: decode: %v", path, err)
	}
}

// browserStart launches headless Chromium with a fresh profile and returns
// a context whose children are tabs of it.
func browserStart(tb testing.TB) context.Context {
	tb.Helper()
	if _, err := os.Stat(browserChromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("browser tests need %s: %v", browserChromiumPath, err)
		}
		tb.Skipf("skipping browser test: %s not found (install the chromium package; with CI=true this fails)", browserChromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browserChromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// Every page of a test is visible; none may be throttled as a
		// background tab.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	tb.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start %s: %v", browserChromiumPath, err)
	}
	return ctx
}

// browserPage is one tab with its own cookies and storage, so two pages in
// one test are two different people.
type browserPage struct {
	tb  testing.TB
	ctx context.Context
}

func browserNewPage(tb testing.TB, browser context.Context) *browserPage {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	tb.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("open tab: %v", err)
	}
	// Record what the Content-Security-Policy blocks and any script that a
	// message managed to run.
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.parleyCSP = [];
document.addEventListener('securitypolicyviolation', (e) => window.parleyCSP.push(e.violatedDirective + ' ' + e.blockedURI));`,
	})
	if err != nil {
		tb.Fatalf("add init script: %v", err)
	}
	return &browserPage{tb: tb, ctx: ctx}
}

// open loads url, answers the first-visit name prompt with name, and waits
// until the stream is live and the room's messages are loaded.
func (p *browserPage) open(url, name string) {
	p.tb.Helper()
	p.do(chromedp.Navigate(url))
	p.wait("the name prompt", `document.getElementById('name-dialog').open`, browserWaitLong)
	p.do(chromedp.SendKeys(chromedp.ID("name-input"), name+"\n"))
	p.wait("the prompt to close", `!document.getElementById('name-dialog').open`, browserWaitLong)
	p.waitReady()
}

func (p *browserPage) waitReady() {
	p.tb.Helper()
	p.wait("the page to be live and loaded",
		`document.getElementById('conn').dataset.state === 'live' &&
		 document.getElementById('scroller').getAttribute('aria-busy') === 'false'`, browserWaitLong)
}

func (p *browserPage) do(actions ...chromedp.Action[chromedp.Void]) {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWaitLong)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.tb.Fatalf("browser: %v", err)
	}
}

// wait polls the page until the JavaScript expression is truthy.
func (p *browserPage) wait(what, expr string, timeout time.Duration) {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		p.tb.Fatalf("waiting %v for %s: %v; the page shows %q (connection %s)", timeout, what, err, p.texts(), p.state())
	}
}

// browserEval evaluates expr in the page and decodes its value.
func browserEval[T any](p *browserPage, expr string) T {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWaitLong)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.tb.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// texts is the text of every stored message the page shows, in order.
func (p *browserPage) texts() []string {
	return browserEval[[]string](p, `[...document.querySelectorAll('#messages .msg .msg-text')].map((e) => e.textContent)`)
}

// ids is the id of every stored message the page shows, in order.
func (p *browserPage) ids() []string {
	return browserEval[[]string](p, `[...document.querySelectorAll('#messages .msg')].map((e) => e.dataset.id)`)
}

func (p *browserPage) state() string {
	return browserEval[string](p, `document.getElementById('conn').dataset.state`)
}

// waitTexts waits until the page shows exactly want, in order.
func (p *browserPage) waitTexts(what string, want []string, timeout time.Duration) {
	p.tb.Helper()
	js, _ := json.Marshal(want)
	p.wait(what, fmt.Sprintf(`JSON.stringify([...document.querySelectorAll('#messages .msg .msg-text')].map((e) => e.textContent)) === JSON.stringify(%s)`, js), timeout)
}

// send types text into the composer and presses Enter.
func (p *browserPage) send(text string) {
	p.tb.Helper()
	p.do(chromedp.SendKeys(chromedp.ID("composer-text"), text+"\n"))
}

// checkClean fails if the page broke its Content-Security-Policy.
func (p *browserPage) checkClean() {
	p.tb.Helper()
	if v := browserEval[[]string](p, `window.parleyCSP`); len(v) != 0 {
		p.tb.Errorf("CSP violations: got %q, want none", v)
	}
}

func browserCheckAscending(tb testing.TB, ids []string) {
	tb.Helper()
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			tb.Fatalf("ids out of order at %d: %s after %s", i, ids[i], ids[i-1])
		}
	}
}

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
		start := time.Now()
		from.send(text)
		want = append(want, text)
		for _, p := range []*browserPage{alice, bob} {
			p.waitTexts(fmt.Sprintf("%q on both pages", text), want, browserDelivery-time.Since(start))
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
	bob.waitTexts("the two-line message", want, browserWaitLong)
	alice.waitTexts("the two-line message", want, browserWaitLong)

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
	bob.wait("a screen-reader announcement of alice's messages", `/alice in #lobby: |new messages in #lobby/.test(document.getElementById('announcer').textContent)`, browserWaitLong)

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
		/limit/.test(document.getElementById('composer-hint').textContent)`, browserWaitLong)
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
	bob.waitTexts("the messages after a reload", want, browserWaitLong)
	if n := browserEval[int](bob, `performance.getEntriesByType('resource').filter((e) => e.name.includes('/messages')).length`); n != 0 {
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
	p.waitTexts("every payload as text", payloads, browserWaitLong)

	if n := browserEval[int](p, `document.querySelectorAll('#messages img, #messages script, #messages svg, #messages iframe').length`); n != 0 {
		t.Errorf("elements made from message text: got %d, want 0", n)
	}
	type link struct {
		Href string `json:"href"`
		Rel  string `json:"rel"`
		Text string `json:"text"`
	}
	links := browserEval[[]link](p, `[...document.querySelectorAll('#messages a')].map((a) => ({href: a.href, rel: a.rel, text: a.textContent}))`)
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
	p.waitTexts("messages before the restart", want, browserWaitLong)

	srv.stop()
	p.wait("the indicator to show reconnecting", `document.getElementById('conn').dataset.state === 'reconnecting'`, browserWaitLong)
	srv.start()
	for i := range 3 {
		post(fmt.Sprintf("during %d", i)) // before the page is back
	}
	p.wait("the indicator to show live", `document.getElementById('conn').dataset.state === 'live'`, browserWaitLong)
	for i := range 3 {
		post(fmt.Sprintf("after %d", i))
	}
	p.waitTexts("every message exactly once, in order", want, browserWaitLong)
	browserCheckAscending(t, p.ids())
	p.checkClean()
}

// setOnline emulates the browser losing or regaining its network: requests
// fail and navigator.onLine follows, as when Wi-Fi drops.
func (p *browserPage) setOnline(online bool) {
	p.tb.Helper()
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		conditions := []*network.Conditions{}
		if !online {
			conditions = append(conditions, &network.Conditions{Offline: true, DownloadThroughput: -1, UploadThroughput: -1})
		}
		if _, err := cdp.Call(ctx, t, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: conditions,
		}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, network.OverrideNetworkState, network.OverrideNetworkStateParams{
			Offline: !online, DownloadThroughput: -1, UploadThroughput: -1,
		})
		return err
	}))
}

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
	p.waitTexts("the first message", want, browserWaitLong)

	p.setOnline(false)
	p.wait("the indicator to show offline", `document.getElementById('conn').dataset.state === 'offline'`, browserWaitLong)
	for i := range 3 {
		post(fmt.Sprintf("in the tunnel %d", i))
	}
	p.setOnline(true)
	p.wait("the indicator to show live", `document.getElementById('conn').dataset.state === 'live'`, browserWaitLong)
	post("after the tunnel")
	p.waitTexts("every message exactly once, in order", want, browserWaitLong)
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
	p.wait("the newest message", `document.querySelector('#messages .msg:last-of-type .msg-text')?.textContent === 'history 519'`, browserWaitLong)

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
			document.getElementById('scroller').getAttribute('aria-busy') === 'false'`, a.Count), browserWaitLong)
		top := browserEval[float64](p, fmt.Sprintf(`document.querySelector('#messages .msg[data-id="%s"]').getBoundingClientRect().top`, a.ID))
		if d := top - a.Top; d < -2 || d > 2 {
			t.Fatalf("page %d: the message in view moved by %.1fpx, want no jump", pages, d)
		}
	}
	p.waitTexts("the whole history", want, browserWaitLong)
	browserCheckAscending(t, p.ids())
	p.wait("the start-of-room note", `/start of #history/.test(document.getElementById('history-status').textContent)`, browserWaitLong)

	// Scrolled up, a new message shows the pill instead of moving the view.
	scrollTop := browserEval[float64](p, `document.getElementById('scroller').scrollTop`)
	srv.post("history", "ann", "new while reading", "")
	p.wait("the new-messages pill", `!document.getElementById('new-pill').hidden`, browserWaitLong)
	if got := browserEval[float64](p, `document.getElementById('scroller').scrollTop`); got != scrollTop {
		t.Errorf("scrollTop after a new message while scrolled up: got %v, want %v", got, scrollTop)
	}
	p.do(chromedp.Click(chromedp.ID("new-pill")))
	atBottom := `(() => { const s = document.getElementById('scroller'); return s.scrollHeight - s.scrollTop - s.clientHeight < 2; })()`
	p.wait("the view at the bottom", atBottom+` && document.getElementById('new-pill').hidden`, browserWaitLong)
	// At the bottom, new messages keep the view at the bottom.
	srv.post("history", "ben", "new while at the bottom", "")
	p.wait("the newest message", `document.querySelector('#messages .msg:last-of-type .msg-text')?.textContent === 'new while at the bottom'`, browserWaitLong)
	p.wait("the view to stay at the bottom", atBottom+` && document.getElementById('new-pill').hidden`, browserWaitLong)
	p.checkClean()
}

func TestBrowserRetryAfterOutage(t *testing.T) {
	srv := browserStartServer(t)
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/retry", "erin")

	srv.stop()
	p.wait("the indicator to leave live", `document.getElementById('conn').dataset.state !== 'live'`, browserWaitLong)
	p.send("lost answer")
	p.send("never arrived")
	p.wait("both sends to fail", `document.querySelectorAll('#outbox li[data-state="failed"] button[data-action="retry"]').length === 2`, browserWaitLong)
	clientIDs := browserEval[[]string](p, `[...document.querySelectorAll('#outbox li')].map((li) => li.dataset.clientId)`)

	srv.start()
	// The first message reached the server; only its answer was lost. The
	// retry must not store it twice.
	srv.post("retry", "erin", "lost answer", clientIDs[0])
	p.do(chromedp.Click(chromedp.CSS(`#outbox li[data-client-id="` + clientIDs[0] + `"] button[data-action="retry"]`)))
	p.do(chromedp.Click(chromedp.CSS(`#outbox li[data-client-id="` + clientIDs[1] + `"] button[data-action="retry"]`)))
	p.waitTexts("each message once", []string{"lost answer", "never arrived"}, browserWaitLong)
	p.wait("the outbox to empty", `document.querySelectorAll('#outbox li').length === 0`, browserWaitLong)

	stored := srv.messages("retry")
	var got []string
	for _, ev := range stored {
		got = append(got, ev.Text+" "+ev.ClientID)
	}
	want := []string{"lost answer " + clientIDs[0], "never arrived " + clientIDs[1]}
	if !slices.Equal(got, want) {
		t.Fatalf("stored: got %q, want %q", got, want)
	}
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
	for _, m := range []struct{ room, author, text string }{
		{"design", "noor", "First pass at the new settings screen is up for review."},
		{"random", "sam", "Anyone up for lunch at 12:30?"},
		{"general", "maria", "Morning all! The staging deploy finished overnight."},
		{"general", "maria", "Release notes draft: https://example.com/notes/2026-11"},
		{"general", "tom", "Thanks! I'll go through the migration steps before standup."},
		{"general", "tom", "One question: does the export keep message ids?"},
		{"general", "maria", "Yes, every line is the stored event, ids included."},
	} {
		srv.post(m.room, m.author, m.text, "")
	}
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
	p.send("Great, thanks Maria! I'll post the checklist here after the call.")
	p.wait("the unread badges", `document.querySelectorAll('#room-list .badge').length === 2`, browserWaitLong)
	p.wait("the sent message", `document.querySelectorAll('#outbox li').length === 0 && document.querySelectorAll('#messages .msg').length === 6`, browserWaitLong)

	shoot := func(name string, width, height int64, scale float64, mobile bool, settled string) {
		t.Helper()
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(scale)}
		if mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		}
		p.do(chromedp.EmulateViewport(width, height, opts...))
		p.wait("the layout to settle", settled, browserWaitLong)
		ctx, cancel := context.WithTimeout(p.ctx, browserWaitLong)
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
	shoot("ui-desktop.png", 1280, 800, 1, false, sidebarRight+` === 272`)
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
