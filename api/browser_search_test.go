package api_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserSearch: the search box finds, as you type, a message far back
// in another room, its match marked (text inert, never HTML); choosing it
// opens that room at the message, highlighted and in view.
func TestBrowserSearch(t *testing.T) {
	srv := browserStartServer(t)
	var target browserEvent
	for i := range 120 {
		text := fmt.Sprint("old chatter ", i)
		if i == 10 {
			text = `the <b>needle</b> is in 東京タワー`
		}
		ev := srv.post("haystack", "ann", text, "")
		if i == 10 {
			target = ev
		}
	}
	srv.post("general", "bob", "hello in general", "")
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/general", "reader")

	p.do(chromedp.SendKeys(chromedp.ID("search-input"), "needl"))
	p.wait("the result, its match marked", `(() => {
		const a = document.querySelector('#search-results a.search-result');
		return a && a.querySelector('.search-room').textContent === '#haystack' &&
			a.querySelector('.search-text mark')?.textContent === 'needle' &&
			a.querySelector('.search-text').textContent === 'the <b>needle</b> is in 東京タワー' &&
			!a.querySelector('b');
	})()`)
	p.click(`#search-results a.search-result[data-jump="` + target.ID + `"]`)
	p.wait("the other room, at the message, highlighted and in view", browserInViewJS(target.ID))
	if got := browserEval[string](p, `document.getElementById('room-title').textContent + ' ' + location.pathname + location.search`); got != "haystack /r/haystack?m="+target.ID {
		t.Errorf("after choosing the result: got %q", got)
	}

	// Unspaced text is found by any part of it.
	retype := func(text string) {
		t.Helper()
		browserEval[bool](p, `(document.getElementById('search-input').value = '') === ''`)
		p.do(chromedp.SendKeys(chromedp.ID("search-input"), text))
	}
	retype("京タ\n")
	p.wait("the Japanese match", `document.querySelector('#search-results .search-text mark')?.textContent === '京タ'`)
	retype("xylophone\n")
	p.wait("no results said", `document.getElementById('search-status').textContent === 'No messages found.'`)
	retype("\"open\n")
	p.wait("the query's error", `document.getElementById('search-status').textContent.includes('quote')`)
	p.checkClean()
}
