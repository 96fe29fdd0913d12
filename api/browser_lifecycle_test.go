package api_test

// Browser tests of a message's life after it is posted: edits, deletes,
// reactions and replies, made from the page and from other clients, seen
// live, after a reconnect and after a reload.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// browserView is what a page shows of one message.
type browserView struct {
	ID        string   `json:"id"`
	Text      string   `json:"text"`
	Edited    bool     `json:"edited"`
	Deleted   bool     `json:"deleted"`
	Quote     string   `json:"quote"`     // "author: first line" of the parent, or the note shown instead
	Reactions []string `json:"reactions"` // "👍 2", or "👍 2 mine" when the reader's is among them
}

// browserViewJS reads every shown message as a browserView.
const browserViewJS = `[...document.querySelectorAll('#messages li.msg')].map((li) => ({
	id: li.dataset.id,
	text: li.querySelector('.msg-text')?.textContent ?? '',
	edited: Boolean(li.querySelector('.msg-edited')),
	deleted: li.classList.contains('deleted'),
	quote: [...li.querySelectorAll('.msg-quote .quote-author, .msg-quote .quote-text')].map((e) => e.textContent).join(': '),
	reactions: [...li.querySelectorAll('.reaction')].map((b) =>
		b.querySelector('.reaction-emoji').textContent + ' ' + b.querySelector('.reaction-count').textContent +
		(b.getAttribute('aria-pressed') === 'true' ? ' mine' : '')),
}))`

// browserWantView is what a page of reader me should show for the room's
// messages as the server has them now.
func browserWantView(msgs []browserEvent, me string) []browserView {
	byID := map[string]browserEvent{}
	for _, m := range msgs {
		byID[m.ID] = m
	}
	views := make([]browserView, 0, len(msgs))
	for _, m := range msgs {
		v := browserView{ID: m.ID, Text: m.Text, Edited: m.EditedAt != "", Deleted: m.Redacted, Reactions: []string{}}
		if m.Redacted {
			v.Text = "message deleted"
		}
		if m.ReplyTo != "" {
			parent, ok := byID[m.ReplyTo]
			switch {
			case !ok:
				v.Quote = "original message not loaded"
			case parent.Redacted:
				v.Quote = parent.Author + ": message deleted"
			default:
				v.Quote = parent.Author + ": " + strings.SplitN(strings.TrimSpace(parent.Text), "\n", 2)[0]
			}
		}
		for _, r := range m.Reactions {
			s := fmt.Sprintf("%s %d", r.Emoji, r.Count)
			if slices.Contains(r.Authors, me) {
				s += " mine"
			}
			v.Reactions = append(v.Reactions, s)
		}
		views = append(views, v)
	}
	return views
}

// waitView waits until the page shows exactly want.
func (p *browserPage) waitView(what string, want []browserView) {
	p.tb.Helper()
	js, _ := json.Marshal(want)
	ctx, cancel := context.WithTimeout(p.ctx, browserWait+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](fmt.Sprintf(`JSON.stringify(%s) === JSON.stringify(%s)`, browserViewJS, js),
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(browserWait)))
	if err != nil {
		got := browserEval[[]browserView](p, browserViewJS)
		p.tb.Fatalf("waiting %v for %s: %v\ngot  %+v\nwant %+v", browserWait, what, err, got, want)
	}
}

// view returns what the page shows of the message id.
func (p *browserPage) view(id string) browserView {
	p.tb.Helper()
	for _, v := range browserEval[[]browserView](p, browserViewJS) {
		if v.ID == id {
			return v
		}
	}
	p.tb.Fatalf("message %s is not shown", id)
	return browserView{}
}

// idOf is the id of the shown message whose text is text.
func (p *browserPage) idOf(text string) string {
	p.tb.Helper()
	js, _ := json.Marshal(text)
	id := browserEval[string](p, fmt.Sprintf(`[...document.querySelectorAll('#messages li.msg')]
		.find((li) => li.querySelector('.msg-text')?.textContent === %s)?.dataset.id ?? ''`, js))
	if id == "" {
		p.tb.Fatalf("no message %q shown", text)
	}
	return id
}

