package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/parleychat/parley/store"
)

// exportServer starts a server with rooms general (two messages) and random
// (one) and returns its URL and the first message.
func exportServer(t *testing.T) (string, store.Event) {
	t.Helper()
	url, _ := inProcessServer(t, filepath.Join(t.TempDir(), "parley.db"), "127.0.0.1:0")
	var first store.Event
	for i, msg := range [][]string{{"general", "alice", "hello"}, {"general", "bob", "=1+1\nsecond line"}, {"random", "carol", "hi"}} {
		var out bytes.Buffer
		if err := run(t, context.Background(), &out, "send", "-server", url, "-room", msg[0], "-author", msg[1], msg[2]); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := json.Unmarshal(out.Bytes(), &first); err != nil {
				t.Fatal(err)
			}
		}
	}
	return url, first
}

func TestExportOneRoom(t *testing.T) {
	url, first := exportServer(t)
	file := filepath.Join(t.TempDir(), "general.md")
	if err := run(t, context.Background(), io.Discard, "export", "-server", url, "-room", "general", "-format", "md", "-o", file); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil || !strings.HasPrefix(string(b), "# general\n") || !strings.Contains(string(b), "> \\=1+1\\\n> second line\n") {
		t.Fatalf("got %q, %v; want a Markdown transcript", b, err)
	}

	var out bytes.Buffer
	if err := run(t, context.Background(), &out, "export", "-server", url, "-room", "general", "-format", "csv", "-since", first.ID.String()); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasPrefix(got, "id,time,author,text,") || strings.Contains(got, "hello") || !strings.Contains(got, "\"'=1+1\nsecond line\"") {
		t.Errorf("csv since the first message: got %q", got)
	}
}

var exportName = regexp.MustCompile(`^(general|random)-\d{8}\.jsonl$`)

func TestExportAll(t *testing.T) {
	url, _ := exportServer(t)
	dir := filepath.Join(t.TempDir(), "new", "dir")
	if err := run(t, context.Background(), io.Discard, "export", "-server", url, "-all", "-format", "jsonl", "-o", dir); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 2 {
		t.Fatalf("got %v, %v; want two files", entries, err)
	}
	lines := map[string]int{"general": 2, "random": 1}
	files := map[string]string{}
	for _, e := range entries {
		m := exportName.FindStringSubmatch(e.Name())
		if m == nil {
			t.Fatalf("file %q is not named like room-YYYYMMDD.jsonl", e.Name())
		}
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if n := strings.Count(string(b), "\n"); n != lines[m[1]] {
			t.Errorf("%s: got %d lines, want %d", e.Name(), n, lines[m[1]])
		}
		files[m[1]] = string(b)
	}

	var out bytes.Buffer
	if err := run(t, context.Background(), &out, "export", "-server", url, "-all"); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&out)
	seen := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		m := exportName.FindStringSubmatch(hdr.Name)
		b, _ := io.ReadAll(tr)
		if m == nil || string(b) != files[m[1]] {
			t.Errorf("tar entry %q: got %q, want %q", hdr.Name, b, files[m[1]])
		}
		seen++
	}
	if seen != 2 {
		t.Errorf("got %d tar entries, want 2", seen)
	}
}

func TestExportErrors(t *testing.T) {
	url, _ := exportServer(t)
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-room", "general", "-all"}, "not both"},
		{[]string{}, "needs -room or -all"},
		{[]string{"-room", "general", "extra"}, "no arguments"},
		{[]string{"-room", "general", "-format", "docx"}, "jsonl, json, md, txt, html, csv"},
		{[]string{"-all", "-format", "docx", "-o", filepath.Join(dir, "docx")}, "400"},
		{[]string{"-room", "general", "-since", "banana"}, "since"},
		{[]string{"-room", "nope", "-o", filepath.Join(dir, "nope.jsonl")}, "404"},
		{[]string{"-all", "-o", notDir}, "-o " + notDir},
		{[]string{"-room", "general", "-o", filepath.Join(notDir, "x.jsonl")}, "create " + filepath.Join(notDir, "x.jsonl")},
	} {
		err := run(t, context.Background(), io.Discard, append([]string{"export", "-server", url}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("export %q: got %v, want an error with %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nope.jsonl")); !os.IsNotExist(err) {
		t.Errorf("a failed export left a file: %v", err)
	}
}

// TestExportImportArchive: parley export -format zip or tar writes a room
// with its files; parley import of that file, known by its extension,
// gives a fresh server the same bytes.
func TestExportImportArchive(t *testing.T) {
	dir := t.TempDir()
	url, _ := inProcessServer(t, filepath.Join(dir, "parley.db"), "127.0.0.1:0")
	data := bytes.Repeat([]byte{0, 1, 2, 0xfe, 0xff}, 5000)
	id := postFile(t, url, "r", "data.bin", data)
	for _, format := range []string{"zip", "tar"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(dir, format)
			if err := run(t, context.Background(), io.Discard, "export", "-server", url, "-all", "-format", format, "-o", out); err != nil {
				t.Fatal(err)
			}
			files, err := os.ReadDir(out)
			if err != nil || len(files) != 1 || !regexp.MustCompile(`^r-\d{8}\.`+format+`$`).MatchString(files[0].Name()) {
				t.Fatalf("got %v, %v; want r-YYYYMMDD.%s", files, err, format)
			}
			if got, want := importType(strings.ToUpper(files[0].Name())), "application/"+map[string]string{"zip": "zip", "tar": "x-tar"}[format]; got != want {
				t.Errorf("Content-Type of the import: got %q, want %q", got, want)
			}
			url2, _ := inProcessServer(t, filepath.Join(dir, format+".db"), "127.0.0.1:0")
			var said strings.Builder
			if err := run(t, context.Background(), &said, "import", "-server", url2, "-room", "r", filepath.Join(out, files[0].Name())); err != nil || !strings.Contains(said.String(), "imported 1 events") {
				t.Fatalf("import: %v %q", err, said.String())
			}
			resp, err := http.Get(url2 + "/api/rooms/r/files/" + id)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(got, data) {
				t.Fatalf("imported file: %d, %d bytes, want %d", resp.StatusCode, len(got), len(data))
			}
		})
	}
}

// postFile uploads data as name to room, by author a, posts a message
// carrying it and returns the file's id.
func postFile(tb testing.TB, url, room, name string, data []byte) string {
	tb.Helper()
	resp, err := http.Post(url+"/api/rooms/"+room+"/files?name="+name+"&author=a", "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	var f struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&f)
	resp.Body.Close()
	resp, err = http.Post(url+"/api/rooms/"+room+"/messages", "application/json", strings.NewReader(`{"author":"a","text":"see","files":["`+f.ID+`"]}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		tb.Fatalf("post: %v %v", resp, err)
	}
	resp.Body.Close()
	return f.ID
}
