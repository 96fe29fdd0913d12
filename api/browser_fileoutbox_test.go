package api_test

// Messages with files survive a reload: the page keeps them in IndexedDB
// (web/assets/filebox.js) and sends them, once, in the order written.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store/bolt"
)

// fileOutboxMessage is a stored message with the files it carries.
type fileOutboxMessage struct {
	Text     string `json:"text"`
	ClientID string `json:"client_id"`
	Files    []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"files"`
}

// fileOutboxMessages returns room's stored messages with their files.
func (s *browserServer) fileOutboxMessages(room string) []fileOutboxMessage {
	s.tb.Helper()
	var out struct {
		Events []fileOutboxMessage `json:"events"`
	}
	s.getJSON("/api/rooms/"+room+"/messages?limit=1000", &out)
	return out.Events
}

// fileBytes downloads one of room's files.
func (s *browserServer) fileBytes(room, id string) []byte {
	s.tb.Helper()
	resp, err := http.Get(s.URL + "/api/rooms/" + room + "/files/" + id)
	if err != nil {
		s.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		s.tb.Fatalf("get file %s: got %d %v, want 200", id, resp.StatusCode, err)
	}
	return b
}

// blockUploads makes the page's uploads fail as a network error (block) or
// lets them through again. It lasts across reloads.
func (p *browserPage) blockUploads(block bool) {
	p.tb.Helper()
	params := blockedURLsParams{Urls: []string{}, URLPatterns: []*network.BlockPattern{}}
	if block {
		params.Urls = []string{"*/api/rooms/*/files*"}
		params.URLPatterns = []*network.BlockPattern{{URLPattern: "*://*:*/api/rooms/*/files*", Block: true}}
	}
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, setBlockedURLs, params)
		return err
	}))
}

// blockedURLsParams are Network.setBlockedURLs's parameters as both
// protocol versions take them: older Chromium reads "urls", later ones
// "urlPatterns" (cdproto's struct has only the later form).
type blockedURLsParams struct {
	Urls        []string                `json:"urls"`
	URLPatterns []*network.BlockPattern `json:"urlPatterns"`
}

var setBlockedURLs = cdp.Command[blockedURLsParams, cdp.Empty]{Method: network.CommandSetBlockedURLs}

// pasteFile pastes a file named name holding data into the message box and
// waits until the tray shows it.
func (p *browserPage) pasteFile(name string, data []byte) {
	p.tb.Helper()
	before := browserEval[int](p, `document.querySelectorAll('#upload-tray li.upload').length`)
	p.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const bytes = Uint8Array.from(atob(%q), (c) => c.charCodeAt(0));
		const dt = new DataTransfer();
		dt.items.add(new File([bytes], %q, {type: 'application/octet-stream'}));
		const box = document.getElementById('composer-text');
		box.focus();
		box.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
	})()`, base64.StdEncoding.EncodeToString(data), name)))
	p.wait("the file in the tray", fmt.Sprintf(`document.querySelectorAll('#upload-tray li.upload').length > %d`, before))
}

// pendingFileMessage is the JavaScript for the tray's pending message with
// text, or null.
func pendingFileMessage(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#upload-tray li.pending-message')].find((li) => li.querySelector('p').textContent === %q)`, text)
}

// keptRecords is what the page keeps in IndexedDB: the messages (state and
// files' ids) and the number of files' bytes kept.
type keptRecords struct {
	Messages []struct {
		ClientID string `json:"clientId"`
		Text     string `json:"text"`
		State    string `json:"state"`
		Files    []struct {
			ID string `json:"id"`
		} `json:"files"`
	}
	Blobs int
}

