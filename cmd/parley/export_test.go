package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
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
