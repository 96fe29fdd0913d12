package api_test

// Browser tests of the page's streams and sending when things go wrong:
// more rooms than one stream may carry, a stream the server refuses,
// messages that failed while the server was down or that it refused,
// retention deleting what the page missed, and unread counts that count
// only messages.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store/bolt"
)

// openRoom opens name from the room form and waits until it is loaded.
func (p *browserPage) openRoom(name string) {
	p.tb.Helper()
	p.do(chromedp.SendKeys(chromedp.ID("room-input"), name+"\n"))
	p.wait("#"+name+" to open", fmt.Sprintf(`document.getElementById('room-title').textContent === %q`, name))
	p.waitReady()
}

// badges is the unread badge of each followed room that has one.
func (p *browserPage) badges() map[string]string {
	p.tb.Helper()
	return browserEval[map[string]string](p, `Object.fromEntries([...document.querySelectorAll('#room-list a')]
		.filter((a) => a.querySelector('.badge')).map((a) => [a.dataset.room, a.querySelector('.badge').textContent]))`)
}

// waitBadges waits until the followed rooms' unread badges are exactly want.
func (p *browserPage) waitBadges(what string, want map[string]string) {
	p.tb.Helper()
	js, _ := json.Marshal(want)
	p.wait(what, fmt.Sprintf(`(() => {
		const got = Object.fromEntries([...document.querySelectorAll('#room-list a')]
			.filter((a) => a.querySelector('.badge')).map((a) => [a.dataset.room, a.querySelector('.badge').textContent]));
		const want = %s;
		return Object.keys(got).length === Object.keys(want).length && Object.keys(want).every((k) => got[k] === want[k]);
	})()`, js))
}

// TestBrowserManyRooms: a page that follows more rooms than one stream may
// carry (the server's max_stream_rooms) gets every room's events, also
// after the server restarts with a lower limit.
func TestBrowserManyRooms(t *testing.T) {
	srv := browserStartServer(t, func(s *browserServer) {
		s.configure = func(a *api.Server) { a.MaxStreamRooms = 3 }
	})
	rooms := []string{"r1", "r2", "r3", "r4", "r5", "r6", "r7"}
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/"+rooms[0], "reader")
	for _, room := range rooms[1:] {
		p.openRoom(room)
	}
	p.click(`#room-list a[data-room="r1"]`)
	p.wait("r1 open", `document.getElementById('room-title').textContent === 'r1'`)

	// round posts one message to every room and waits until the page shows
	// all of them: r1's in the timeline, the others' as unread.
	var inR1 []string
	round := func(n int) {
		t.Helper()
		want := map[string]string{}
		for _, room := range rooms {
			srv.post(room, "bot", fmt.Sprintf("%s message %d", room, n), "")
			if room != "r1" {
				want[room] = fmt.Sprint(n)
			}
		}
		inR1 = append(inR1, fmt.Sprintf("r1 message %d", n))
		p.waitTexts("r1's messages", inR1)
		p.waitBadges("a message in every other room", want)
		p.wait("live, with no error", `document.getElementById('conn').dataset.state === 'live' && document.getElementById('stream-error').hidden`)
	}
	round(1)

	// The server comes back allowing fewer rooms per stream: the page
	// regroups its rooms and keeps every one.
	srv.restart(func(a *api.Server) { a.MaxStreamRooms = 2 })
	round(2)
	followed := func() []string {
		return browserEval[[]string](p, `[...document.querySelectorAll('#room-list a')].map((a) => a.dataset.room)`)
	}
	if got := followed(); !slices.Equal(got, rooms) {
		t.Errorf("followed rooms: got %q, want %q", got, rooms)
	}

	// One room per stream: four streams carry four rooms. The page stops
	// following the rooms it followed last, says which, and the rest keep
	// working.
	srv.restart(func(a *api.Server) { a.MaxStreamRooms = 1 })
	p.wait("the note", `document.getElementById('toast').textContent ===
		'This server lets you follow at most 4 rooms: you no longer follow #r7, #r6, #r5.'`)
	rooms = rooms[:4]
	if got := followed(); !slices.Equal(got, rooms) {
		t.Errorf("followed rooms: got %q, want %q", got, rooms)
	}
	round(3)
	p.do(chromedp.SendKeys(chromedp.ID("room-input"), "r8\n"))
	p.wait("the room form's refusal", `document.getElementById('room-error').textContent ===
		'This server lets you follow at most 4 rooms. Leave one first.'`)
	p.checkClean()
}

