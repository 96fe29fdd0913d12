package api

import (
	"html"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The HTML export renders message text with the formatting the web client
// shows (web/assets/markdown.js): **bold**, *italic* and _italic_,
// __bold__, ~~strike~~, `code`, fenced code blocks, > quotes, lists, and
// links of http and https URLs. The two follow the same rules step by
// step; every piece of text is escaped here, so formatting can only ever
// make these elements.

const (
	mdMaxDepth   = 3 // quotes nest at most this deep
	mdMaxNesting = 8 // emphasis nests at most this deep
)

var (
	mdFence      = regexp.MustCompile("^ {0,3}```")
	mdFenceClose = regexp.MustCompile("^ {0,3}```\\s*$")
	mdQuote      = regexp.MustCompile(`^ {0,3}> ?`)
	mdBullet     = regexp.MustCompile(`^ {0,3}[-*+] +`)
	mdNumber     = regexp.MustCompile(`^ {0,3}(\d{1,9})[.)] +`)
)

// mdBlock is one block of a message: "code", "quote", "ul", "ol" or "p".
type mdBlock struct {
	kind     string
	text     string   // code and p
	items    []string // ul and ol
	start    int      // ol
	children []mdBlock
}

// writeMarkdownHTML writes text as escaped HTML with its formatting: one
// paragraph as inline HTML, anything else as blocks. It reports whether it
// wrote blocks.
func writeMarkdownHTML(w io.StringWriter, text string) bool {
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	blocks := mdParseBlocks(strings.Split(text, "\n"), 0)
	if len(blocks) == 1 && blocks[0].kind == "p" {
		mdInlineHTML(w, blocks[0].text, 0)
		return false
	}
	for _, b := range blocks {
		mdBlockHTML(w, b)
	}
	return true
}

// mdListItem reports whether line starts a list item and returns its text.
func mdListItem(re *regexp.Regexp, line string) (string, bool) {
	loc := re.FindStringIndex(line)
	if loc == nil || loc[1] >= len(line) || mdIsSpace(line[loc[1]]) {
		return "", false
	}
	return line[loc[1]:], true
}

func mdStartsBlock(line string, depth int) bool {
	_, bullet := mdListItem(mdBullet, line)
	_, number := mdListItem(mdNumber, line)
	return mdFence.MatchString(line) || depth < mdMaxDepth && mdQuote.MatchString(line) || bullet || number
}

// mdParseBlocks cuts lines into blocks, as parseBlocks in markdown.js.
func mdParseBlocks(lines []string, depth int) []mdBlock {
	var blocks []mdBlock
	for i := 0; i < len(lines); {
		line := lines[i]
		_, bullet := mdListItem(mdBullet, line)
		_, number := mdListItem(mdNumber, line)
		switch {
		case strings.TrimSpace(line) == "":
			i++
		case mdFence.MatchString(line):
			var body []string
			for i++; i < len(lines) && !mdFenceClose.MatchString(lines[i]); i++ {
				body = append(body, lines[i])
			}
			i++ // the closing fence, or the end
			blocks = append(blocks, mdBlock{kind: "code", text: strings.Join(body, "\n")})
		case depth < mdMaxDepth && mdQuote.MatchString(line):
			var inner []string
			for ; i < len(lines) && mdQuote.MatchString(lines[i]); i++ {
				inner = append(inner, mdQuote.ReplaceAllString(lines[i], ""))
			}
			blocks = append(blocks, mdBlock{kind: "quote", children: mdParseBlocks(inner, depth+1)})
		case bullet || number:
			re, b := mdBullet, mdBlock{kind: "ul", start: 1}
			if number {
				re, b.kind = mdNumber, "ol"
				b.start, _ = strconv.Atoi(mdNumber.FindStringSubmatch(line)[1])
			}
			for ; i < len(lines); i++ {
				item, ok := mdListItem(re, lines[i])
				if !ok {
					break
				}
				b.items = append(b.items, item)
			}
			blocks = append(blocks, b)
		default:
			var para []string
			for ; i < len(lines) && !mdStartsBlock(lines[i], depth); i++ {
				para = append(para, lines[i])
			}
			for len(para) > 0 && strings.TrimSpace(para[len(para)-1]) == "" {
				para = para[:len(para)-1]
			}
			blocks = append(blocks, mdBlock{kind: "p", text: strings.Join(para, "\n")})
		}
	}
	return blocks
}

func mdBlockHTML(w io.StringWriter, b mdBlock) {
	switch b.kind {
	case "code":
		w.WriteString(`<pre class="code"><code>` + html.EscapeString(b.text) + "</code></pre>")
	case "quote":
		w.WriteString("<blockquote>")
		for _, c := range b.children {
			mdBlockHTML(w, c)
		}
		w.WriteString("</blockquote>")
	case "ul", "ol":
		w.WriteString("<" + b.kind)
		if b.kind == "ol" && b.start != 1 {
			w.WriteString(` start="` + strconv.Itoa(b.start) + `"`)
		}
		w.WriteString(">")
		for _, item := range b.items {
			w.WriteString("<li>")
			mdInlineHTML(w, item, 0)
			w.WriteString("</li>")
		}
		w.WriteString("</" + b.kind + ">")
	default:
		w.WriteString("<p>")
		mdInlineHTML(w, b.text, 0)
		w.WriteString("</p>")
	}
}

// mdDelimiters are the inline delimiters, longest first, and their element.
var mdDelimiters = []struct{ mark, tag string }{
	{"**", "strong"}, {"__", "strong"}, {"~~", "del"}, {"*", "em"}, {"_", "em"},
}

// mdInlineHTML writes one block's text with emphasis, code spans, escapes
// and links, as inlineNodes in markdown.js.
func mdInlineHTML(w io.StringWriter, s string, depth int) {
	var text strings.Builder
	flush := func() {
		writeLinkified(w, text.String())
		text.Reset()
	}
	unclosed := map[string]bool{} // see inlineNodes: linear time on hostile text
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\\' && i+1 < len(s) && mdIsPunct(s[i+1]) {
			text.WriteByte(s[i+1])
			i += 2
			continue
		}
		if url := mdURLAt(s, i); url != "" {
			text.WriteString(url)
			i += len(url)
			continue
		}
		if c == '`' {
			n := mdRun(s, i, '`')
			key := "`" + strconv.Itoa(n)
			close := -1
			if !unclosed[key] {
				close = mdFindTicks(s, i+n, n)
			}
			if close < 0 {
				unclosed[key] = true
				text.WriteString(s[i : i+n])
				i += n
				continue
			}
			flush()
			w.WriteString(`<code>` + html.EscapeString(mdTrimCode(s[i+n:close])) + `</code>`)
			i = close + n
			continue
		}
		mark, tag := "", ""
		if depth < mdMaxNesting {
			for _, d := range mdDelimiters {
				if strings.HasPrefix(s[i:], d.mark) && !unclosed[d.mark] && mdCanOpen(s, i, d.mark) {
					mark, tag = d.mark, d.tag
					break
				}
			}
		}
		close := -1
		if mark != "" {
			if close = mdFindClose(s, i+len(mark), mark); close < 0 {
				unclosed[mark] = true
			}
		}
		if close < 0 {
			text.WriteByte(c)
			i++
			continue
		}
		flush()
		w.WriteString("<" + tag + ">")
		mdInlineHTML(w, s[i+len(mark):close], depth+1)
		w.WriteString("</" + tag + ">")
		i = close + len(mark)
	}
	flush()
}

func mdIsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }
func mdIsAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
func mdIsPunct(c byte) bool {
	return c < utf8.RuneSelf && unicode.IsPrint(rune(c)) && !mdIsAlnum(c) && c != ' '
}

// mdAt returns s[i], or a space outside s: the edges of a text count as
// spaces, as undefined does in markdown.js.
func mdAt(s string, i int) byte {
	if i < 0 || i >= len(s) {
		return ' '
	}
	return s[i]
}

func mdRun(s string, i int, c byte) int {
	n := 0
	for i+n < len(s) && s[i+n] == c {
		n++
	}
	return n
}

// mdFindTicks finds the next run of exactly n backticks at or after i.
func mdFindTicks(s string, i, n int) int {
	for j := i; j < len(s); {
		if s[j] != '`' {
			j++
			continue
		}
		m := mdRun(s, j, '`')
		if m == n {
			return j
		}
		j += m
	}
	return -1
}

func mdTrimCode(s string) string {
	if len(s) > 2 && s[0] == ' ' && s[len(s)-1] == ' ' {
		return s[1 : len(s)-1]
	}
	return s
}

func mdCanOpen(s string, i int, mark string) bool {
	if mdIsSpace(mdAt(s, i+len(mark))) {
		return false
	}
	return mark[0] != '_' || i == 0 || !mdIsAlnum(s[i-1])
}

