package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// browserUpload uploads data as name by author to room and posts a message
// carrying it; it returns the file's URL path.
func (s *browserServer) browserUpload(room, author, name string, data []byte) string {
	s.tb.Helper()
	resp, err := http.Post(s.URL+"/api/rooms/"+room+"/files?name="+name+"&author="+author, "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		s.tb.Fatal(err)
	}
	var f struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&f)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		s.tb.Fatalf("upload %s: %d", name, resp.StatusCode)
	}
	s.call(http.MethodPost, "/api/rooms/"+room+"/messages", map[string]any{"author": author, "text": "see " + name, "files": []string{f.ID}})
	return "/api/rooms/" + room + "/files/" + f.ID
}

// TestBrowserHostileFilesNeverRun: an HTML page and an SVG with scripts,
// uploaded to a room, are opened by their URLs in Chromium and shown in the
// room: their scripts, which would retitle the page and post a message,
// never run.
func TestBrowserHostileFilesNeverRun(t *testing.T) {
	srv := browserStartServer(t)
	browser := browserStart(t)
	htmlURL := srv.browserUpload("general", "mallory", "hostile.html", fixture(t, "hostile.html"))
	svgURL := srv.browserUpload("general", "mallory", "script.svg", fixture(t, "script.svg"))

	// The room shows them as download cards, never inline.
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/general", "victim")
	p.wait("the two file cards", `document.querySelectorAll('#messages .file-card').length === 2`)
	if n := browserEval[int](p, `document.querySelectorAll('#messages .msg-files img, #messages iframe, #messages object').length`); n != 0 {
		t.Fatalf("hostile files shown inline: %d elements", n)
	}
	// The SVG as a picture in the page (scripts never run in <img>).
	p.do(chromedp.Evaluate[chromedp.Void](`(() => { const i = document.createElement('img'); i.src = ` + jsString(svgURL) + `; document.body.append(i); })()`))

	// Opened by their URLs, in a tab of their own: a download, not a page.
	for _, u := range []string{htmlURL, svgURL, htmlURL + "?x=1"} {
		tab := browserNewPage(t, browser)
		ctx, cancel := context.WithTimeout(tab.ctx, browserWait)
		chromedp.Run(ctx, chromedp.Navigate(srv.URL+u)) // a download aborts the navigation: its error is the point
		cancel()
		if title := browserEval[string](tab, `document.title`); title == "pwned" {
			t.Fatalf("%s ran its script", u)
		}
		if loc := browserEval[string](tab, `location.href`); strings.HasPrefix(loc, srv.URL) && browserEval[int](tab, `document.scripts.length`) > 0 {
			t.Fatalf("%s opened as a page with scripts", u)
		}
	}
	if title := browserEval[string](p, `document.title`); title == "pwned" {
		t.Fatal("the room's page was retitled by a file")
	}
	// A message after all that: if a script had posted, its message would
	// come before this one.
	srv.post("general", "bot", "after the files", "")
	p.waitTexts("the room", []string{"see hostile.html", "see script.svg", "after the files"})
	for _, ev := range srv.messages("general") {
		if strings.Contains(ev.Text, "pwned") {
			t.Fatalf("a file's script posted %q", ev.Text)
		}
	}
	p.checkClean()
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBrowserPasteImage: a picture pasted into one page's message box
// uploads with a progress bar and is sent with the message; another page
// shows its thumbnail, which opens full size in the viewer.
func TestBrowserPasteImage(t *testing.T) {
	srv := browserStartServer(t)
	browser := browserStart(t)
	alice := browserNewPage(t, browser)
	alice.open(srv.URL+"/r/pics", "alice")
	bob := browserNewPage(t, browser)
	bob.open(srv.URL+"/r/pics", "bob")

	// Paste a 200×120 PNG drawn on a canvas, and watch its progress bar.
	alice.do(chromedp.Evaluate[chromedp.Void](`(async () => {
		window.progressSeen = [];
		new MutationObserver(() => {
			for (const b of document.querySelectorAll('#upload-tray progress')) window.progressSeen.push(b.value);
		}).observe(document.getElementById('composer'), {subtree: true, childList: true, attributes: true});
		const c = document.createElement('canvas');
		c.width = 200; c.height = 120;
		const g = c.getContext('2d');
		g.fillStyle = '#c33'; g.fillRect(0, 0, 200, 120);
		g.fillStyle = '#33c'; g.fillRect(50, 30, 100, 60);
		const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
		const dt = new DataTransfer();
		dt.items.add(new File([blob], 'screenshot.png', {type: 'image/png'}));
		const box = document.getElementById('composer-text');
		box.focus();
		box.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
	})()`))
	alice.wait("the upload stored", `document.querySelector('#upload-tray li.upload[data-state="stored"]') !== null`)
	if !browserEval[bool](alice, `window.progressSeen.length > 0 && document.querySelector('#upload-tray progress').value === 1`) {
		t.Fatal("no progress bar reached the end")
	}
	alice.send("my screen")
	want := `(() => { const i = document.querySelector('#messages .msg-files .file-thumb img'); return i && i.complete && i.naturalWidth > 0 && i.src.includes('/thumb'); })()`
	bob.wait("the thumbnail on the other page", want)
	alice.wait("the thumbnail on the sender's page", want)
	alice.wait("the tray emptied", `document.getElementById('upload-tray').hidden`)
	bob.waitTexts("the message", []string{"my screen"})

	// The viewer: opens full size, arrows stay, Escape closes.
	bob.click("#messages .file-thumb")
	bob.wait("the viewer", `document.getElementById('viewer')?.open && document.querySelector('#viewer img').naturalWidth === 200`)
	bob.do(chromedp.KeyEvent("\u2192"))
	bob.do(chromedp.KeyEvent("\x1b"))
	bob.wait("the viewer closed", `!document.getElementById('viewer').open`)
	alice.checkClean()
	bob.checkClean()
}
