package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// TestSearchAndReindex: parley search prints the matches of a running
// server with time, room, author and text, newest first; parley reindex
// rebuilds a stopped server's index, which verify then accepts.
func TestSearchAndReindex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	url, stop := inProcessServer(t, path, "127.0.0.1:0")
	for _, m := range [][3]string{{"general", "alice", "the deploy is done"}, {"random", "bob", "Deployment of café 2"}, {"general", "carol", "lunch?"}} {
		if err := run(t, context.Background(), io.Discard, "send", "-server", url, "-room", m[0], "-author", m[1], m[2]); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	if err := run(t, context.Background(), &out, "search", "-server", url, "depl"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "  random  bob: Deployment of café 2") || !strings.Contains(lines[1], "  general  alice: the deploy is done") {
		t.Fatalf("search printed %q", out.String())
	}
	out.Reset()
	if err := run(t, context.Background(), &out, "search", "-server", url, "-room", "general", "depl"); err != nil || strings.Count(out.String(), "\n") != 1 || !strings.Contains(out.String(), "alice") {
		t.Fatalf("search -room general printed %q, %v", out.String(), err)
	}
	if err := run(t, context.Background(), io.Discard, "search", "-server", url, `"open`); err == nil || !strings.Contains(err.Error(), "quote") {
		t.Fatalf("a bad query: got %v, want the server's words about the quote", err)
	}
	stop()
	out.Reset()
	if err := run(t, context.Background(), &out, "reindex", "-db", path); err != nil || !strings.Contains(out.String(), "indexed 3 messages in 2 rooms") {
		t.Fatalf("reindex printed %q, %v", out.String(), err)
	}
	if err := run(t, context.Background(), io.Discard, "verify", "-db", path); err != nil {
		t.Fatal(err)
	}
}
