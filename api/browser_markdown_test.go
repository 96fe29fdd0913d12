package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// browserShapeJS writes a node as tag(children…), text as itself: what a
// message's formatting became in the page, markup and text apart.
const browserShapeJS = `const shape = (n) => n.nodeType === 3 ? n.textContent
	: n.tagName.toLowerCase() + '(' + [...n.childNodes].map(shape).join('') + ')';`

// TestBrowserMarkdown: formatting renders as elements, and markup aimed at
// the renderer (inside bold, code spans, code blocks, quotes, lists, next to
// URLs) stays text: no element of its own, no script run, no link but
// http(s).
func TestBrowserMarkdown(t *testing.T) {
	srv := browserStartServer(t)
	cases := []struct{ text, want string }{
		{"**bold** *it* _it_ ~~gone~~ `co*de*`\n\nsame paragraph",
			"p(strong(bold) em(it) em(it) del(gone) code(co*de*)\n\nsame paragraph)"},
		{"snake_case stays, 2 * 3 * 4 too",
			"p(snake_case stays, 2 * 3 * 4 too)"},
		{"list:\n- one\n- **two**\n3. three\n> quoted *x*\n```\nconst a = 1;\n```",
			"div(p(list:)ul(li(one)li(strong(two)))ol(li(three))blockquote(p(quoted em(x)))div(pre(code(const a = 1;))button(Copy)))"},
		{`**<img src=x onerror="window.parleyPwned = 1">**`,
			`p(strong(<img src=x onerror="window.parleyPwned = 1">))`},
		{"`</code><script>window.parleyPwned = 2</script>`",
			"p(code(</code><script>window.parleyPwned = 2</script>))"},
		{"```\n<svg onload=\"window.parleyPwned = 3\"></svg>\n```",
			`div(div(pre(code(<svg onload="window.parleyPwned = 3"></svg>))button(Copy)))`},
		{`> <iframe src="javascript:window.parleyPwned = 4"></iframe>`,
			`div(blockquote(p(<iframe src="javascript:window.parleyPwned = 4"></iframe>)))`},
		{"- [click](javascript:window.parleyPwned=5)\n- javascript:alert(5)",
			"div(ul(li([click](javascript:window.parleyPwned=5))li(javascript:alert(5))))"},
		{`*https://example.com/"><img src=x onerror=window.parleyPwned=6>*`,
			`p(em(a(https://example.com/)"><img src=x onerror=window.parleyPwned=6>))`},
		{"~~<b>x</b>~~ __<style>body{display:none}</style>__",
			"p(del(<b>x</b>) strong(<style>body{display:none}</style>))"},
	}
	var ids []string
	for _, c := range cases {
		ids = append(ids, srv.post("fmt", "mallory", c.text, "").ID)
	}
	browser := browserStart(t)
	p := browserNewPage(t, browser)
	p.open(srv.URL+"/r/fmt", "victim")
	p.wait("every message", fmt.Sprintf(`document.querySelectorAll('#messages li.msg').length === %d`, len(cases)))

	idsJS, _ := json.Marshal(ids)
	// The message's own element: a <p> for one paragraph, a <div> of blocks.
	got := browserEval[[]string](p, fmt.Sprintf(`(() => { %s
		return %s.map((id) => shape(document.querySelector('#messages li.msg[data-id="' + id + '"] .msg-text'))); })()`, browserShapeJS, idsJS))
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%q:\ngot  %s\nwant %s", c.text, got[i], c.want)
		}
	}
	// The HTML export renders the same formatting (api/markdown.go): its
	// elements, read by the same browser, have the same shape, but for the
	// copy button that only the page has.
	resp, body := browserRequest(t, "GET", srv.URL+"/api/rooms/fmt/export?format=html", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("export: got %d %s", resp.StatusCode, body)
	}
	// Only the transcript: its head (style, CSP) is not the page's.
	log := string(body)
	log = log[strings.Index(log, `<ol class="log">`):]
	exportJS, _ := json.Marshal(log)
	exported := browserEval[[]string](p, fmt.Sprintf(`(() => { %s
		const doc = new DOMParser().parseFromString(%s, 'text/html');
		return %s.map((id) => [...doc.querySelector('#m-' + id + ' .text').childNodes].map(shape).join('')); })()`, browserShapeJS, exportJS, idsJS))
	shown := browserEval[[]string](p, fmt.Sprintf(`(() => { %s
		return %s.map((id) => [...document.querySelector('#messages li.msg[data-id="' + id + '"] .msg-text').childNodes].map(shape).join('')
			.replaceAll(/div\(pre\((code\([^]*?\))\)button\(Copy\)\)/g, 'pre($1)')); })()`, browserShapeJS, idsJS))
	for i, c := range cases {
		if exported[i] != shown[i] {
			t.Errorf("%q: the export and the page differ:\nexport %s\npage   %s", c.text, exported[i], shown[i])
		}
	}

	if n := browserEval[int](p, `document.querySelectorAll('#messages img, #messages script, #messages svg, #messages iframe, #messages style, #messages b').length`); n != 0 {
		t.Errorf("elements made from message text: got %d, want 0", n)
	}
	if bad := browserEval[[]string](p, `[...document.querySelectorAll('#messages a')].map((a) => a.href).filter((h) => !/^https?:/.test(h))`); len(bad) != 0 {
		t.Errorf("links that are not http(s): %q", bad)
	}
	if v := browserEval[any](p, `window.parleyPwned`); v != nil {
		t.Errorf("window.parleyPwned: got %v, want undefined", v)
	}
	style := browserEval[[]string](p, `(() => { const pre = document.querySelector('#messages .md-code pre');
		const s = getComputedStyle(pre); return [s.overflowX, s.whiteSpace, getComputedStyle(pre.querySelector('code')).fontFamily]; })()`)
	if style[0] != "auto" || style[1] != "pre" || !strings.Contains(style[2], "monospace") {
		t.Errorf("code block style: got %q, want scrolling (auto), pre and a monospace font", style)
	}
	// The copy button answers (the clipboard may be refused headless: either
	// way it says so).
	p.click(`#messages li.msg[data-id="` + ids[2] + `"] .md-copy`)
	p.wait("the copy button to answer", `document.querySelector('#messages li.msg[data-id="`+ids[2]+`"] .md-copy').textContent !== 'Copy'`)
	p.checkClean()
}
