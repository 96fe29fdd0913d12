package api_test

// Calls in the web client: two people in two Chromium processes, each with
// a fake camera and microphone, call each other through the page's UI over
// loopback. Parley relays the signals; the media goes browser to browser.
// PARLEY_SCREENSHOTS=1 also writes docs/ui-call.png and docs/ui-call-ring.png.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/parleychat/parley/api"

	"github.com/parleychat/parley/stream"
)

// browserStartMedia starts a Chromium of its own, as a second person's
// browser would be, whose camera and microphone are fake devices and whose
// media permission prompts say yes. It ends with the test.
func browserStartMedia(tb testing.TB) context.Context {
	tb.Helper()
	browserStart(tb) // skips, or fails under CI, without Chromium
	dir := tb.TempDir()
	opts := append(browserFlags(dir),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	tb.Cleanup(func() {
		cancel()
		cancelAlloc()
		os.RemoveAll(dir)
	})
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start %s: %v", browserChromiumPath, err)
	}
	return ctx
}

// callPage is a page of a person who can call and be called.
type callPage struct {
	*browserPage
	name string
}

func newCallPage(tb testing.TB, browser context.Context, srv *browserServer, name string) *callPage {
	tb.Helper()
	p := &callPage{browserNewPage(tb, browser), name}
	p.open(srv.URL+"/r/general", name)
	return p
}

// startCall calls name from the Call button's list, with the mouse: a
// click of the person's, so the page may play sound.
func (p *callPage) startCall(name, media string) {
	p.tb.Helper()
	p.mouseClick("#call-button")
	item := fmt.Sprintf(`#call-people li[data-name=%q] button[data-media=%q]`, name, media)
	p.wait(name+" in the call list", fmt.Sprintf(`Boolean(document.querySelector(%q))`, item))
	p.mouseClick(item)
}

// waitRinging waits for the card of a call from name ringing here.
func (p *callPage) waitRinging(from string) {
	p.tb.Helper()
	p.wait("a call from "+from+" ringing", fmt.Sprintf(`!document.getElementById('call-ring').hidden &&
		document.getElementById('call-ring-name').textContent === %q`, from))
}

// waitConnected waits until the call is connected and the other side's
// media plays: frames of the other browser's fake camera and the sound of
// its fake microphone in a video call, the sound alone in an audio call.
func (p *callPage) waitConnected(media string) {
	p.tb.Helper()
	p.wait(p.name+"'s call to connect", `(() => {
		const panel = document.getElementById('call-panel');
		return !panel.hidden && panel.dataset.connection === 'connected' && panel.dataset.state === 'connected';
	})()`)
	videos := 0
	if media == "video" {
		videos = 1
	}
	// A remote track is muted until packets of it arrive. Headless
	// Chromium has no sound device, so an element with sound alone never
	// gets past readyState 0: frames are checked only in a video call.
	p.wait(p.name+"'s remote "+media+" to play", fmt.Sprintf(`(() => {
		const v = document.getElementById('call-remote');
		const s = v.srcObject;
		return Boolean(s) && s.getVideoTracks().length === %d && s.getAudioTracks().length === 1 &&
			s.getTracks().every((t) => t.readyState === 'live' && !t.muted) && !v.paused &&
			(%d === 0 || (v.readyState >= 2 && v.videoWidth > 0));
	})()`, videos, videos))
	p.wait(p.name+"'s call duration", `/^\d+:\d\d$/.test(document.getElementById('call-duration').textContent)`)
}

// waitEnded waits until the panel says the call ended, for a reason that
// contains want.
func (p *callPage) waitEnded(want string) {
	p.tb.Helper()
	p.wait(p.name+"'s call to end: "+want, fmt.Sprintf(`(() => {
		const panel = document.getElementById('call-panel');
		return !panel.hidden && panel.dataset.state === 'ended' &&
			document.getElementById('call-state').textContent.includes(%q) &&
			!document.getElementById('call-hangup').offsetParent;
	})()`, want))
}

// closePanel closes the panel of an ended call.
func (p *callPage) closePanel() {
	p.tb.Helper()
	p.mouseClick("#call-close")
	p.wait(p.name+"'s call panel to close", `document.getElementById('call-panel').hidden`)
}

