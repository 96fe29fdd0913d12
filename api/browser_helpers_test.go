package api_test

// Shared helpers of the browser tests: a real server on a real bbolt file
// that can be stopped and started again, headless Chromium, and pages
// driven through it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store/bolt"
)

const browserChromiumPath = "/usr/bin/chromium"

// browserWait bounds every wait of a browser test: for a message to show,
// a reconnect, a page load. Tests assert what happens, never how fast: the
// deadline is generous because the machine may be busy with other tests,
// and a passing wait ends as soon as its condition holds.
const browserWait = 60 * time.Second

// browserEvent is an event, or a message's current state, as the HTTP API
// returns it.
type browserEvent struct {
	ID        string             `json:"id"`
	Room      string             `json:"room"`
	Type      string             `json:"type"`
	Author    string             `json:"author"`
	Text      string             `json:"text"`
	Time      string             `json:"time"`
	ClientID  string             `json:"client_id,omitempty"`
	ReplyTo   string             `json:"reply_to,omitempty"`
	Target    string             `json:"target,omitempty"`
	Emoji     string             `json:"emoji,omitempty"`
	Remove    bool               `json:"remove,omitempty"`
	EditedAt  string             `json:"edited_at,omitempty"`
	DeletedAt string             `json:"deleted_at,omitempty"`
	Redacted  bool               `json:"redacted,omitempty"`
	Reactions []browserReactions `json:"reactions,omitempty"`
}

// browserReactions is one emoji on a message's state.
type browserReactions struct {
	Emoji   string   `json:"emoji"`
	Count   int      `json:"count"`
	Authors []string `json:"authors"`
}

// browserServer is a real server on a real bbolt file that a test can stop
// and start again on the same address and file.
type browserServer struct {
	tb   testing.TB
	path string
	addr string
	URL  string
	db   *bolt.DB
	srv  *api.Server
	// configureDB and configure, if set, adjust the db and the server
	// before each start: a test may change them between a stop and a start.
	configureDB func(*bolt.DB)
	configure   func(*api.Server)
}

// browserStartServer starts a server after opts have set its fields.
func browserStartServer(tb testing.TB, opts ...func(*browserServer)) *browserServer {
	tb.Helper()
	s := &browserServer{tb: tb, path: filepath.Join(tb.TempDir(), "parley.db"), addr: "127.0.0.1:0"}
	for _, opt := range opts {
		opt(s)
	}
	s.start()
	tb.Cleanup(s.stop)
	return s
}

// start opens the db and serves on the server's address (the first start
// picks a free port, later starts reuse it).
func (s *browserServer) start() {
	s.tb.Helper()
	db := bolt.NewDB(s.path)
	if s.configureDB != nil {
		s.configureDB(db)
	}
	if err := db.Open(); err != nil {
		s.tb.Fatalf("open db: %v", err)
	}
	srv := api.NewServer(db)
	srv.Addr = s.addr
	srv.Logger = slog.New(slog.DiscardHandler)
	srv.Files = db
	if s.configure != nil {
		s.configure(srv)
	}
	if err := srv.Open(); err != nil {
		db.Close()
		s.tb.Fatalf("open server on %s: %v", s.addr, err)
	}
	s.db, s.srv = db, srv
	s.URL = srv.URL()
	s.addr = strings.TrimPrefix(s.URL, "http://")
}

// restart stops the server and starts it again with configure (nil: the
// defaults) on the same address and file.
func (s *browserServer) restart(configure func(*api.Server)) {
	s.tb.Helper()
	s.stop()
	s.configure = configure
	s.start()
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
	return s.call(http.MethodPost, "/api/rooms/"+room+"/messages", map[string]string{"author": author, "text": text, "client_id": clientID})
}

// reply stores a message that answers parent.
func (s *browserServer) reply(room, author, text, parent string) browserEvent {
	s.tb.Helper()
	return s.call(http.MethodPost, "/api/rooms/"+room+"/messages", map[string]string{"author": author, "text": text, "reply_to": parent})
}

// edit, remove, react and unreact change a stored message through the API.
func (s *browserServer) edit(room, id, author, text string) browserEvent {
	s.tb.Helper()
	return s.call(http.MethodPatch, "/api/rooms/"+room+"/messages/"+id, map[string]string{"author": author, "text": text})
}

func (s *browserServer) remove(room, id, author string) browserEvent {
	s.tb.Helper()
	return s.call(http.MethodDelete, "/api/rooms/"+room+"/messages/"+id, map[string]string{"author": author})
}

func (s *browserServer) react(room, id, author, emoji string) browserEvent {
	s.tb.Helper()
	return s.call(http.MethodPost, "/api/rooms/"+room+"/messages/"+id+"/reactions", map[string]string{"author": author, "emoji": emoji})
}

func (s *browserServer) unreact(room, id, author, emoji string) browserEvent {
	s.tb.Helper()
	return s.call(http.MethodDelete, "/api/rooms/"+room+"/messages/"+id+"/reactions/"+url.PathEscape(emoji), map[string]string{"author": author})
}

// call sends a JSON request and decodes the event or state it answers; any
// status but 201 or 200 fails the test.
func (s *browserServer) call(method, path string, body any) browserEvent {
	s.tb.Helper()
	resp, raw := browserRequest(s.tb, method, s.URL+path, "", body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		s.tb.Fatalf("%s %s: got status %d (%s), want 201 or 200", method, path, resp.StatusCode, raw)
	}
	var ev browserEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		s.tb.Fatalf("%s %s: decode: %v", method, path, err)
	}
	return ev
}