// browserMsg is the CSS selector of the shown message id.
func browserMsg(id string) string {
	return `#messages li.msg[data-id="` + id + `"]`
}

// clickReaction clicks the reaction chip of emoji on message id, found by
// comparing data rather than by a selector made from the emoji.
func (p *browserPage) clickReaction(id, emoji string) {
	p.tb.Helper()
	js, _ := json.Marshal(emoji)
	p.wait("the "+emoji+" chip to click", fmt.Sprintf(`(() => {
		const b = [...document.querySelectorAll('%s .reaction')].find((b) => b.dataset.emoji === %s);
		if (b) b.click();
		return Boolean(b);
	})()`, browserMsg(id), js))
}

func TestBrowserEditDelete(t *testing.T) {
	srv := browserStartServer(t)
	theirs := srv.post("edits", "bob", "bob's own words", "")
	browser := browserStart(t)
	alice := browserNewPage(t, browser)
	bob := browserNewPage(t, browser)
	alice.open(srv.URL+"/r/edits", "alice")
	bob.open(srv.URL+"/r/edits", "bob")
	alice.send("tpyo in here")
	alice.send("regrettable")
	want := []string{"bob's own words", "tpyo in here", "regrettable"}
	alice.waitTexts("alice's messages", want)
	bob.waitTexts("alice's messages", want)
	typo, regret := alice.idOf("tpyo in here"), alice.idOf("regrettable")
	ids := alice.ids()

	// Edit and Delete only on one's own messages; React and Reply on all.
	controls := func(p *browserPage, id string) []string {
		return browserEval[[]string](p, `[...document.querySelectorAll('`+browserMsg(id)+` .msg-actions button')].map((b) => b.dataset.action)`)
	}
	for _, c := range []struct {
		page *browserPage
		id   string
		want []string
	}{
		{alice, typo, []string{"react", "reply", "edit", "delete"}},
		{alice, theirs.ID, []string{"react", "reply"}},
		{bob, typo, []string{"react", "reply"}},
		{bob, theirs.ID, []string{"react", "reply", "edit", "delete"}},
	} {
		if got := controls(c.page, c.id); !slices.Equal(got, c.want) {
			t.Errorf("controls on %s: got %v, want %v", c.id, got, c.want)
		}
	}

	// Edit from the keyboard: Edit opens the editor on the text, Enter saves.
	editButton := browserMsg(typo) + ` [data-action="edit"]`
	editorText := browserMsg(typo) + ` .msg-editor textarea`
	alice.do(chromedp.Focus(chromedp.CSS(editButton)), chromedp.KeyEvent(kb.Enter))
	alice.wait("the editor", `document.activeElement.matches('`+editorText+`') && document.activeElement.value === 'tpyo in here'`)
	alice.do(chromedp.KeyEvent(" (fixed)"), chromedp.KeyEvent(kb.Enter))
	want[1] = "tpyo in here (fixed)"
	for _, p := range []*browserPage{alice, bob} {
		p.waitTexts("the edit", want)
		p.wait("the edited mark", `Boolean(document.querySelector('`+browserMsg(typo)+` .msg-edited'))`)
	}
	alice.wait("focus back on Edit", `document.activeElement.matches('`+editButton+`')`)

	// Escape cancels an edit; ↑ in the empty message box edits the newest own.
	alice.do(chromedp.KeyEvent(kb.Enter))
	alice.wait("the editor", `document.activeElement.matches('`+editorText+`')`)
	alice.do(chromedp.KeyEvent(" junk"), chromedp.KeyEvent(kb.Escape))
	alice.wait("the editor to close", `!document.querySelector('#messages .msg-editor') && document.activeElement.matches('`+editButton+`')`)
	alice.do(chromedp.Focus(chromedp.ID("composer-text")), chromedp.KeyEvent(kb.ArrowUp))
	alice.wait("the editor on the newest own message", `document.activeElement.matches('`+browserMsg(regret)+` .msg-editor textarea')`)
	alice.do(chromedp.KeyEvent(kb.Escape))
	alice.wait("the editor to close", `!document.querySelector('#messages .msg-editor')`)
	alice.waitTexts("no change from the cancelled edits", want)

	// Delete with the mouse asks first; Escape keeps the message.
	deleteButton := browserMsg(regret) + ` [data-action="delete"]`
	dialogOpen := `document.getElementById('delete-dialog').open`
	alice.mouseClick(deleteButton)
	alice.wait("the confirmation", dialogOpen+` && document.getElementById('delete-preview').textContent === 'regrettable'`)
	alice.do(chromedp.KeyEvent(kb.Escape))
	alice.wait("the confirmation to close", `!`+dialogOpen+` && document.activeElement.matches('`+deleteButton+`')`)
	alice.mouseClick(deleteButton)
	alice.wait("the confirmation", dialogOpen)
	alice.mouseClick("#delete-confirm")
	want[2] = "message deleted"
	for _, p := range []*browserPage{alice, bob} {
		p.waitTexts("the deletion", want)
		if got := p.ids(); !slices.Equal(got, ids) {
			t.Errorf("ids after the deletion: got %v, want %v (in place)", got, ids)
		}
		if v := p.view(regret); !v.Deleted || len(controls(p, regret)) != 0 {
			t.Errorf("deleted message: got %+v with controls %v, want a tombstone without controls", v, controls(p, regret))
		}
	}

	stored := srv.messages("edits")
	if len(stored) != 3 || stored[1].Text != "tpyo in here (fixed)" || stored[1].EditedAt == "" || !stored[2].Redacted || stored[2].Text != "" {
		t.Errorf("stored: got %+v, want the edit and the tombstone", stored)
	}
	alice.checkClean()
	bob.checkClean()
}