// newSiblingPage opens a tab beside p, in the same browser context
// (storage, BroadcastChannel), and counts the times its ring shows in
// window.parleyRang.
func newSiblingPage(tb testing.TB, p *callPage, srv *browserServer) *callPage {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(p.ctx)
	tb.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("open tab: %v", err)
	}
	s := &callPage{&browserPage{tb: tb, ctx: ctx}, p.name}
	s.do(chromedp.Navigate(srv.URL + "/r/general"))
	s.waitReady()
	browserEval[bool](s.browserPage, `(() => {
		window.parleyRang = 0;
		const ring = document.getElementById('call-ring');
		new MutationObserver(() => { if (!ring.hidden) window.parleyRang++; }).observe(ring, { attributes: true });
		return true;
	})()`)
	return s
}

// crash kills the page's renderer, as when a tab dies: no pagehide, no
// goodbye; the browser drops its connections.
func (p *callPage) crash() {
	p.tb.Helper()
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, _ = cdp.Call(ctx, t, page.Crash, cdp.Empty{}) // never answers: the page is gone
		return nil
	}))
}

// connectionsOf is the connections of name in room's presence.
func connectionsOf(tb testing.TB, srv *browserServer, room, name string) []string {
	tb.Helper()
	var p stream.Presence
	srv.getJSON("/api/rooms/"+room+"/presence", &p)
	for _, person := range p.People {
		if person.Name == name {
			return person.Connections
		}
	}
	return nil
}

// roomWatcher is a third person's stream of a room, read by the test.
type roomWatcher struct {
	events chan stream.Event
}

func watchRoom(tb testing.TB, srv *browserServer, room, author string) *roomWatcher {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/rooms/"+room+"/events?author="+author, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("stream of %s as %s: got %d, want 200", room, author, resp.StatusCode)
	}
	w := &roomWatcher{events: make(chan stream.Event, 1<<12)}
	r := stream.NewReader(resp.Body, 1<<20)
	go func() {
		defer close(w.events)
		for {
			e, err := r.Next()
			if err != nil {
				return
			}
			w.events <- e
		}
	}()
	return w
}

// until reads events up to the stored event with id and returns those of
// type typ it saw on the way.
func (w *roomWatcher) until(tb testing.TB, id, typ string) []stream.Event {
	tb.Helper()
	var out []stream.Event
	deadline := time.After(browserWait)
	for {
		select {
		case e, ok := <-w.events:
			if !ok {
				tb.Fatal("the watcher's stream ended")
			}
			if e.Type == typ {
				out = append(out, e)
			}
			if !e.NoID && e.ID == id {
				return out
			}
		case <-deadline:
			tb.Fatalf("no event %s within %v", id, browserWait)
		}
	}
}

