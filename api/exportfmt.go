package api

import (
	"bufio"
	"encoding/csv"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// exportFormat is one way to write an export.
type exportFormat struct {
	ext, contentType string
	messages         bool // reads the current state of messages, not the log
	open             func(w *bufio.Writer, h exportHead) exportWriter
}

// exportHead is what a transcript says before its messages.
type exportHead struct {
	Room     string
	Exported time.Time
}

// exportWriter writes one export. Its writes go to a bufio.Writer, whose
// errors are sticky: the caller checks them when it flushes.
type exportWriter interface {
	record(rec store.Record) error // the next record, in id order
	flush()                        // hand what is buffered to the bufio.Writer
	end()                          // write what follows the last record
}

// exportFormats are the formats by ?format= name; empty is jsonl.
var exportFormats = map[string]exportFormat{
	"jsonl": {"jsonl", "application/jsonl", false, func(w *bufio.Writer, _ exportHead) exportWriter { return jsonlWriter{w} }},
	"json":  {"json", "application/json", true, newJSONWriter},
	"md":    {"md", "text/markdown; charset=utf-8", true, transcriptOf(newMarkdownWriter)},
	"txt":   {"txt", "text/plain; charset=utf-8", true, transcriptOf(newTextWriter)},
	"html":  {"html", "text/html; charset=utf-8", true, transcriptOf(newHTMLWriter)},
	"csv":   {"csv", "text/csv; charset=utf-8", true, transcriptOf(newCSVWriter)},
}

func init() { exportFormats[""] = exportFormats["jsonl"] }

// formatNames lists the formats for error messages.
const formatNames = "jsonl, json, md, txt, html, csv, zip, tar"

// htmlCSP forbids an HTML export everything but its inline style: no
// scripts, no requests, even if escaping failed.
const htmlCSP = "default-src 'none'; style-src 'unsafe-inline'"

// jsonlWriter writes the log as it is stored, one event per line: lossless.
type jsonlWriter struct{ w *bufio.Writer }

func (j jsonlWriter) record(rec store.Record) error {
	j.w.Write(rec.JSON)
	return j.w.WriteByte('\n')
}
func (jsonlWriter) flush() {}
func (jsonlWriter) end()   {}

// jsonWriter writes one array of messages in their current state, one per
// line, copied as stored.
type jsonWriter struct {
	w *bufio.Writer
	n int
}

func newJSONWriter(w *bufio.Writer, _ exportHead) exportWriter {
	w.WriteByte('[')
	return &jsonWriter{w: w}
}

func (j *jsonWriter) record(rec store.Record) error {
	if j.n > 0 {
		j.w.WriteByte(',')
	}
	j.n++
	j.w.WriteByte('\n')
	_, err := j.w.Write(rec.JSON)
	return err
}
func (j *jsonWriter) flush() {}
func (j *jsonWriter) end() {
	if j.n > 0 {
		j.w.WriteByte('\n')
	}
	j.w.WriteString("]\n")
}

// messageWriter writes a transcript one message at a time.
type messageWriter interface {
	message(m *store.Message, reply replyRef)
	flush()
	end()
}

// replyRef is the message a reply answers: its id, and its author when the
// export has seen it recently.
type replyRef struct {
	id     ulid.ULID
	author string
}

// label names the parent by its author, else by its id.
func (r replyRef) label() string {
	if r.author != "" {
		return r.author
	}
	return r.id.String()
}

// transcript decodes each message's state and hands it to a messageWriter
// with what is known of its parent.
type transcript struct {
	messageWriter
	authors recentAuthors
}

func transcriptOf(open func(*bufio.Writer, exportHead) messageWriter) func(*bufio.Writer, exportHead) exportWriter {
	return func(w *bufio.Writer, h exportHead) exportWriter { return &transcript{messageWriter: open(w, h)} }
}

func (t *transcript) record(rec store.Record) error {
	var m store.Message
	if err := m.UnmarshalJSON(rec.JSON); err != nil {
		return err
	}
	var reply replyRef
	if m.ReplyTo != (ulid.ULID{}) {
		reply = replyRef{id: m.ReplyTo, author: t.authors.byID[m.ReplyTo]}
	}
	t.message(&m, reply)
	t.authors.add(m.ID, m.Author)
	return nil
}

// recentAuthorsCap bounds recentAuthors: replies mostly answer recent
// messages, and an export's memory must not grow with the room.
const recentAuthorsCap = 4096

// recentAuthors maps the ids of the last recentAuthorsCap messages to their
// authors.
type recentAuthors struct {
	byID map[ulid.ULID]string
	ring []ulid.ULID // in the order added; next is the oldest once full
	next int
}

func (r *recentAuthors) add(id ulid.ULID, author string) {
	if r.byID == nil {
		r.byID = make(map[ulid.ULID]string, recentAuthorsCap)
	}
	if len(r.ring) < recentAuthorsCap {
		r.ring = append(r.ring, id)
	} else {
		delete(r.byID, r.ring[r.next])
		r.ring[r.next] = id
		r.next = (r.next + 1) % recentAuthorsCap
	}
	r.byID[id] = author
}

// transcriptTime is how transcripts show times, always in UTC.
const transcriptTime = "2006-01-02 15:04:05"

// textLines splits text into lines, whatever its line breaks.
func textLines(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	return strings.Split(strings.ReplaceAll(text, "\r", "\n"), "\n")
}

// reactionsText is "👍 × 2, ❤️ × 1" with each emoji passed through esc.
func reactionsText(rs []store.Reaction, sep string, esc func(string) string) string {
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(esc(r.Emoji) + " × " + strconv.Itoa(r.Count))
	}
	return b.String()
}