func TestBrowserReactions(t *testing.T) {
	srv := browserStartServer(t)
	msg := srv.post("fun", "carol", "react to me", "")
	browser := browserStart(t)
	alice := browserNewPage(t, browser)
	bob := browserNewPage(t, browser)
	alice.open(srv.URL+"/r/fun", "alice")
	bob.open(srv.URL+"/r/fun", "bob")
	sel := browserMsg(msg.ID)
	chips := func(p *browserPage, want ...string) {
		t.Helper()
		js, _ := json.Marshal(want)
		p.wait(fmt.Sprintf("reactions %q", want), fmt.Sprintf(`JSON.stringify([...document.querySelectorAll('%s .reaction')].map((b) =>
			b.querySelector('.reaction-emoji').textContent + ' ' + b.querySelector('.reaction-count').textContent +
			(b.getAttribute('aria-pressed') === 'true' ? ' mine' : ''))) === JSON.stringify(%s)`, sel, js))
	}

	// The quick picker, from the keyboard: arrows move, Enter picks.
	alice.mouseClick(sel + ` [data-action="react"]`)
	alice.wait("the picker", `document.activeElement.matches('`+sel+` .reaction-picker button[data-emoji="👍"]')`)
	alice.do(chromedp.KeyEvent(kb.ArrowRight))
	alice.wait("❤️ focused", `document.activeElement.dataset.emoji === '❤️'`)
	alice.do(chromedp.KeyEvent(kb.ArrowLeft), chromedp.KeyEvent(kb.Enter))
	chips(alice, "👍 1 mine")
	chips(bob, "👍 1")
	alice.wait("the picker to close, focus on React", `!document.querySelector('.reaction-picker') &&
		document.activeElement.matches('`+sel+` [data-action="react"]')`)

	// Clicking a chip toggles one's own reaction.
	bob.clickReaction(msg.ID, "👍")
	chips(alice, "👍 2 mine")
	chips(bob, "👍 2 mine")
	alice.clickReaction(msg.ID, "👍")
	chips(alice, "👍 1")
	chips(bob, "👍 1 mine")

	// Any emoji someone used shows, and can be joined.
	srv.react("fun", msg.ID, "dave", "🦀")
	chips(alice, "👍 1", "🦀 1")
	alice.clickReaction(msg.ID, "🦀")
	chips(bob, "👍 1 mine", "🦀 2")
	bob.clickReaction(msg.ID, "👍")
	chips(alice, "🦀 2 mine")
	chips(bob, "🦀 2")

	// Escape closes the picker without reacting.
	bob.mouseClick(sel + ` [data-action="react"]`)
	bob.wait("the picker", `Boolean(document.querySelector('.reaction-picker'))`)
	bob.do(chromedp.KeyEvent(kb.Escape))
	bob.wait("the picker to close", `!document.querySelector('.reaction-picker') &&
		document.activeElement.matches('`+sel+` [data-action="react"]')`)

	// Two clicks on a chip are two toggles, even when the second comes
	// before the first has its answer: back where it was.
	bob.do(chromedp.Evaluate[chromedp.Void](`{
		const b = [...document.querySelectorAll('` + sel + ` .reaction')].find((b) => b.dataset.emoji === '🦀');
		b.click();
		b.click();
	}`))
	crabs := func() int {
		var out struct {
			Events []browserEvent `json:"events"`
		}
		srv.getJSON("/api/rooms/fun/messages?view=events&limit=1000", &out)
		n := 0
		for _, e := range out.Events {
			if e.Type == "reaction" && e.Author == "bob" && e.Emoji == "🦀" {
				n++
			}
		}
		return n
	}
	waitFor(t, func() bool { return crabs() == 2 })
	chips(alice, "🦀 2 mine")
	chips(bob, "🦀 2")

	stored := srv.messages("fun")
	if len(stored) != 1 || len(stored[0].Reactions) != 1 || stored[0].Reactions[0].Emoji != "🦀" ||
		!slices.Equal(stored[0].Reactions[0].Authors, []string{"dave", "alice"}) {
		t.Errorf("stored reactions: got %+v, want 🦀 from dave and alice", stored[0].Reactions)
	}
	alice.checkClean()
	bob.checkClean()
}