// TestBrowserVideoCall: alice calls bob through the page; bob's page rings
// and he accepts; both reach a connected RTCPeerConnection and play each
// other's video; mute and camera off work; alice hangs up and bob's call
// ends too. Then bob makes an audio call to alice, which ends when she
// reloads her page. Then alice calls bob again, and when his page crashes
// her call ends as his connection leaves the room. carol, in the room
// the whole time, never receives a signal.
func TestBrowserVideoCall(t *testing.T) {
	// A short grace period: a crashed page leaves the room soon after, long
	// before its peer connection would time out.
	srv := browserStartServer(t, func(s *browserServer) {
		s.configure = func(srv *api.Server) { srv.PresenceGrace = time.Second }
	})
	carol := watchRoom(t, srv, "general", "carol")
	srv.post("general", "alice", "Got a minute? The mock-ups are easier to show than to describe.", "")
	srv.post("general", "bob", "Sure, call me", "")
	alice := newCallPage(t, browserStartMedia(t), srv, "alice")
	bob := newCallPage(t, browserStartMedia(t), srv, "bob")

	alice.startCall("bob", "video")
	alice.wait("alice's call to ring", `document.getElementById('call-panel').dataset.state === 'calling'`)
	bob.waitRinging("alice")
	if got := browserEval[string](bob.browserPage, `document.getElementById('call-ring-media').textContent`); got != "video call" {
		t.Fatalf("bob's ring says %q, want video call", got)
	}
	bob.shoot("ui-call-ring.png", 1280, 720, "true")
	bob.mouseClick("#call-accept")
	alice.waitConnected("video")
	bob.waitConnected("video")
	alice.shoot("ui-call.png", 1280, 720, "true")
	if got := browserEval[bool](bob.browserPage, `document.getElementById('call-ring').hidden`); !got {
		t.Fatal("bob's ring card still shows after he accepted")
	}

	// Mute and camera off act on alice's own tracks.
	alice.click("#call-mute")
	alice.wait("alice muted", `document.getElementById('call-mute').getAttribute('aria-pressed') === 'true' &&
		document.getElementById('call-local').srcObject.getAudioTracks().every((t) => !t.enabled)`)
	alice.click("#call-camera")
	alice.wait("alice's camera off", `document.getElementById('call-camera').getAttribute('aria-pressed') === 'true' &&
		document.getElementById('call-local').srcObject.getVideoTracks().every((t) => !t.enabled)`)
	alice.click("#call-mute")
	alice.wait("alice unmuted", `document.getElementById('call-local').srcObject.getAudioTracks().every((t) => t.enabled)`)

	// alice opens another room mid-call: her stream now carries both and
	// keeps its connection id, so the call goes on and bob's page still
	// takes her signals.
	before := connectionsOf(t, srv, "general", "alice")
	alice.openRoom("random")
	waitFor(t, func() bool { return len(connectionsOf(t, srv, "random", "alice")) == 1 })
	if got := browserEval[string](alice.browserPage, `document.getElementById('call-panel').dataset.state`); got != "connected" {
		t.Fatalf("alice's call after opening #random: got %q, want connected", got)
	}
	if got := connectionsOf(t, srv, "general", "alice"); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Fatalf("alice's connections in #general: got %v, want %v", got, before)
	}

	alice.mouseClick("#call-hangup")
	alice.waitEnded("You hung up.")
	bob.waitEnded("alice hung up.")
	for _, p := range []*callPage{alice, bob} {
		if got := browserEval[string](p.browserPage, `document.getElementById('call-panel').dataset.connection`); got != "closed" {
			t.Errorf("%s's peer connection: got %q, want closed", p.name, got)
		}
	}

	// The other way round, an audio call; alice reloads her page, which
	// hangs up as it goes.
	alice.closePanel()
	bob.closePanel()
	bob.startCall("alice", "audio")
	alice.waitRinging("bob")
	alice.mouseClick("#call-accept")
	alice.waitConnected("audio")
	bob.waitConnected("audio")
	if !browserEval[bool](alice.browserPage, `document.getElementById('call-camera').hidden`) {
		t.Error("an audio call offers to turn the camera off")
	}
	alice.do(chromedp.Reload())
	bob.waitEnded("alice hung up.")
	alice.waitReady()
	alice.openRoom("general") // the page reopened #random, where she was

	// Once more; then bob's page crashes, saying nothing: alice's page
	// sees his connection leave the room and ends the call.
	bob.closePanel()
	alice.startCall("bob", "video")
	bob.waitRinging("alice")
	bob.mouseClick("#call-accept")
	alice.waitConnected("video")
	bob.waitConnected("video")
	bob.crash()
	alice.waitEnded("bob left the room.")

	mark := srv.post("general", "dave", "after the calls", "")
	if got := carol.until(t, mark.ID, "signal"); len(got) != 0 {
		t.Fatalf("carol got %d signals, first %+v; want none", len(got), got[0])
	}
	alice.checkClean()
}