// browserProxy stands between the page and the server like a reverse proxy
// that can be told to answer the page's streams with a status of its own.
type browserProxy struct {
	URL     string
	front   *httptest.Server
	refuse  atomic.Int32 // the status to answer streams with; 0 passes them on
	streams atomic.Int32 // stream requests seen
}

func browserStartProxy(tb testing.TB, backend string) *browserProxy {
	tb.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		tb.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	bp := &browserProxy{}
	bp.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/events" {
			bp.streams.Add(1)
			if code := int(bp.refuse.Load()); code != 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(code)
				fmt.Fprintf(w, `{"error":"refused by the proxy with %d"}`+"\n", code)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	tb.Cleanup(func() {
		bp.front.CloseClientConnections() // open streams would hold Close up
		bp.front.Close()
	})
	bp.URL = bp.front.URL
	return bp
}

// TestBrowserStreamRefused: a stream answered with a status that retrying
// can fix (503) is retried until it works; one that retrying cannot fix
// (400) stops the retries and says why, until the rooms change.
func TestBrowserStreamRefused(t *testing.T) {
	srv := browserStartServer(t)
	proxy := browserStartProxy(t, srv.URL)
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(proxy.URL+"/r/lobby", "reader")
	stopped := `document.getElementById('conn').dataset.state === 'stopped'`
	errorShown := `document.getElementById('stream-error')?.hidden === false`

	// 503: the page keeps trying, then carries on where it was.
	proxy.refuse.Store(http.StatusServiceUnavailable)
	before := proxy.streams.Load()
	proxy.front.CloseClientConnections()
	p.wait("the indicator to leave live", `['reconnecting', 'offline'].includes(document.getElementById('conn').dataset.state)`)
	waitFor(t, func() bool { return proxy.streams.Load() >= before+3 })
	if browserEval[bool](p, stopped+` || `+errorShown) {
		t.Fatalf("a 503 stopped the stream; it must be retried")
	}
	srv.post("lobby", "bot", "after the 503s", "")
	proxy.refuse.Store(0)
	p.waitTexts("the message posted meanwhile", []string{"after the 503s"})
	p.wait("live", `document.getElementById('conn').dataset.state === 'live'`)

	// 400: the page stops and says why.
	proxy.refuse.Store(http.StatusBadRequest)
	proxy.front.CloseClientConnections()
	p.wait("the stopped state with the proxy's error", stopped+` && `+errorShown+
		` && document.getElementById('stream-error').textContent.includes('refused by the proxy with 400')`+
		` && /Reload the page/.test(document.getElementById('stream-error').textContent)`)
	refused := proxy.streams.Load()
	// What brings a waiting stream back at once (the network returning, the
	// page shown again) does not retry a refused one either.
	p.do(chromedp.Evaluate[chromedp.Void](`(async () => {
		window.dispatchEvent(new Event('online'));
		document.dispatchEvent(new Event('visibilitychange'));
		await fetch('/healthz');
	})()`, chromedp.EvalAwaitPromise))
	if got := proxy.streams.Load(); got != refused {
		t.Errorf("stream requests after the 400: got %d, want %d (no retry)", got, refused)
	}

	// Following another room is a new stream: it is tried again.
	proxy.refuse.Store(0)
	p.openRoom("other")
	p.wait("live again, the error gone", `document.getElementById('conn').dataset.state === 'live' && !(`+errorShown+`)`)
	srv.post("other", "bot", "streams work again", "")
	p.waitTexts("a message in the new room", []string{"streams work again"})
	p.checkClean()
}

