package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
)

// inProcessServer runs a server in the test process on addr over the db
// file at path; the returned func stops it.
func inProcessServer(tb testing.TB, path, addr string) (url string, stop func()) {
	tb.Helper()
	db := bolt.NewDB(path)
	db.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	srv := api.NewServer(db)
	srv.Addr, srv.Logger, srv.Retry = addr, db.Logger, 100*time.Millisecond
	srv.Files = db
	if err := srv.Open(); err != nil {
		db.Close()
		tb.Fatal(err)
	}
	stop = func() { srv.Close(); db.Close() }
	tb.Cleanup(stop)
	return srv.URL(), stop
}

func run(tb testing.TB, ctx context.Context, stdout io.Writer, args ...string) error {
	tb.Helper()
	m := &Main{Stdin: strings.NewReader("from stdin\n"), Stdout: stdout, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	return m.Run(ctx, args)
}

func TestSendTailExport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	url, stop := inProcessServer(t, path, "127.0.0.1:0")

	var sent strings.Builder
	if err := run(t, context.Background(), &sent, "send", "-server", url, "-room", "general", "-author", "alice", "hello", "world"); err != nil {
		t.Fatal(err)
	}
	var first store.Event
	if err := json.Unmarshal([]byte(sent.String()), &first); err != nil || first.Text != "hello world" || first.ClientID == "" {
		t.Fatalf("send printed %q (%v)", sent.String(), err)
	}
	if err := run(t, context.Background(), io.Discard, "send", "-server", url, "-room", "general", "-author", "bob", "-"); err != nil {
		t.Fatal(err)
	}

	// tail from the first id: it prints the second, then follows across a
	// server restart on the same address.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	tailDone := make(chan error, 1)
	go func() {
		tailDone <- run(t, ctx, out, "tail", "-server", url, "-room", "general", "-since", first.ID.String())
	}()
	waitLines(t, out, 1)
	stop()
	url2, _ := inProcessServer(t, path, strings.TrimPrefix(url, "http://"))
	if err := run(t, context.Background(), io.Discard, "send", "-server", url2, "-room", "general", "-author", "carol", "after restart"); err != nil {
		t.Fatal(err)
	}
	lines := waitLines(t, out, 2)
	if !strings.Contains(lines[0], `"text":"from stdin"`) || !strings.Contains(lines[1], `"text":"after restart"`) {
		t.Fatalf("tail printed %q", lines)
	}
	cancel()
	if err := <-tailDone; err != nil {
		t.Fatalf("tail: %v", err)
	}

	file := filepath.Join(t.TempDir(), "general.jsonl")
	if err := run(t, context.Background(), io.Discard, "export", "-server", url2, "-room", "general", "-o", file); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(file)
	if n := strings.Count(string(b), "\n"); n != 3 || !strings.HasPrefix(string(b), strings.TrimSpace(sent.String())) {
		t.Fatalf("export wrote %d lines:\n%s", n, b)
	}
	if err := run(t, context.Background(), io.Discard, "export", "-server", url2, "-room", "nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("export of a missing room: got %v", err)
	}
	if err := run(t, context.Background(), io.Discard, "send", "-server", url2, "-room", "Bad", "-author", "a", "x"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("send to a bad room: got %v", err)
	}
}

// waitLines waits until out has at least n lines and returns them.
func waitLines(tb testing.TB, out *syncBuffer, n int) []string {
	tb.Helper()
	var lines []string
	if !waitFor(func() bool {
		lines = strings.Split(strings.TrimSpace(out.String()), "\n")
		return out.String() != "" && len(lines) >= n
	}) {
		tb.Fatalf("got %q, want %d lines", out.String(), n)
	}
	return lines
}