// mdFindClose finds where mark, opened before i, closes, as findClose.
func mdFindClose(s string, i int, mark string) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
			continue
		case '`':
			n := mdRun(s, j, '`')
			if close := mdFindTicks(s, j+n, n); close >= 0 {
				j = close + n - 1
			} else {
				j += n - 1
			}
			continue
		}
		if !strings.HasPrefix(s[j:], mark) || mdIsSpace(s[j-1]) {
			continue
		}
		if len(mark) == 1 && (mdAt(s, j+1) == mark[0] || s[j-1] == mark[0]) {
			continue
		}
		if mark[0] == '_' && j+len(mark) < len(s) && mdIsAlnum(s[j+len(mark)]) {
			continue
		}
		return j
	}
	return -1
}

// mdURL matches a URL as linkify in format.js does; mdURLAt cuts it the
// same way.
var (
	mdURL         = regexp.MustCompile("^(?i)https?://[^\\t\\n\\v\\f\\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff<>\"`{}|\\\\^]+")
	mdURLTrailing = regexp.MustCompile(`[.,;:!?'*_~]+$`)
	mdURLAny      = regexp.MustCompile("(?i)https?://")
)

// mdURLAt returns the URL starting at s[i] that is not preceded by a letter
// or digit, trimmed of the punctuation that ends a sentence, or "".
func mdURLAt(s string, i int) string {
	if c := s[i]; c != 'h' && c != 'H' {
		return ""
	}
	if r, _ := utf8.DecodeLastRuneInString(s[:i]); i > 0 && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.N, r)) {
		return ""
	}
	return mdTrimURL(mdURL.FindString(s[i:]))
}

func mdTrimURL(s string) string {
	for {
		before := s
		s = mdURLTrailing.ReplaceAllString(s, "")
		for _, p := range [][2]string{{"(", ")"}, {"[", "]"}} {
			if strings.HasSuffix(s, p[1]) && strings.Count(s, p[1]) > strings.Count(s, p[0]) {
				s = s[:len(s)-1]
			}
		}
		if s == before {
			return s
		}
	}
}

// writeLinkified writes text escaped, with its http and https URLs as
// links that open without telling the target where they came from.
func writeLinkified(w io.StringWriter, text string) {
	last := 0
	for _, loc := range mdURLAny.FindAllStringIndex(text, -1) {
		if loc[0] < last {
			continue
		}
		url := mdURLAt(text, loc[0])
		if url == "" || !mdSafeURL(url) {
			continue
		}
		w.WriteString(html.EscapeString(text[last:loc[0]]))
		w.WriteString(`<a href="` + html.EscapeString(url) + `" rel="noopener noreferrer">` + html.EscapeString(url) + `</a>`)
		last = loc[0] + len(url)
	}
	w.WriteString(html.EscapeString(text[last:]))
}

// mdSafeURL reports whether url has a host, as safeURL in format.js asks.
func mdSafeURL(url string) bool {
	rest := url[strings.Index(url, "//")+2:]
	host := rest
	if k := strings.IndexAny(rest, "/?#"); k >= 0 {
		host = rest[:k]
	}
	if k := strings.LastIndexByte(host, '@'); k >= 0 {
		host = host[k+1:]
	}
	return host != "" && host[0] != ':'
}
