package api_test

import (
	"fmt"
	"testing"
)

// browserInViewJS is true when message id is shown, marked as the target of
// a link, and inside the visible part of the scroller.
func browserInViewJS(id string) string {
	return fmt.Sprintf(`(() => {
		const li = document.querySelector('#messages li.msg[data-id="%s"]');
		if (!li || !li.classList.contains('target')) return false;
		const r = li.getBoundingClientRect(), s = document.getElementById('scroller').getBoundingClientRect();
		return r.top >= s.top - 1 && r.bottom <= s.bottom + 1;
	})()`, id)
}

// TestBrowserPermalink: /r/:room?m=ID in a fresh page opens the room at a
// message far back in history, highlighted; the live stream keeps flowing
// meanwhile and "jump to newest" returns; a reply's quote of a message not
// loaded is a link that does the same; scrolling down from old history
// meets the live messages without a gap or a repeat.
func TestBrowserPermalink(t *testing.T) {
	srv := browserStartServer(t)
	var old []browserEvent
	for i := range 200 {
		old = append(old, srv.post("perm", "ann", fmt.Sprint("old ", i), ""))
	}
	reply := srv.reply("perm", "bob", "answering an old one", old[5].ID)
	browser := browserStart(t)

	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/perm?m="+old[10].ID, "reader")
	p.wait("the linked message, highlighted and in view", browserInViewJS(old[10].ID))
	if browserEval[bool](p, fmt.Sprintf(`Boolean(document.querySelector('li.msg[data-id="%s"]'))`, reply.ID)) {
		t.Error("the newest message is shown below old history: want a window of history around the link")
	}
	p.wait("the way back to the newest", `!document.getElementById('new-pill').hidden &&
		document.getElementById('new-pill').textContent.includes('Jump to newest')`)
	if got := browserEval[string](p, `location.pathname + location.search`); got != "/r/perm?m="+old[10].ID {
		t.Errorf("address: got %s, want the permalink", got)
	}

	// The stream keeps flowing while the reader is back in history.
	live := srv.post("perm", "carol", "live while reading old history", "")
	p.wait("the new message counted", `document.getElementById('new-pill').textContent.startsWith('1 new message')`)
	p.click("#new-pill")
	p.wait("the newest messages", fmt.Sprintf(`document.querySelector('#messages li.msg:last-of-type')?.dataset.id === '%s' &&
		document.getElementById('new-pill').hidden && location.search === ''`, live.ID))

	// A reply's quote of a message not loaded opens it the same way.
	p.click(fmt.Sprintf(`#messages li.msg[data-id="%s"] a.msg-quote`, reply.ID))
	p.wait("the quoted message, highlighted and in view", browserInViewJS(old[5].ID))

	// Scrolling down from there meets the live messages: one list, in order.
	p.wait("scrolling down to the live messages", fmt.Sprintf(`(() => {
		const s = document.getElementById('scroller');
		s.scrollTop = s.scrollHeight;
		return Boolean(document.querySelector('#messages li.msg[data-id="%s"]')) && document.getElementById('new-pill').hidden;
	})()`, live.ID))
	ids := p.ids()
	browserCheckAscending(t, ids)
	if ids[0] > old[5].ID || ids[len(ids)-1] != live.ID {
		t.Errorf("after rejoining: %d messages from %s to %s, want from at most %s to %s", len(ids), ids[0], ids[len(ids)-1], old[5].ID, live.ID)
	}
	p.checkClean()

	// A permalink to a message among the newest needs no window.
	fresh := browserNewPage(t, browser)
	fresh.open(srv.URL+"/r/perm?m="+old[195].ID, "reader")
	fresh.wait("the linked recent message, highlighted", browserInViewJS(old[195].ID))
	fresh.wait("the newest message below it", fmt.Sprintf(`Boolean(document.querySelector('#messages li.msg[data-id="%s"]')) &&
		document.getElementById('new-pill').hidden`, live.ID))

	// A link to a message that does not exist says so.
	gone := browserNewPage(t, browser)
	gone.open(srv.URL+"/r/perm?m=01KAKM0S5QK8TF5X0V9K3FJ1ZZ", "reader")
	gone.wait("a note that the message is not there", `document.getElementById('toast').textContent.includes('not in #perm')`)
	fresh.checkClean()
}