func TestBrowserReply(t *testing.T) {
	srv := browserStartServer(t)
	parent := srv.post("qa", "carol", "the question?\nwith details on a second line", "")
	var last browserEvent
	for i := range 55 {
		last = srv.post("qa", []string{"ann", "ben"}[i%2], fmt.Sprintf("filler %02d", i), "")
	}
	answer := srv.reply("qa", "dave", "dave's answer", parent.ID)
	browser := browserStart(t)
	alice := browserNewPage(t, browser)
	bob := browserNewPage(t, browser)
	alice.open(srv.URL+"/r/qa", "alice")
	bob.open(srv.URL+"/r/qa", "bob")

	// The parent is older than the page loaded.
	bob.wait("the not-loaded note", `document.querySelector('`+browserMsg(answer.ID)+` .msg-quote')?.textContent === 'original message not loaded'`)

	// Reply from the keyboard; Escape leaves reply mode.
	replyButton := browserMsg(last.ID) + ` [data-action="reply"]`
	replying := `!document.getElementById('reply-bar').hidden && document.activeElement.id === 'composer-text' &&
		document.getElementById('reply-label').textContent.replace(/\s+/g, ' ').trim() === 'Replying to ann filler 54'`
	alice.do(chromedp.Focus(chromedp.CSS(replyButton)), chromedp.KeyEvent(kb.Enter))
	alice.wait("reply mode", replying)
	alice.do(chromedp.KeyEvent(kb.Escape))
	alice.wait("reply mode to end", `document.getElementById('reply-bar').hidden`)
	alice.do(chromedp.Focus(chromedp.CSS(replyButton)), chromedp.KeyEvent(kb.Enter))
	alice.wait("reply mode", replying)
	alice.send("agreed")
	alice.wait("reply mode to end", `document.getElementById('reply-bar').hidden`)
	quoted := `(() => { const li = [...document.querySelectorAll('#messages li.msg')].pop();
		return li.querySelector('.msg-text').textContent === 'agreed' && li.querySelector('.msg-quote')?.textContent === 'ann filler 54'; })()`
	alice.wait("the reply with its quote", quoted)
	bob.wait("the reply with its quote", quoted)
	stored := srv.messages("qa")
	if got := stored[len(stored)-1]; got.Text != "agreed" || got.ReplyTo != last.ID {
		t.Errorf("stored reply: got %+v, want reply_to %s", got, last.ID)
	}

	// Scrolled back to the parent, the quote shows it and leads to it.
	bob.wait("the parent to load", `(() => {
		document.getElementById('scroller').scrollTop = 0;
		return Boolean(document.querySelector('`+browserMsg(parent.ID)+`'));
	})()`)
	bob.wait("the quote of the parent", `document.querySelector('`+browserMsg(answer.ID)+` .msg-quote')?.textContent === 'carol the question?'`)
	bob.mouseClick(browserMsg(answer.ID) + ` .msg-quote`)
	bob.wait("the parent in view and focused", `(() => {
		const li = document.querySelector('`+browserMsg(parent.ID)+`');
		const view = document.getElementById('scroller').getBoundingClientRect();
		const r = li.getBoundingClientRect();
		return document.activeElement === li && r.top >= view.top && r.bottom <= view.bottom;
	})()`)

	// A deleted parent shows as such in the quote.
	srv.remove("qa", parent.ID, "carol")
	bob.wait("the quote of a deleted parent", `document.querySelector('`+browserMsg(answer.ID)+` .msg-quote')?.textContent === 'carol message deleted'`)
	alice.checkClean()
	bob.checkClean()
}

