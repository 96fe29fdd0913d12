package api

import (
	"bufio"
	"html"
	"html/template"
	"strconv"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// htmlWriter writes a self-contained HTML transcript that opens offline:
// inline style, no scripts, every text escaped (by html/template in the
// head, html.EscapeString in messages, formatting through markdown.go). The file carries its own
// Content-Security-Policy, so it is as safe opened from a disk as served.
type htmlWriter struct {
	w *bufio.Writer
	// files, when set, links each file of a message to the archive's copy
	// (an archive export); else files are listed by name.
	files *archiveFiles
}

var htmlHead = template.Must(template.New("head").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="` + htmlCSP + `">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Room}} · Parley</title>
<style>
:root{color-scheme:light dark}
body{margin:0 auto;max-width:46rem;padding:1.5rem 1rem;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;background:#fff}
h1{font-size:1.4rem;margin:0}
.meta{color:#656d76;margin:.25rem 0 1.5rem}
.log{list-style:none;margin:0;padding:0}
.msg{padding:.6rem 0;border-top:1px solid #d0d7de}
.head{font-size:.85rem;color:#656d76}
.author{font-weight:600;color:#1f2328;margin-right:.4rem}
.reply{color:#0969da;text-decoration:none;margin-left:.4rem}
.edited{font-style:italic;margin-left:.4rem}
.text{white-space:pre-wrap;overflow-wrap:anywhere;margin-top:.15rem}
.gone{font-style:italic;color:#656d76}
.md p,.md pre,.md blockquote,.md ul,.md ol{margin:0 0 .35rem}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#eff1f3;border-radius:4px;padding:0 .25rem}
pre.code{white-space:pre;overflow-x:auto;padding:.5rem .75rem;border:1px solid #d0d7de;border-radius:6px;background:#f6f8fa}
pre.code code{background:none;padding:0}
blockquote{padding-left:.75rem;border-left:3px solid #d0d7de;color:#656d76}
.md ul,.md ol{padding-left:1.5rem;white-space:normal}
.md li{white-space:pre-wrap}
.reactions{display:flex;flex-wrap:wrap;gap:.35rem;list-style:none;margin:.35rem 0 0;padding:0}
.reactions li{border:1px solid #d0d7de;border-radius:1rem;padding:0 .5rem;font-size:.85rem}
@media (prefers-color-scheme:dark){body{color:#e6edf3;background:#0d1117}.author{color:#e6edf3}.msg,.reactions li,pre.code,blockquote{border-color:#30363d}.head,.meta,.gone,blockquote{color:#8d96a0}.reply{color:#4493f8}code,pre.code{background:#161b22}}
</style>
</head>
<body>
<h1>{{.Room}}</h1>
<p class="meta">Exported from Parley on <time datetime="{{.Exported.Format "2006-01-02T15:04:05Z07:00"}}">{{.Exported.Format "2006-01-02 15:04:05"}} UTC</time>. Times are UTC.</p>
<ol class="log">
`))

const htmlFoot = "</ol>\n</body>\n</html>\n"

func newHTMLWriter(w *bufio.Writer, h exportHead) messageWriter {
	htmlHead.Execute(w, h) // a template of constants and strings: only w can fail, and w's errors are sticky
	return htmlWriter{w: w}
}

// message writes one message by hand, each text through
// html.EscapeString: a template per message costs more than the rest of the
// export together.
func (h htmlWriter) message(m *store.Message, reply replyRef) {
	w, esc := h.w, html.EscapeString
	w.WriteString(`<li class="msg" id="m-` + m.ID.String() + `">` + "\n")
	w.WriteString(`<div class="head"><span class="author">` + esc(m.Author) + `</span><time datetime="` +
		m.Time.UTC().Format(store.TimeFormat) + `">` + m.Time.UTC().Format(transcriptTime) + `</time>`)
	if reply.id != (ulid.ULID{}) {
		w.WriteString(`<a class="reply" href="#m-` + reply.id.String() + `">↪ reply to ` + esc(reply.label()) + `</a>`)
	}
	if !m.EditedAt.IsZero() {
		w.WriteString(`<span class="edited" title="edited ` + m.EditedAt.UTC().Format(transcriptTime) + `">(edited)</span>`)
	}
	w.WriteString("</div>\n")
	if m.Redacted {
		w.WriteString(`<div class="text gone">message deleted</div>` + "\n")
	} else {
		// Formatting as the web client shows it; blocks, if any, go in a
		// <div> of their own class (see markdown.go).
		var body strings.Builder
		class := "text"
		if writeMarkdownHTML(&body, strings.Join(textLines(m.Text), "\n")) {
			class = "text md"
		}
		w.WriteString(`<div class="` + class + `">` + body.String() + "</div>\n")
	}
	if len(m.Files) > 0 {
		h.writeFiles(m.Files)
	}
	if len(m.Reactions) > 0 {
		w.WriteString(`<ul class="reactions">`)
		for _, r := range m.Reactions {
			w.WriteString("<li>" + esc(r.Emoji) + " × " + strconv.Itoa(r.Count) + "</li>")
		}
		w.WriteString("</ul>\n")
	}
	w.WriteString("</li>\n")
}
func (htmlWriter) flush() {}
func (h htmlWriter) end() { h.w.WriteString(htmlFoot) }