// TestBrowserCallDeclined: a call rings every tab of the person called;
// a decline says so to the caller and stops the other tab ringing; someone
// already in a call is busy, and so is a tab beside one in a call, which
// never rings; a page without camera permission, or without getUserMedia,
// says so; accepting in one tab stops the other, and the callee can hang
// up; a
// caller who cancels stops the ring; a call to a page that is gone, though
// presence still lists it, ends when the signal answers 404.
func TestBrowserCallDeclined(t *testing.T) {
	srv := browserStartServer(t, func(s *browserServer) {
		s.configure = func(srv *api.Server) { srv.PresenceGrace = time.Hour }
	})
	alice := newCallPage(t, browserStartMedia(t), srv, "alice")
	other := browserStartMedia(t)
	bob := newCallPage(t, other, srv, "bob")
	bob2 := newCallPage(t, other, srv, "bob") // bob's second tab
	carol := newCallPage(t, other, srv, "carol")
	// bob3 is a tab beside bob2, in the same browser context: it shares
	// bob2's stream (tabs.js), so a ring to that connection reaches both.
	bob3 := newSiblingPage(t, bob2, srv)
	bobs := []*callPage{bob, bob2}
	stopped := func(p *callPage, what string) {
		t.Helper()
		p.wait(what, `document.getElementById('call-ring').hidden && document.getElementById('call-panel').hidden`)
	}

	// alice rings both of bob's tabs; carol calls alice meanwhile: alice is
	// busy, and never rings.
	alice.startCall("bob", "audio")
	for _, p := range bobs {
		p.waitRinging("alice")
		if got := browserEval[string](p.browserPage, `document.getElementById('call-ring-media').textContent`); got != "audio call" {
			t.Fatalf("bob's ring says %q, want audio call", got)
		}
	}
	carol.startCall("alice", "video")
	carol.waitEnded("alice is busy in another call.")
	if !browserEval[bool](alice.browserPage, `document.getElementById('call-ring').hidden`) {
		t.Fatal("a second call rang alice while she was calling bob")
	}

	bob.mouseClick("#call-decline")
	alice.waitEnded("bob declined.")
	stopped(bob, "bob's ring to stop")
	stopped(bob2, "bob's other tab to stop ringing")

	// bob answers in his second tab: the first stops ringing. He hangs up.
	alice.closePanel()
	alice.startCall("bob", "video")
	bob.waitRinging("alice")
	bob2.waitRinging("alice")
	bob2.mouseClick("#call-accept")
	alice.waitConnected("video")
	bob2.waitConnected("video")
	stopped(bob, "bob's first tab to stop ringing")
	// bob2 told bob3 it answered: bob3 stops ringing. carol calls bob
	// meanwhile: bob3 is not in a call but knows its sibling is, so it
	// answers busy and never rings.
	bob3.wait("bob's third tab to stop ringing", `document.getElementById('call-ring').hidden`)
	browserEval[bool](bob3.browserPage, `(() => { window.parleyRang = 0; return true; })()`)
	carol.closePanel()
	carol.startCall("bob", "video")
	carol.waitEnded("bob is busy in another call.")
	if n := browserEval[int](bob3.browserPage, `window.parleyRang`); n != 0 {
		t.Fatalf("bob's tab beside the one in a call rang %d times, want 0", n)
	}
	stopped(bob, "bob's first tab to stop ringing for carol")

	bob2.mouseClick("#call-hangup")
	bob2.waitEnded("You hung up.")
	alice.waitEnded("bob hung up.")

	// No permission for the camera: carol's page says so and rings nobody.
	carol.closePanel()
	browserEval[bool](carol.browserPage, `(() => {
		navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
		return true;
	})()`)
	carol.startCall("bob", "video")
	carol.waitEnded("Could not call bob.")
	if got := browserEval[string](carol.browserPage, `document.getElementById('call-error').textContent`); !strings.Contains(got, "No permission to use the camera and microphone") {
		t.Fatalf("carol's error: got %q, want it to say there is no permission", got)
	}
	// No getUserMedia at all.
	carol.closePanel()
	browserEval[bool](carol.browserPage, `(() => {
		Object.defineProperty(navigator, 'mediaDevices', { value: undefined });
		return true;
	})()`)
	carol.startCall("bob", "audio")
	carol.waitEnded("Could not call bob.")
	if got := browserEval[string](carol.browserPage, `document.getElementById('call-error').textContent`); got != "This browser cannot use a camera or microphone." {
		t.Fatalf("carol's error: got %q, want that the browser cannot", got)
	}

	// A caller who cancels stops the ring on the other side.
	alice.closePanel()
	alice.startCall("bob", "video")
	bob.waitRinging("alice")
	alice.mouseClick("#call-hangup")
	alice.waitEnded("Cancelled.")
	stopped(bob, "bob's ring to stop when alice cancels")
	bob2.wait("bob's other ring to stop when alice cancels", `document.getElementById('call-ring').hidden`)
	// bob's first tab has no camera permission: accepting there declines,
	// with the reason, and his other tab stops ringing.
	browserEval[bool](bob.browserPage, `(() => {
		navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
		return true;
	})()`)
	alice.closePanel()
	alice.startCall("bob", "video")
	bob.waitRinging("alice")
	bob2.waitRinging("alice")
	bob.mouseClick("#call-accept")
	alice.waitEnded("bob declined: their camera or microphone is not available.")
	bob.waitEnded("You could not answer.")
	if got := browserEval[string](bob.browserPage, `document.getElementById('call-error').textContent`); !strings.Contains(got, "No permission") {
		t.Fatalf("bob's error: got %q, want it to say there is no permission", got)
	}
	bob2.wait("bob's other ring to stop when he declined", `document.getElementById('call-ring').hidden`)

	for _, p := range []*callPage{alice, bob, bob2, carol} {
		p.checkClean()
	}

	// carol's page dies; presence keeps her for the grace period (an hour
	// here), but her stream is gone: the ring answers 404.
	carol.crash()
	alice.closePanel()
	alice.startCall("carol", "video")
	alice.waitEnded("carol is not here any more.")
}