// TestBrowserStreamParser: the page's reader of server-sent events (sse.js)
// follows the HTML standard's rules however the bytes arrive: each case is
// fed in two chunks, split at every byte.
func TestBrowserStreamParser(t *testing.T) {
	type event struct {
		Type string `json:"type"`
		Data string `json:"data"`
		ID   string `json:"id"`
	}
	srv := browserStartServer(t)
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.do(chromedp.Navigate(srv.URL + "/"))
	for _, tc := range []struct {
		name  string
		input string
		want  []event
	}{
		{"LF", "id: 1\nevent: e\ndata: a\n\n", []event{{"e", "a", "1"}}},
		{"CR", "id: 1\revent: e\rdata: a\r\r", []event{{"e", "a", "1"}}},
		{"CRLF", "id: 1\r\ndata: a\r\ndata: b\r\n\r\n", []event{{"message", "a\nb", "1"}}},
		{"BOM and comments", "\ufeff: hi\ndata: a\n\n:\n\n", []event{{"message", "a", ""}}},
		{"no space after colon, and two spaces", "data:a\ndata:  b\n\n", []event{{"message", "a\n b", ""}}},
		{"field without colon", "data\n\n", []event{{"message", "", ""}}},
		{"no data: no dispatch, type resets", "event: x\n\ndata: a\n\n", []event{{"message", "a", ""}}},
		{"id carries over, a reset has none", "id: 7\ndata: a\n\nevent: reset\ndata: {}\n\n", []event{{"message", "a", "7"}, {"reset", "{}", "7"}}},
		{"id with NUL ignored", "id: 7\ndata: a\n\nid: 8\x00\ndata: b\n\n", []event{{"message", "a", "7"}, {"message", "b", "7"}}},
		{"unfinished event dropped", "data: a\n\ndata: b\n", []event{{"message", "a", ""}}},
		{"unknown fields and retry ignored", "retry: 2000\n\nfoo: bar\ndata: a\n\n", []event{{"message", "a", ""}}},
		{"UTF-8 split anywhere", "data: é✓🎉\n\n", []event{{"message", "é✓🎉", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arg, _ := json.Marshal(tc.input)
			ctx, cancel := context.WithTimeout(p.ctx, browserWait)
			defer cancel()
			splits, err := chromedp.Run(ctx, chromedp.Evaluate[[][]event](fmt.Sprintf(`(async (input) => {
				const { readEvents } = await import('/assets/sse.js');
				const bytes = new TextEncoder().encode(input);
				const out = [];
				for (let cut = 0; cut <= bytes.length; cut++) {
					const body = new ReadableStream({ start(c) { c.enqueue(bytes.slice(0, cut)); c.enqueue(bytes.slice(cut)); c.close(); } });
					const got = [];
					await readEvents(body, (e) => got.push(e));
					out.push(got);
				}
				return out;
			})(%s)`, arg), chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatalf("evaluate: %v", err)
			}
			for cut, got := range splits {
				if !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
					t.Errorf("split at byte %d: got %+v, want %+v", cut, got, tc.want)
				}
			}
		})
	}
}

// TestBrowserResendAfterOutage: messages that failed while the server was
// down go again on their own once it answers, in order and with their
// client ids, so each is stored once, and none shows twice meanwhile.
func TestBrowserResendAfterOutage(t *testing.T) {
	srv := browserStartServer(t)
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/retry", "erin")

	srv.stop()
	p.wait("the indicator to leave live", `document.getElementById('conn').dataset.state !== 'live'`)
	texts := []string{"lost answer", "never arrived", "third"}
	for _, text := range texts {
		p.send(text)
	}
	p.wait("the sends to fail", `[...document.querySelectorAll('#outbox li')].filter((li) =>
		li.dataset.state === 'failed' && /Not sent/.test(li.textContent)).length === 3`)
	clientIDs := browserEval[[]string](p, `[...document.querySelectorAll('#outbox li')].map((li) => li.dataset.clientId)`)
	// Record any moment a text shows twice, in the timeline and the outbox.
	p.do(chromedp.Evaluate[chromedp.Void](`window.parleyTwice = [];
		new MutationObserver(() => {
			const shown = [...document.querySelectorAll('#messages .msg-text, #outbox .msg-text')].map((e) => e.textContent);
			const twice = shown.filter((t, i) => shown.indexOf(t) !== i);
			if (twice.length) window.parleyTwice.push(twice.join(', '));
		}).observe(document.getElementById('timeline'), {childList: true, subtree: true, characterData: true});`))

	srv.start()
	// The first message reached the server; only its answer was lost. The
	// page's retry must not store it twice.
	srv.post("retry", "erin", "lost answer", clientIDs[0])
	p.waitTexts("each message once, in order", texts)
	p.wait("the outbox to empty", `document.querySelectorAll('#outbox li').length === 0`)

	var got []string
	for _, ev := range srv.messages("retry") {
		got = append(got, ev.Text+" "+ev.ClientID)
	}
	var want []string
	for i, text := range texts {
		want = append(want, text+" "+clientIDs[i])
	}
	if !slices.Equal(got, want) {
		t.Errorf("stored: got %q, want %q", got, want)
	}
	if twice := browserEval[[]string](p, `window.parleyTwice`); len(twice) != 0 {
		t.Errorf("texts shown twice meanwhile: %q", twice)
	}
	p.checkClean()
}

// TestBrowserSendRefused: a message the server refuses for a reason that
// retrying cannot fix (over its limit) is not sent again on its own, even
// when later messages go; Retry sends it when the reader asks, with its
// client id, and Discard drops it.
func TestBrowserSendRefused(t *testing.T) {
	srv := browserStartServer(t)
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/limits", "erin")
	// The page learnt the limit at load; the server restarts with a lower one.
	srv.restart(func(a *api.Server) { a.MaxMessageBytes = 16 })
	resp, raw := browserRequest(t, http.MethodPost, srv.URL+"/api/rooms/elsewhere/messages", "", map[string]string{"author": "x", "text": "a message over sixteen bytes"})
	var refusal struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(raw, &refusal); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a long text: got %d %s, want 413 with an error", resp.StatusCode, raw)
	}
	p.wait("live", `document.getElementById('conn').dataset.state === 'live'`)

	// refused counts the server's 413 answers to posts, the probe's included.
	refused := func() string {
		t.Helper()
		resp, raw := browserRequest(t, http.MethodGet, srv.URL+"/metrics", "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("metrics: got %d", resp.StatusCode)
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, `parley_http_requests_total{code="413",method="POST",route="/api/rooms/:room/messages"}`) {
				return line[strings.LastIndexByte(line, ' ')+1:]
			}
		}
		return "0"
	}
	p.send("a message over sixteen bytes")
	failed := fmt.Sprintf(`[...document.querySelectorAll('#outbox li')].some((li) => li.dataset.state === 'failed' &&
		li.querySelector('.msg-error')?.textContent === %q)`, "Not sent: "+refusal.Error)
	p.wait("the server's refusal", failed)
	// A later message goes, and takes the refused one along only if
	// retrying could help: it cannot.
	p.send("short one")
	p.waitTexts("the short message", []string{"short one"})
	if got := refused(); got != "2" {
		t.Errorf("413 answers, the probe's and the page's: got %s, want 2 (no retry on its own)", got)
	}
	if !browserEval[bool](p, failed) {
		t.Errorf("the refused message is no longer shown as refused")
	}

	// The limit goes up again: Retry sends it, once.
	srv.restart(nil)
	p.wait("live", `document.getElementById('conn').dataset.state === 'live'`)
	p.click(`#outbox li[data-state="failed"] button[data-action="retry"]`)
	p.waitTexts("the retried message after the short one", []string{"short one", "a message over sixteen bytes"})
	p.wait("the outbox to empty", `document.querySelectorAll('#outbox li').length === 0`)

	// Discard drops a refused message for good.
	srv.restart(func(a *api.Server) { a.MaxMessageBytes = 16 })
	p.wait("live", `document.getElementById('conn').dataset.state === 'live'`)
	p.send("another long message")
	p.click(`#outbox li[data-state="failed"] button[data-action="discard"]`)
	p.wait("the outbox to empty", `document.querySelectorAll('#outbox li').length === 0`)
	var stored []string
	for _, ev := range srv.messages("limits") {
		stored = append(stored, ev.Text)
	}
	if want := []string{"short one", "a message over sixteen bytes"}; !slices.Equal(stored, want) {
		t.Errorf("stored: got %q, want %q", stored, want)
	}
	p.checkClean()
}