func TestBrowserChangesResume(t *testing.T) {
	const room = "tunnel"
	srv := browserStartServer(t)
	a := srv.post(room, "bot", "edit me", "")
	b := srv.post(room, "bot", "delete me", "")
	c := srv.post(room, "bot", "react to me", "")
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/"+room, "frank")
	p.send("frank's own")
	p.waitTexts("the messages", []string{"edit me", "delete me", "react to me", "frank's own"})
	f := p.idOf("frank's own")

	p.setOnline(false)
	p.wait("the indicator to show offline", `document.getElementById('conn').dataset.state === 'offline'`)
	srv.edit(room, a.ID, "bot", "edited while offline")
	srv.remove(room, b.ID, "bot")
	srv.react(room, c.ID, "alice", "👍")
	srv.react(room, c.ID, "bob", "👍")
	srv.react(room, c.ID, "bob", "🎉")
	srv.unreact(room, c.ID, "bob", "🎉")
	srv.react(room, f, "alice", "❤️")
	srv.react(room, f, "frank", "❤️") // frank on another device
	srv.reply(room, "alice", "a reply while offline", a.ID)
	srv.edit(room, a.ID, "bot", "edited twice while offline")
	p.setOnline(true)
	p.wait("the indicator to show live", `document.getElementById('conn').dataset.state === 'live'`)
	p.waitView("every change applied after reconnecting", browserWantView(srv.messages(room), "frank"))

	// A reload restores the changed messages from the tab's cache and
	// resumes; a change made meanwhile arrives too.
	p.do(chromedp.Reload())
	srv.react(room, c.ID, "frank", "🎉")
	srv.edit(room, a.ID, "bot", "edited during the reload")
	p.waitReady()
	want := browserWantView(srv.messages(room), "frank")
	p.waitView("the cached view after a reload", want)
	if n := browserEval[int](p, `performance.getEntriesByType('resource').filter((e) => /\/api\/rooms\/[^/]+\/messages/.test(e.name)).length`); n != 0 {
		t.Errorf("message fetches after a reload: got %d, want 0", n)
	}
	fresh := browserNewPage(t, browser)
	fresh.open(srv.URL+"/r/"+room, "frank")
	fresh.waitView("a fresh load", want)
	p.checkClean()
}