// textWriter writes a plain-text transcript. A message is a header line
// "[time] author" then its text with every line indented by four spaces,
// then, indented by two, its reactions: text can never pass for a header.
type textWriter struct{ w *bufio.Writer }

func newTextWriter(w *bufio.Writer, h exportHead) messageWriter {
	w.WriteString("Room " + h.Room + ", exported from Parley on " + h.Exported.Format(transcriptTime) + " UTC. Times are UTC.\n")
	return textWriter{w}
}

func (t textWriter) message(m *store.Message, reply replyRef) {
	w := t.w
	w.WriteString("\n[" + m.Time.UTC().Format(transcriptTime) + "] " + m.Author)
	if reply.id != (ulid.ULID{}) {
		w.WriteString(" ↪ reply to " + reply.label())
	}
	switch {
	case m.Redacted:
		w.WriteString(" — message deleted\n")
		return
	case !m.EditedAt.IsZero():
		w.WriteString(" (edited)")
	}
	w.WriteByte('\n')
	for _, l := range textLines(m.Text) {
		w.WriteString("    " + l + "\n")
	}
	if len(m.Reactions) > 0 {
		w.WriteString("  reactions: " + reactionsText(m.Reactions, ", ", func(s string) string { return s }) + "\n")
	}
}
func (textWriter) flush() {}
func (textWriter) end()   {}

// markdownWriter writes a Markdown transcript: a line of author, time and
// marks per message, then its text as a block quote. Text is escaped, so a
// message cannot add headings, links or HTML to the transcript.
type markdownWriter struct{ w *bufio.Writer }

func newMarkdownWriter(w *bufio.Writer, h exportHead) messageWriter {
	w.WriteString("# " + mdLine(h.Room) + "\n\nExported from Parley on " + h.Exported.Format(transcriptTime) + " UTC. Times are UTC.\n")
	return markdownWriter{w}
}

func (md markdownWriter) message(m *store.Message, reply replyRef) {
	w := md.w
	w.WriteString("\n**" + mdInline.Replace(strings.TrimSpace(m.Author)) + "** · " + m.Time.UTC().Format(transcriptTime))
	if reply.id != (ulid.ULID{}) {
		w.WriteString(" · ↪ reply to **" + mdInline.Replace(strings.TrimSpace(reply.label())) + "**")
	}
	switch {
	case m.Redacted:
		w.WriteString(" · *message deleted*\n")
		return
	case !m.EditedAt.IsZero():
		w.WriteString(" · *edited*")
	}
	w.WriteString("\n\n")
	lines := textLines(m.Text)
	for i, l := range lines {
		l = mdLine(l)
		if l != "" && i+1 < len(lines) && lines[i+1] != "" {
			l += `\` // a hard line break, as typed
		}
		w.WriteString(strings.TrimRight("> "+l, " ") + "\n")
	}
	if len(m.Reactions) > 0 {
		w.WriteString("\n" + reactionsText(m.Reactions, " · ", mdInline.Replace) + "\n")
	}
}
func (markdownWriter) flush() {}
func (markdownWriter) end()   {}

// mdInline escapes what Markdown reads as formatting, code, links, HTML,
// entities, strikethrough or tables anywhere in a line.
var mdInline = strings.NewReplacer(`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`,
	"<", `\<`, "&", `\&`, "~", `\~`, "|", `\|`)

// mdLine escapes a line of text, including what Markdown reads as a block
// (heading, quote, list, setext underline) at the start of a line.
func mdLine(s string) string {
	s = mdInline.Replace(s)
	i := len(s) - len(strings.TrimLeft(s, " \t"))
	rest := s[i:]
	switch {
	case rest == "":
	case strings.IndexByte("#>+-=", rest[0]) >= 0:
		return s[:i] + `\` + rest
	case rest[0] >= '0' && rest[0] <= '9':
		j := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if j > 0 && (rest[j] == '.' || rest[j] == ')') {
			return s[:i] + rest[:j] + `\` + rest[j:]
		}
	}
	return s
}

// csvWriter writes one row per message. Cells a spreadsheet would take for a
// formula get a leading ' (OWASP's advice against CSV injection).
type csvWriter struct{ w *csv.Writer }

func newCSVWriter(w *bufio.Writer, _ exportHead) messageWriter {
	c := csvWriter{csv.NewWriter(w)}
	c.w.Write([]string{"id", "time", "author", "text", "status", "edited_at", "deleted_at", "reply_to", "reply_to_author", "reactions"})
	return c
}

func (c csvWriter) message(m *store.Message, reply replyRef) {
	status := ""
	switch {
	case m.Redacted:
		status = "message deleted"
	case !m.EditedAt.IsZero():
		status = "edited"
	}
	var replyTo string
	if reply.id != (ulid.ULID{}) {
		replyTo = reply.id.String()
	}
	row := []string{m.ID.String(), csvTime(m.Time), m.Author, m.Text, status, csvTime(m.EditedAt), csvTime(m.DeletedAt),
		replyTo, reply.author, reactionsText(m.Reactions, ", ", func(s string) string { return s })}
	for i := range row {
		row[i] = csvCell(row[i])
	}
	c.w.Write(row)
}
func (c csvWriter) flush() { c.w.Flush() }
func (c csvWriter) end()   {}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(store.TimeFormat)
}

// csvCell neutralises a cell that begins with =, +, -, @, tab or CR.
func csvCell(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}
