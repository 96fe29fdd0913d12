package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
)

func TestBackupVerifyCompactImport(t *testing.T) {
	dir := t.TempDir()
	url, stop := inProcessServer(t, filepath.Join(dir, "parley.db"), "127.0.0.1:0")
	for _, text := range []string{"one", "two", "three"} {
		if err := run(t, context.Background(), io.Discard, "send", "-server", url, "-room", "r", "-author", "a", text); err != nil {
			t.Fatal(err)
		}
	}
	backup := filepath.Join(dir, "backup.db")
	var out strings.Builder
	if err := run(t, context.Background(), &out, "backup", "-server", url, "-o", backup); err != nil {
		t.Fatalf("backup: %v", err)
	}
	if err := run(t, context.Background(), io.Discard, "backup", "-server", url, "-o", backup); err == nil {
		t.Fatal("backup overwrote an existing file")
	}
	exportFile := filepath.Join(dir, "r.jsonl")
	if err := run(t, context.Background(), io.Discard, "export", "-server", url, "-room", "r", "-o", exportFile); err != nil {
		t.Fatal(err)
	}
	stop()

	out.Reset()
	if err := run(t, context.Background(), &out, "verify", "-db", backup); err != nil || !strings.Contains(out.String(), "ok, 1 rooms, 3 events") {
		t.Fatalf("verify backup: %v %q", err, out.String())
	}
	compacted := filepath.Join(dir, "compact.db")
	if err := run(t, context.Background(), io.Discard, "compact", "-db", backup, "-o", compacted); err != nil {
		t.Fatalf("compact: %v", err)
	}
	if err := run(t, context.Background(), io.Discard, "verify", "-db", compacted); err != nil {
		t.Fatalf("verify compacted: %v", err)
	}

	// Import into a fresh server reproduces the export byte for byte.
	url2, _ := inProcessServer(t, filepath.Join(dir, "fresh.db"), "127.0.0.1:0")
	out.Reset()
	if err := run(t, context.Background(), &out, "import", "-server", url2, "-room", "r", exportFile); err != nil || !strings.Contains(out.String(), "imported 3 events") {
		t.Fatalf("import: %v %q", err, out.String())
	}
	var again bytes.Buffer
	if err := run(t, context.Background(), &again, "export", "-server", url2, "-room", "r"); err != nil {
		t.Fatal(err)
	}
	if want, _ := os.ReadFile(exportFile); !bytes.Equal(again.Bytes(), want) {
		t.Fatalf("re-export differs:\n%s\nwant\n%s", again.Bytes(), want)
	}
}

// TestVerifyAndDropFutureEvents: verify names events dated in the future,
// drop-future removes them into a file, and the file then verifies.
func TestVerifyAndDropFutureEvents(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "parley.db")
	d := bolt.NewDB(path)
	d.Now = func() time.Time { return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) }
	d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := d.Open(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Append(context.Background(), store.Event{Room: "r", Type: store.TypeMessage, Author: "a", Text: "from 9999"}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	var out bytes.Buffer
	if err := run(t, context.Background(), &out, "verify", "-db", path); err == nil || !strings.Contains(out.String(), "dated in the future") {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	dropped := filepath.Join(dir, "dropped.jsonl")
	if err := run(t, context.Background(), io.Discard, "drop-future", "-db", path, "-o", dropped); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dropped); !strings.Contains(string(b), "from 9999") {
		t.Fatalf("dropped events: %q", b)
	}
	if err := run(t, context.Background(), io.Discard, "verify", "-db", path); err != nil {
		t.Fatalf("verify after drop-future: %v", err)
	}
}

func TestVerifyFailsOnDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.db")
	os.WriteFile(path, bytes.Repeat([]byte("not a db "), 1000), 0o600)
	if err := run(t, context.Background(), io.Discard, "verify", "-db", path); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("got %v, want a corrupt-file error", err)
	}
}

// TestServeRefusesADamagedFile: serve exits with a clear message and leaves
// the file as it was.
func TestServeRefusesADamagedFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	url, stop := inProcessServer(t, good, "127.0.0.1:0")
	if err := run(t, context.Background(), io.Discard, "send", "-server", url, "-room", "r", "-author", "a", "x"); err != nil {
		t.Fatal(err)
	}
	stop()
	// Cut into the pages in use: bbolt grows the file ahead of them.
	d := bolt.NewDB(good)
	if err := d.Open(); err != nil {
		t.Fatal(err)
	}
	used, _ := d.Size()
	d.Close()
	b, _ := os.ReadFile(good)
	b = b[:used/2]
	bad := filepath.Join(dir, "truncated.db")
	os.WriteFile(bad, b, 0o600)

	// A server that starts after all must not hang the test.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "serve", "-addr", "127.0.0.1:0", "-db", bad)
	cmd.Env = append(os.Environ(), "PARLEY_TEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "corrupt") || !strings.Contains(string(out), "truncated") {
		t.Fatalf("serve on a truncated file: %v\n%s", err, out)
	}
	if after, _ := os.ReadFile(bad); !bytes.Equal(after, b) {
		t.Fatal("serve changed the damaged file")
	}
}