func TestBrowserHostileChanges(t *testing.T) {
	srv := browserStartServer(t)
	m := srv.post("sec", "mallory", "harmless at first", "")
	srv.edit("sec", m.ID, "mallory", `<img src=x onerror="window.parleyPwned = 1">`+"\n"+`<script>window.parleyPwned = 2</script>`)
	// The server refuses emoji with markup characters (see
	// TestChangesRulesAndErrors); these test the URL round trip of the
	// ASCII it allows, the fragment and glob characters of keycaps, and
	// long joined sequences.
	emoji := []string{"#️⃣", "*️⃣", "#*", "👨‍👩‍👧", "❤️‍🔥"}
	for _, e := range emoji {
		srv.react("sec", m.ID, "mallory", e)
	}
	srv.reply("sec", "mallory", "see above", m.ID)
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/sec", "victim")
	p.waitView("the hostile text and emoji as text", browserWantView(srv.messages("sec"), "victim"))

	// Toggling them from the page round-trips them through the URL.
	reactions := func(suffix string) string {
		var want []string
		for _, e := range emoji {
			want = append(want, e+suffix)
		}
		js, _ := json.Marshal(want)
		return fmt.Sprintf(`JSON.stringify((%s).find((v) => v.id === '%s').reactions) === JSON.stringify(%s)`, browserViewJS, m.ID, js)
	}
	for _, e := range emoji {
		p.clickReaction(m.ID, e)
	}
	p.wait("the victim's reactions", reactions(" 2 mine"))
	for _, e := range emoji {
		p.clickReaction(m.ID, e)
	}
	p.wait("the victim's reactions gone", reactions(" 1"))
	p.waitView("the server's state", browserWantView(srv.messages("sec"), "victim"))

	if n := browserEval[int](p, `document.querySelectorAll('#messages img, #messages script, #messages svg, #messages iframe').length`); n != 0 {
		t.Errorf("elements made from edited text or emoji: got %d, want 0", n)
	}
	if v := browserEval[any](p, `window.parleyPwned`); v != nil {
		t.Errorf("window.parleyPwned: got %v, want undefined", v)
	}
	p.checkClean()
}

// TestBrowserUserTextCannotReorderThePage: right-to-left names and bidi
// controls in a message stay inside their own element: they never move
// what is around them. Unisolated, the digits of a quoted text would be
// drawn before the right-to-left name of its author in the reply bar.
func TestBrowserUserTextCannotReorderThePage(t *testing.T) {
	srv := browserStartServer(t)
	m := srv.post("lobby", "محمد", "first draft", "")
	srv.edit("lobby", m.ID, "محمد", "123 abc \u202e")
	browser := browserStart(t)
	page := browserNewPage(t, browser)
	page.open(srv.URL+"/r/lobby", "carol")
	page.waitTexts("the message", []string{"123 abc \u202e"})
	page.do(chromedp.Focus(chromedp.CSS(browserMsg(m.ID)+` [data-action="reply"]`)), chromedp.KeyEvent(kb.Enter))
	page.wait("reply mode", `!document.getElementById('reply-bar').hidden`)

	// left returns where the character at i of element css's text is drawn
	// (i < 0 counts from the end).
	left := func(css string, i int) float64 {
		t.Helper()
		return browserEval[float64](page, fmt.Sprintf(`(() => {
			const t = document.querySelector(%q).firstChild, i = %d < 0 ? t.length + %d : %d;
			const r = document.createRange();
			r.setStart(t, i); r.setEnd(t, i + 1);
			return r.getBoundingClientRect().left;
		})()`, css, i, i, i))
	}
	author := browserEval[float64](page, `document.getElementById('reply-author').getBoundingClientRect().right`)
	if digit := left("#reply-text", 0); !(author <= digit) {
		t.Errorf("reply bar: the quoted text starts at %v, left of its author's name, which ends at %v", digit, author)
	}
	if open, closing := left("#messages .msg-edited", 0), left("#messages .msg-edited", -1); !(open < closing) {
		t.Errorf(`"(edited)" after a right-to-left override: '(' drawn at %v, ')' at %v; want left to right`, open, closing)
	}
	author = browserEval[float64](page, `document.querySelector('#messages .msg-author').getBoundingClientRect().right`)
	when := browserEval[float64](page, `document.querySelector('#messages .msg-time').getBoundingClientRect().left`)
	if !(author <= when) {
		t.Errorf("message header: the time starts at %v, left of the author's name, which ends at %v", when, author)
	}
	page.checkClean()
}