func (p *browserPage) kept() keptRecords {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[keptRecords](`new Promise((resolve, reject) => {
		const req = indexedDB.open('parley-outbox');
		req.onerror = () => reject(req.error);
		req.onsuccess = () => {
			const db = req.result;
			if (!db.objectStoreNames.contains('messages')) { db.close(); resolve({Messages: [], Blobs: 0}); return; }
			const tx = db.transaction(['messages', 'blobs']);
			const m = tx.objectStore('messages').getAll();
			const b = tx.objectStore('blobs').count();
			tx.oncomplete = () => { db.close(); resolve({Messages: m.result, Blobs: b.result}); };
		};
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		p.tb.Fatalf("read IndexedDB: %v", err)
	}
	return v
}

// waitKept waits until cond, JavaScript over messages (the kept records)
// and blobs (how many files' bytes are kept), holds in IndexedDB.
func (p *browserPage) waitKept(what, cond string) {
	p.tb.Helper()
	p.wait(what, `new Promise((resolve) => {
		const req = indexedDB.open('parley-outbox');
		req.onsuccess = () => {
			const db = req.result;
			const tx = db.transaction(['messages', 'blobs']);
			const m = tx.objectStore('messages').getAll();
			const b = tx.objectStore('blobs').count();
			tx.oncomplete = () => { db.close(); resolve(((messages, blobs) => `+cond+`)(m.result, b.result)); };
		};
		req.onerror = () => resolve(false);
	})`)
}

func (p *browserPage) waitKeptEmpty(what string) {
	p.tb.Helper()
	p.waitKept(what, `messages.length === 0 && blobs === 0`)
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestBrowserFileMessageSurvivesReload: a message with a file, written
// while the server is down, and a text after it, both fail; the page
// reloads while uploads still cannot get through; once they can, the
// message is sent exactly once with its client id and the file's exact
// bytes, and the text after it, in that order. Nothing stays in IndexedDB.
func TestBrowserFileMessageSurvivesReload(t *testing.T) {
	srv := browserStartServer(t)
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/attach", "alice")
	data := randomBytes(300<<10, 16)

	p.blockUploads(true)
	srv.stop()
	p.wait("the indicator to leave live", `document.getElementById('conn').dataset.state !== 'live'`)
	p.pasteFile("notes.bin", data)
	p.send("with a file")
	p.send("after the file")
	p.wait("the message with a file to fail", pendingFileMessage("with a file")+`?.dataset.state === 'failed'`)
	p.wait("the text after it to wait", `[...document.querySelectorAll('#outbox li')].some((li) => li.textContent.includes('after the file'))`)
	clientID := browserEval[string](p, pendingFileMessage("with a file")+`.dataset.clientId`)

	// The server comes back, but uploads still cannot reach it: the text
	// written after the file must not go first.
	srv.start()
	p.wait("live again", `document.getElementById('conn').dataset.state === 'live'`)
	p.do(chromedp.Reload())
	p.waitReady()
	p.wait("the message with a file pending again", pendingFileMessage("with a file")+`?.dataset.clientId === `+jsString(clientID)+
		` && [...document.querySelectorAll('#upload-tray li.upload')].some((li) => li.textContent.includes('notes.bin'))`)
	p.wait("the text still waiting", `[...document.querySelectorAll('#outbox li')].some((li) => li.textContent.includes('after the file'))`)
	if got := srv.fileOutboxMessages("attach"); len(got) != 0 {
		t.Fatalf("stored while uploads were blocked: got %+v, want nothing", got)
	}
	if k := p.kept(); len(k.Messages) != 1 || k.Messages[0].ClientID != clientID || k.Blobs != 1 {
		t.Fatalf("kept in IndexedDB: got %+v, want the one message and its file", k)
	}

	p.blockUploads(false)
	p.waitTexts("both messages, in order", []string{"with a file", "after the file"})
	p.wait("the tray to empty", `document.getElementById('upload-tray').hidden`)
	p.wait("the outbox to empty", `document.querySelectorAll('#outbox li').length === 0`)
	p.waitKeptEmpty("IndexedDB to be emptied")

	got := srv.fileOutboxMessages("attach")
	if len(got) != 2 || got[0].Text != "with a file" || got[1].Text != "after the file" {
		t.Fatalf("stored: got %+v, want the message with a file, then the text", got)
	}
	if got[0].ClientID != clientID || len(got[0].Files) != 1 || got[0].Files[0].Name != "notes.bin" {
		t.Fatalf("stored message: got %+v, want client id %s and notes.bin", got[0], clientID)
	}
	if b := srv.fileBytes("attach", got[0].Files[0].ID); !bytes.Equal(b, data) {
		t.Errorf("file bytes: got %d bytes, want the %d pasted", len(b), len(data))
	}
	p.checkClean()
}

// TestBrowserFileMessageReusesUpload: a message whose file was stored but
// which the server refused stays refused across a reload; Retry, once the
// server takes it, posts it with the same upload, not a new one.
func TestBrowserFileMessageReusesUpload(t *testing.T) {
	srv := browserStartServer(t)
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/reuse", "bob")
	data := randomBytes(100<<10, 17)

	srv.restart(func(a *api.Server) { a.MaxMessageBytes = 4 })
	p.wait("live", `document.getElementById('conn').dataset.state === 'live'`)
	p.pasteFile("kept.bin", data)
	p.wait("the upload stored", `document.querySelector('#upload-tray li.upload[data-state="stored"]') !== null`)
	p.send("refused text")
	p.wait("the refusal", pendingFileMessage("refused text")+`?.dataset.state === 'failed'`)
	p.waitKept("the refusal kept with the upload's id", `messages.length === 1 && messages[0].state === 'failed' && messages[0].files[0]?.id !== ''`)
	fileID := p.kept().Messages[0].Files[0].ID

	srv.restart(nil)
	p.do(chromedp.Reload())
	p.waitReady()
	p.wait("the refused message shown again", pendingFileMessage("refused text")+`?.dataset.state === 'failed'`)
	p.click(`#upload-tray li.pending-message button[data-action="retry-upload"]`)
	p.waitTexts("the message", []string{"refused text"})
	p.wait("the tray to empty", `document.getElementById('upload-tray').hidden`)
	p.waitKeptEmpty("IndexedDB to be emptied")

	got := srv.fileOutboxMessages("reuse")
	if len(got) != 1 || len(got[0].Files) != 1 {
		t.Fatalf("stored: got %+v, want one message with one file", got)
	}
	if got[0].Files[0].ID != fileID {
		t.Errorf("file id: got %s, want %s (the upload from before the reload)", got[0].Files[0].ID, fileID)
	}
	if b := srv.fileBytes("reuse", fileID); !bytes.Equal(b, data) {
		t.Errorf("file bytes: got %d bytes, want the %d pasted", len(b), len(data))
	}
}

// TestBrowserFileMessageDiscarded: a message with a file discarded before a
// reload does not come back; one discarded after is gone too; neither is
// ever sent, and nothing stays in IndexedDB. Files over what the browser
// keeps are refused with a visible note.
func TestBrowserFileMessageDiscarded(t *testing.T) {
	srv := browserStartServer(t)
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/discard", "carol")

	p.blockUploads(true)
	p.pasteFile("a.bin", randomBytes(50<<10, 1))
	p.send("discarded before the reload")
	p.pasteFile("b.bin", randomBytes(50<<10, 2))
	p.send("discarded after the reload")
	for _, text := range []string{"discarded before the reload", "discarded after the reload"} {
		p.wait("the message to fail", pendingFileMessage(text)+`?.dataset.state === 'failed'`)
	}
	p.click(`#upload-tray li.pending-message button[data-action="discard-upload"]`)
	p.wait("the first message gone", `!`+pendingFileMessage("discarded before the reload"))
	p.waitKept("IndexedDB to keep the other", `messages.length === 1 && messages[0].text === 'discarded after the reload' && blobs === 1`)

	p.do(chromedp.Reload())
	p.waitReady()
	p.wait("the second message back", pendingFileMessage("discarded after the reload"))
	if browserEval[bool](p, `Boolean(`+pendingFileMessage("discarded before the reload")+`)`) {
		t.Fatal("the message discarded before the reload came back")
	}
	if n := browserEval[int](p, `document.querySelectorAll('#upload-tray li.upload').length`); n != 1 {
		t.Fatalf("files in the tray: got %d, want 1", n)
	}
	p.click(`#upload-tray li.pending-message button[data-action="discard-upload"]`)
	p.wait("the tray to empty", `document.getElementById('upload-tray').hidden`)
	p.waitKeptEmpty("IndexedDB to be emptied")

	// Over the 200 MiB kept: still pending, with a note that a reload loses it.
	p.do(chromedp.Evaluate[chromedp.Void](`(() => {
		const dt = new DataTransfer();
		dt.items.add(new File([new Uint8Array(201 * 1024 * 1024)], 'big.bin'));
		document.getElementById('composer-text').dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
	})()`))
	p.send("too big to keep")
	p.wait("the note", pendingFileMessage("too big to keep")+`?.querySelector('.pending-note')?.textContent.includes('200 MiB')`)
	if k := p.kept(); len(k.Messages) != 0 || k.Blobs != 0 {
		t.Fatalf("kept: got %+v, want nothing", k)
	}
	p.click(`#upload-tray li.pending-message button[data-action="discard-upload"]`)
	p.wait("the tray to empty", `document.getElementById('upload-tray').hidden`)

	p.blockUploads(false)
	p.send("plain text")
	p.waitTexts("the text alone", []string{"plain text"})
	var stored []string
	for _, m := range srv.fileOutboxMessages("discard") {
		stored = append(stored, m.Text)
	}
	if want := []string{"plain text"}; !slices.Equal(stored, want) {
		t.Errorf("stored: got %q, want %q", stored, want)
	}
}

// aliceWithFiles starts a server with access control and files, and a
// page signed in as alice, a member, in room lobby. It returns the server,
// the admin's session cookie and the page.
func aliceWithFiles(t *testing.T) (*browserAuthServer, string, *browserPage) {
	t.Helper()
	srv := browserStartAuthServer(t, func(a *api.Server) { a.Files = a.Accounts.(*bolt.DB) })
	admin := srv.setupAdmin("admin", "admin-password")
	srv.addUser(admin, "alice", "alice-password", "member")
	p := browserNewPage(t, browserStart(t))
	p.openSignedIn(srv.URL+"/r/lobby", "alice", "alice-password")
	return srv, admin, p
}

// TestBrowserFileMessageForgottenAtSignOut: signing out stops a pending
// message with files and forgets it: nothing stays in IndexedDB, and it
// neither comes back nor is sent after signing in again.
func TestBrowserFileMessageForgottenAtSignOut(t *testing.T) {
	srv, admin, p := aliceWithFiles(t)

	p.blockUploads(true)
	p.pasteFile("private.bin", randomBytes(20<<10, 3))
	p.send("left behind")
	p.wait("the message to fail", pendingFileMessage("left behind")+`?.dataset.state === 'failed'`)
	p.waitKept("the message kept", `messages.length === 1 && blobs === 1`)

	p.click("#sign-out")
	p.wait("the sign-in form", browserShown("signin-form")+` && !`+browserShown("app"))
	p.waitKeptEmpty("IndexedDB emptied at sign-out")

	p.blockUploads(false)
	// Signing in again reloads the page: wait for the new one.
	p.do(chromedp.Evaluate[chromedp.Void](`window.parleyOldPage = true`))
	p.signIn("alice", "alice-password")
	p.waitLoad("the chat again", `!window.parleyOldPage && document.getElementById('conn')?.dataset.state === 'live' && `+
		`document.getElementById('scroller').getAttribute('aria-busy') === 'false'`)
	srv.post(admin, "lobby", "after signing in again")
	p.waitTexts("the room", []string{"after signing in again"})
	if browserEval[bool](p, `Boolean(`+pendingFileMessage("left behind")+`)`) {
		t.Error("the message came back after signing in again")
	}
	for _, m := range srv.messages(admin, "lobby") {
		if m.Text == "left behind" {
			t.Errorf("sent after signing out: %+v", m)
		}
	}
}

// TestBrowserFileMessageWaitsForSignIn: a message with a file whose upload
// the server answers 401 (the session ended meanwhile) is not refused: the
// page asks to sign in again, keeps the message, and once signed in sends
// it, once, with its file.
func TestBrowserFileMessageWaitsForSignIn(t *testing.T) {
	srv, admin, p := aliceWithFiles(t)

	p.blockUploads(true)
	data := randomBytes(20<<10, 4)
	p.pasteFile("later.bin", data)
	p.send("sent after signing in")
	p.wait("the message to fail", pendingFileMessage("sent after signing in")+`?.dataset.state === 'failed'`)

	// The session ends (an admin sets a new password); then the upload is
	// tried again and answered 401.
	srv.must(http.MethodPut, "/api/users/alice/password", admin, map[string]string{"password": "alice-password-2"}, http.StatusNoContent, nil)
	p.blockUploads(false)
	p.do(chromedp.Evaluate[chromedp.Void](`window.parleyOldPage = true`))
	p.click(`#upload-tray li.pending-message [data-action=retry-upload]`)
	p.waitKept("the upload answered 401, the message kept to send", `messages.length === 1 && blobs === 1 && `+
		`messages[0].state === 'failed' && messages[0].retryable && /sign in/.test(messages[0].error)`)
	p.signIn("alice", "alice-password-2")
	p.waitLoad("the chat again", `!window.parleyOldPage && document.getElementById('conn')?.dataset.state === 'live'`)
	p.waitKeptEmpty("the message sent and forgotten")

	var out struct {
		Events []fileOutboxMessage `json:"events"`
	}
	srv.must(http.MethodGet, "/api/rooms/lobby/messages?limit=1000", admin, nil, http.StatusOK, &out)
	var sent []fileOutboxMessage
	for _, m := range out.Events {
		if m.Text == "sent after signing in" {
			sent = append(sent, m)
		}
	}
	if len(sent) != 1 || len(sent[0].Files) != 1 {
		t.Fatalf("stored: %+v, want the message once with its file", sent)
	}
	resp, got := srv.request(http.MethodGet, "/api/rooms/lobby/files/"+sent[0].Files[0].ID, admin, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("the file: status %d, %d bytes; want 200 and the %d bytes pasted", resp.StatusCode, len(got), len(data))
	}
}
