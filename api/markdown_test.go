package api

import (
	"regexp"
	"strings"
	"testing"
)

func renderMD(text string) string {
	var b strings.Builder
	writeMarkdownHTML(&b, text)
	return b.String()
}

func TestMarkdownHTML(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain <b>text</b> & more", "plain &lt;b&gt;text&lt;/b&gt; &amp; more"},
		{"hello *world*", "hello <em>world</em>"},
		{"**bold** _it_ __b__ ~~s~~", "<strong>bold</strong> <em>it</em> <strong>b</strong> <del>s</del>"},
		{"*a **b** c*", "<em>a <strong>b</strong> c</em>"},
		{"**a", "**a"},
		{"a * b * c", "a * b * c"},
		{"snake_case_name", "snake_case_name"},
		{`\*not\* italic`, "*not* italic"},
		{"`<i>x</i>` and `` `tick` ``", "<code>&lt;i&gt;x&lt;/i&gt;</code> and <code>`tick`</code>"},
		{"`*not em*`", "<code>*not em*</code>"},
		{"line1\nline2\n\nline3", "line1\nline2\n\nline3"},
		{"see https://x.com/*a*_b_ ok", `see <a href="https://x.com/*a*_b" rel="noopener noreferrer">https://x.com/*a*_b</a>_ ok`},
		{"*see https://x.com*", `<em>see <a href="https://x.com" rel="noopener noreferrer">https://x.com</a></em>`},
		{`https://x.com/"onmouseover=alert(1)`, `<a href="https://x.com/" rel="noopener noreferrer">https://x.com/</a>&#34;onmouseover=alert(1)`},
		{"[x](javascript:alert(1)) javascript://x", "[x](javascript:alert(1)) javascript://x"},
		{"xhttps://x.com", "xhttps://x.com"},
		{"intro:\n- a\n- *b*\n\nafter", "<p>intro:</p><ul><li>a</li><li><em>b</em></li></ul><p>after</p>"},
		{"3) three\n4) four", `<ol start="3"><li>three</li><li>four</li></ol>`},
		{"> q *x*\n> > nested\nplain", "<blockquote><p>q <em>x</em></p><blockquote><p>nested</p></blockquote></blockquote><p>plain</p>"},
		{"> > > > deep", "<blockquote><blockquote><blockquote><p>&gt; deep</p></blockquote></blockquote></blockquote>"},
		{"```js\n<script>x</script>\n**no**\n```\nafter", `<pre class="code"><code>&lt;script&gt;x&lt;/script&gt;` + "\n" + `**no**</code></pre><p>after</p>`},
		{"```\nunclosed", `<pre class="code"><code>unclosed</code></pre>`},
		{"-not a list\n#not a heading", "-not a list\n#not a heading"},
	} {
		if got := renderMD(tc.in); got != tc.want {
			t.Errorf("%q:\ngot  %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// allowedTag matches the tags the renderer may write; anything else that
// looks like a tag in its output came from the text.
var allowedTag = regexp.MustCompile(`</?(strong|em|del|code|p|blockquote|ul|li)>|<ol( start="\d+")?>|</ol>|<pre class="code">|</pre>|<a href="https?://[^"<>]*" rel="noopener noreferrer">|</a>`)

// FuzzMarkdownHTML: whatever the text, the output holds only the renderer's
// own tags, and no quote or angle bracket of the text unescaped.
func FuzzMarkdownHTML(f *testing.F) {
	for _, s := range []string{"**b** *i* `c` ~~s~~", "```\n<x>\n```", "> q\n- l\n1. o", "https://x.com/<a>\"b", "*a **b** c*", "_a_b_ \\* ``x``"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		out := allowedTag.ReplaceAllString(renderMD(text), "")
		if strings.ContainsAny(out, `<>"`) {
			t.Fatalf("%q renders with markup of its own: %s", text, renderMD(text))
		}
	})
}

// BenchmarkMarkdownHostile renders text made to defeat the delimiter
// search: linear, not quadratic.
func BenchmarkMarkdownHostile(b *testing.B) {
	text := strings.Repeat("*a _b ~~c `d ", 1000)
	for b.Loop() {
		renderMD(text)
	}
}