// TestBrowserUnreadCountsMessages: edits, deletes and reactions are not
// unread messages, and the list of other rooms does not pass the server's
// count of events off as messages.
func TestBrowserUnreadCountsMessages(t *testing.T) {
	srv := browserStartServer(t)
	first := srv.post("quiet", "bob", "the only message left", "")
	srv.edit("quiet", first.ID, "bob", "the only message left, edited")
	for _, who := range []string{"ann", "cat", "dan"} {
		srv.react("quiet", first.ID, who, "👍")
	}
	gone := srv.post("quiet", "bob", "soon gone", "")
	last := srv.remove("quiet", gone.ID, "bob")
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/lobby", "reader")

	// Seven events, two messages, one of them deleted: the room is listed
	// with when it was last active, not with a number.
	type other struct {
		Name  string `json:"name"`
		Since string `json:"since"`
		Title string `json:"title"`
	}
	lastTime := ulid.Time(ulid.MustParse(last.ID).Time()).UTC().Format("2006-01-02T15:04:05.000Z")
	p.wait("quiet among the other rooms", `Boolean(document.querySelector('#other-rooms a[data-room="quiet"]'))`)
	got := browserEval[other](p, `(() => {
		const a = document.querySelector('#other-rooms a[data-room="quiet"]');
		const time = a.querySelector('time');
		return {name: a.querySelector('.room-name').textContent, since: time?.dateTime ?? '', title: time?.title ?? ''};
	})()`)
	if got.Name != "quiet" || got.Since != lastTime || !strings.HasPrefix(got.Title, "Last active ") {
		t.Errorf("other room: got %+v, want quiet, last active at %s", got, lastTime)
	}
	for _, n := range []string{"7", "2", "1"} {
		if browserEval[bool](p, fmt.Sprintf(`[...document.querySelectorAll('#other-rooms a *')].some((e) => e.children.length === 0 && e.textContent.trim() === %q)`, n)) {
			t.Errorf("the other rooms list shows the number %s", n)
		}
	}

	// Followed and read, then left in the background: one new message is
	// one unread, whatever changes come with it.
	p.openRoom("quiet")
	p.click(`#room-list a[data-room="lobby"]`)
	p.wait("lobby open", `document.getElementById('room-title').textContent === 'lobby'`)
	news := srv.post("quiet", "bob", "news", "")
	srv.edit("quiet", news.ID, "bob", "news, edited")
	srv.react("quiet", news.ID, "ann", "🎉")
	srv.react("quiet", first.ID, "eve", "👍")
	retracted := srv.post("quiet", "bob", "retracted", "")
	p.waitBadges("two unread", map[string]string{"quiet": "2"})
	srv.remove("quiet", retracted.ID, "bob")
	// One stream carries both rooms in id order: once this shows, every
	// change above has reached the page.
	srv.post("lobby", "bot", "after the changes", "")
	p.waitTexts("the marker in lobby", []string{"after the changes"})
	if got, want := p.badges(), map[string]string{"quiet": "1"}; !maps.Equal(got, want) {
		t.Errorf("unread badges: got %v, want %v", got, want)
	}
	if got := browserEval[string](p, `document.title`); got != "(1) #lobby · Parley" {
		t.Errorf("title: got %q, want (1) #lobby · Parley", got)
	}
	p.checkClean()
}

