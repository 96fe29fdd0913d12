package api_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// unzip returns an archive's entries by name.
func unzip(tb testing.TB, b []byte) map[string][]byte {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		tb.Fatalf("not a zip: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			tb.Fatal(err)
		}
		out[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	return out
}

// TestZipExportImportRoundTrip: a zip export carries the log, a page that
// shows the files and the files themselves; importing it into another
// server gives byte-identical files and events.
func TestZipExportImportRoundTrip(t *testing.T) {
	a := mustStartServer(t)
	pic := a.mustUpload(t, "general", "pic.png&author=ann", tinyPNG(t))
	doc := a.mustUpload(t, "general", "notes.txt&author=ann", []byte("plain notes"))
	b, _ := json.Marshal(map[string]any{"author": "ann", "text": "two files", "files": []string{pic["id"].(string), doc["id"].(string)}})
	if r := a.do(t, http.MethodPost, "/api/rooms/general/messages", "application/json", b); r.status != http.StatusCreated {
		t.Fatalf("post: %d %s", r.status, r.body)
	}
	a.do(t, http.MethodPost, "/api/rooms/general/messages", "application/json", []byte(`{"author":"bob","text":"no files"}`))
	waitUntil(t, "the thumbnail", func() bool {
		return a.do(t, http.MethodGet, "/api/rooms/general/files/"+pic["id"].(string)+"/thumb", "", nil).status == http.StatusOK
	})
	picBytes := a.do(t, http.MethodGet, "/api/rooms/general/files/"+pic["id"].(string), "", nil).body

	exp := a.do(t, http.MethodGet, "/api/rooms/general/export?format=zip", "", nil)
	if exp.status != http.StatusOK || exp.header.Get("Content-Type") != "application/zip" {
		t.Fatalf("export: %d %s", exp.status, exp.header)
	}
	entries := unzip(t, exp.body)
	if !bytes.Equal(entries["files/"+pic["sha256"].(string)], picBytes) || string(entries["files/"+doc["sha256"].(string)]) != "plain notes" {
		t.Fatalf("archive files: got %d entries", len(entries))
	}
	page := string(entries["index.html"])
	for _, want := range []string{`<img src="thumbs/`, `href="files/` + pic["sha256"].(string) + `"`, `download="notes.txt"`, "two files", "img-src 'self' file:"} {
		if !strings.Contains(page, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if strings.Count(string(entries["room.jsonl"]), "\n") != 2 {
		t.Fatalf("room.jsonl: %s", entries["room.jsonl"])
	}

	// Without the files, a jsonl import is refused whole.
	c := mustStartServer(t)
	if r := c.do(t, http.MethodPost, "/api/rooms/general/import", "application/jsonl", entries["room.jsonl"]); r.status != http.StatusBadRequest || !strings.Contains(r.errorMessage(t), "zip") {
		t.Fatalf("jsonl import without the files: got %d %s", r.status, r.body)
	}

	d := mustStartServer(t)
	imp := d.do(t, http.MethodPost, "/api/rooms/general/import", "application/zip", exp.body)
	if imp.status != http.StatusOK || !strings.Contains(string(imp.body), `"imported":2`) {
		t.Fatalf("zip import: %d %s", imp.status, imp.body)
	}
	if got := d.do(t, http.MethodGet, "/api/rooms/general/files/"+pic["id"].(string), "", nil); !bytes.Equal(got.body, picBytes) {
		t.Fatalf("imported file: %d, %d bytes, want %d", got.status, len(got.body), len(picBytes))
	}
	waitUntil(t, "the imported file's thumbnail", func() bool {
		return d.do(t, http.MethodGet, "/api/rooms/general/files/"+pic["id"].(string)+"/thumb", "", nil).status == http.StatusOK
	})
	again := unzip(t, d.do(t, http.MethodGet, "/api/rooms/general/export?format=zip", "", nil).body)
	for name, want := range entries {
		if name == "index.html" {
			continue // says when it was exported
		}
		if !bytes.Equal(again[name], want) {
			t.Errorf("%s differs after the round trip", name)
		}
	}
	if len(again) != len(entries) {
		t.Errorf("round trip: %d entries, want %d", len(again), len(entries))
	}

	// A file whose content is not its name is refused.
	var bad bytes.Buffer
	zw := zip.NewWriter(&bad)
	w, _ := zw.Create("files/" + pic["sha256"].(string))
	w.Write([]byte("other bytes"))
	w, _ = zw.Create("room.jsonl")
	w.Write(entries["room.jsonl"])
	zw.Close()
	e := mustStartServer(t)
	if r := e.do(t, http.MethodPost, "/api/rooms/general/import", "application/zip", bad.Bytes()); r.status != http.StatusBadRequest {
		t.Fatalf("tampered archive: got %d %s", r.status, r.body)
	}
}
