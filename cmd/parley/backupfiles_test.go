package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupVerifyCompactWithFiles: parley backup writes the db and its
// files; verify checks every file (and finds a damaged one); compact links
// the files to the new db; a server started on the backup serves them.
func TestBackupVerifyCompactWithFiles(t *testing.T) {
	dir := t.TempDir()
	url, stop := inProcessServer(t, filepath.Join(dir, "parley.db"), "127.0.0.1:0")
	data := []byte("a file to keep " + strings.Repeat("x", 3000))
	resp, err := http.Post(url+"/api/rooms/r/files?name=keep.txt&author=a", "text/plain", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ ID, SHA256 string }
	json.NewDecoder(resp.Body).Decode(&f)
	resp.Body.Close()
	resp, err = http.Post(url+"/api/rooms/r/messages", "application/json", strings.NewReader(`{"author":"a","text":"see","files":["`+f.ID+`"]}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("post: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()

	backup := filepath.Join(dir, "backup.db")
	var out strings.Builder
	if err := run(t, context.Background(), &out, "backup", "-server", url, "-o", backup); err != nil || !strings.Contains(out.String(), "(1 files)") {
		t.Fatalf("backup: %v %q", err, out.String())
	}
	stop()
	object := filepath.Join(backup+".files", "objects", f.SHA256[:2], f.SHA256)
	if got, _ := os.ReadFile(object); !bytes.Equal(got, data) {
		t.Fatalf("the backup's copy of the file: %d bytes", len(got))
	}
	out.Reset()
	if err := run(t, context.Background(), &out, "verify", "-db", backup); err != nil || !strings.Contains(out.String(), "1 files") {
		t.Fatalf("verify backup: %v %q", err, out.String())
	}

	compacted := filepath.Join(dir, "compact.db")
	if err := run(t, context.Background(), io.Discard, "compact", "-db", backup, "-o", compacted); err != nil {
		t.Fatalf("compact: %v", err)
	}
	if err := run(t, context.Background(), io.Discard, "verify", "-db", compacted); err != nil {
		t.Fatalf("verify compacted: %v", err)
	}

	// A server on the backup serves the file.
	url2, stop2 := inProcessServer(t, backup, "127.0.0.1:0")
	resp, err = http.Get(url2 + "/api/rooms/r/files/" + f.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("restored file: %d, %d bytes", resp.StatusCode, len(got))
	}
	stop2()

	// Damage: a flipped byte, then a missing file.
	os.Chmod(object, 0o600)
	os.WriteFile(object, append([]byte("A"), data[1:]...), 0o600)
	out.Reset()
	if err := run(t, context.Background(), &out, "verify", "-db", backup); err == nil || !strings.Contains(out.String(), "hashing to") {
		t.Fatalf("verify a damaged file: %v %q", err, out.String())
	}
	if err := run(t, context.Background(), io.Discard, "verify", "-quick", "-db", backup); err != nil {
		t.Fatalf("verify -quick checks sizes only: %v", err)
	}
	os.Remove(object)
	out.Reset()
	if err := run(t, context.Background(), &out, "verify", "-quick", "-db", backup); err == nil || !strings.Contains(out.String(), "missing") {
		t.Fatalf("verify a missing file: %v %q", err, out.String())
	}
}