// TestBrowserResetAfterRetention: a page that was away while retention
// deleted events it had not seen is told so by the stream (event: reset)
// and reloads the room: it shows exactly what the server still has, not
// what it had before with a hole after it.
func TestBrowserResetAfterRetention(t *testing.T) {
	srv := browserStartServer(t, func(s *browserServer) {
		s.configureDB = func(db *bolt.DB) {
			db.PruneEvery = 20 * time.Millisecond
			db.Logger = quietLogger()
		}
	})
	for i := range 5 {
		srv.post("logs", "bot", fmt.Sprintf("old %d", i), "")
	}
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/logs", "reader")
	p.waitTexts("the room", []string{"old 0", "old 1", "old 2", "old 3", "old 4"})

	p.setOnline(false)
	p.wait("the indicator to show offline", `document.getElementById('conn').dataset.state === 'offline'`)
	for i := range 4 {
		srv.post("logs", "bot", fmt.Sprintf("new %d", i), "")
	}
	srv.call(http.MethodPut, "/api/rooms/logs/settings", map[string]any{"retention": map[string]int{"events": 3}})
	want := []string{"new 1", "new 2", "new 3"}
	waitFor(t, func() bool { return len(srv.messages("logs")) == len(want) })

	p.setOnline(true)
	p.waitTexts("exactly what the server kept", want)
	p.wait("the start of the room", `/start of #logs/.test(document.getElementById('history-status').textContent)`)
	p.wait("live", `document.getElementById('conn').dataset.state === 'live'`)

	// What the page keeps for a reload is the reloaded room.
	p.do(chromedp.Reload())
	p.waitReady()
	p.waitTexts("the same after a reload", want)
	srv.post("logs", "bot", "live again", "")
	p.waitTexts("live events after it", append(want, "live again"))
	p.checkClean()
}