// browserRequest sends body (if not nil) as JSON to target with cookie (a
// "name=value" Cookie header, or "") and returns the response with its body
// read; only a failure to send or read fails the test.
func browserRequest(tb testing.TB, method, target, cookie string, body any) (*http.Response, []byte) {
	tb.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, target, r)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, target, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read: %v", method, target, err)
	}
	return resp, raw
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

// browserShared is the one headless Chromium that every browser test opens
// its pages in: starting it costs about a second, too much to pay per test.
// Each page gets a browser context of its own, so tests share no cookies or
// storage.
var browserShared struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	dir    string // the profile directory
	err    error
}

// TestMain stops the shared Chromium after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if browserShared.cancel != nil {
		browserShared.cancel()
		os.RemoveAll(browserShared.dir)
	}
	os.Exit(code)
}

// browserStart returns the shared headless Chromium, started on first use,
// as a context whose children are tabs of it.
func browserStart(tb testing.TB) context.Context {
	tb.Helper()
	if _, err := os.Stat(browserChromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("browser tests need %s: %v", browserChromiumPath, err)
		}
		tb.Skipf("skipping browser test: %s not found (install the chromium package; with CI=true this fails)", browserChromiumPath)
	}
	b := &browserShared
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "parley-chromium-")
		if b.err != nil {
			return
		}
		opts := append(browserFlags(b.dir),
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("hide-scrollbars", true),
		)
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(allocCtx)
		b.ctx = ctx
		b.cancel = func() {
			cancel()
			cancelAlloc()
		}
		b.err = chromedp.Do(ctx)
	})
	if b.err != nil {
		tb.Fatalf("start %s: %v", browserChromiumPath, b.err)
	}
	return b.ctx
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
	p.wait("the name prompt", `document.getElementById('name-dialog').open`)
	p.do(chromedp.SendKeys(chromedp.ID("name-input"), name+"\n"))
	p.wait("the prompt to close", `!document.getElementById('name-dialog').open`)
	p.waitReady()
}

func (p *browserPage) waitReady() {
	p.tb.Helper()
	p.wait("the page to be live and loaded",
		`document.getElementById('conn').dataset.state === 'live' &&
		 document.getElementById('scroller').getAttribute('aria-busy') === 'false'`)
}

func (p *browserPage) do(actions ...chromedp.Action[chromedp.Void]) {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.tb.Fatalf("browser: %v", err)
	}
}

// wait polls the page until the JavaScript expression is truthy, for at
// most browserWait.
func (p *browserPage) wait(what, expr string) {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(browserWait)))
	if err != nil {
		p.tb.Fatalf("waiting %v for %s: %v; the page shows %q (connection %s; note %q)", browserWait, what, err, p.texts(), p.state(),
			browserEval[string](p, `document.getElementById('toast').textContent`))
	}
}

// browserEval evaluates expr in the page and decodes its value.
func browserEval[T any](p *browserPage, expr string) T {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
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
func (p *browserPage) waitTexts(what string, want []string) {
	p.tb.Helper()
	js, _ := json.Marshal(want)
	p.wait(what, fmt.Sprintf(`JSON.stringify([...document.querySelectorAll('#messages .msg .msg-text')].map((e) => e.textContent)) === JSON.stringify(%s)`, js))
}

// send types text into the composer and presses Enter.
func (p *browserPage) send(text string) {
	p.tb.Helper()
	p.do(chromedp.SendKeys(chromedp.ID("composer-text"), text+"\n"))
}

// click clicks the element matching css as soon as there is one, in a single
// step: a list redrawn between finding the element and clicking it cannot
// make the click miss.
func (p *browserPage) click(css string) {
	p.tb.Helper()
	js, _ := json.Marshal(css)
	p.wait("something to click at "+css, fmt.Sprintf(`(() => { const e = document.querySelector(%s); if (e) e.click(); return Boolean(e); })()`, js))
}

// mouseClick clicks the element matching css with the mouse as a person
// would: over its message first, which shows the message's controls, then
// onto the element.
func (p *browserPage) mouseClick(css string) {
	p.tb.Helper()
	js, _ := json.Marshal(css)
	type point struct{ X, Y, MX, MY float64 }
	at := browserEval[point](p, fmt.Sprintf(`(() => {
		const e = document.querySelector(%s);
		e.scrollIntoView({block: 'nearest'});
		const r = e.getBoundingClientRect();
		const m = (e.closest('li') || e).getBoundingClientRect();
		return {X: r.left + r.width / 2, Y: r.top + r.height / 2, MX: m.left + m.width / 2, MY: m.top + m.height / 2};
	})()`, js))
	p.do(
		chromedp.MouseEvent(chromedp.MouseMoved, at.MX, at.MY),
		chromedp.MouseEvent(chromedp.MouseMoved, at.X, at.Y),
		chromedp.MouseClickXY(at.X, at.Y),
	)
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
		if _, err := cdp.Call(ctx, t, emulateByRule, emulateByRuleParams{
			Offline:                  !online,
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

// emulateByRuleParams are Network.emulateNetworkConditionsByRule's
// parameters as both protocol versions take them: Chromium up to about 148
// requires "offline" beside the rules, later ones read it from each rule
// (cdproto's struct has only the later form). Each ignores the other's.
type emulateByRuleParams struct {
	Offline                  bool                  `json:"offline"`
	MatchedNetworkConditions []*network.Conditions `json:"matchedNetworkConditions"`
}

var emulateByRule = cdp.Command[emulateByRuleParams, network.EmulateNetworkConditionsByRuleResult]{
	Method: network.CommandEmulateNetworkConditionsByRule,
}

// browserFlags are the options every Chromium of the tests starts with,
// its profile in dir.
func browserFlags(dir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browserChromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Every page of a test is visible; none may be throttled as a
		// background tab.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 800),
	}
}
