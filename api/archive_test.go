package api_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash/crc32"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleychat/parley/api"
)

// archiveFormats are the archive exports, by ?format=, with their type.
var archiveFormats = []struct{ name, contentType string }{
	{"zip", "application/zip"},
	{"tar", "application/x-tar"},
}

// unpack returns an archive's entries by name, failing on a name seen twice
// or an entry that is not a regular file.
func unpack(tb testing.TB, format string, b []byte) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	add := func(name string, r io.Reader) {
		if _, dup := out[name]; dup {
			tb.Fatalf("%s twice in the %s", name, format)
		}
		var err error
		if out[name], err = io.ReadAll(r); err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
	}
	if format == "zip" {
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			tb.Fatalf("not a zip: %v", err)
		}
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil || !f.Mode().IsRegular() {
				tb.Fatalf("%s: %v, mode %v", f.Name, err, f.Mode())
			}
			add(f.Name, rc)
			rc.Close()
		}
		return out
	}
	if len(b) < 263 || string(b[257:262]) != "ustar" {
		tb.Fatalf("no ustar magic at 257")
	}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil || hdr.Typeflag != tar.TypeReg {
			tb.Fatalf("not a tar of files: %v, %+v", err, hdr)
		}
		add(hdr.Name, tr)
	}
}

// entry is an archive entry to pack: a regular file unless link; size, if
// more than the body, is what its header states (the archive ends short).
type entry struct {
	name string
	body []byte
	link bool
	size int64
}

// pack writes entries as an archive of format.
func pack(tb testing.TB, format string, entries []entry) []byte {
	tb.Helper()
	var b bytes.Buffer
	if format == "zip" {
		zw := zip.NewWriter(&b)
		for _, e := range entries {
			h := &zip.FileHeader{Name: e.name, Method: zip.Store}
			if e.link {
				h.SetMode(fs.ModeSymlink | 0o777)
			}
			var w io.Writer
			var err error
			if e.size > int64(len(e.body)) {
				h.CRC32, h.CompressedSize64, h.UncompressedSize64 = crc32.ChecksumIEEE(e.body), uint64(len(e.body)), uint64(e.size)
				w, err = zw.CreateRaw(h)
			} else {
				w, err = zw.CreateHeader(h)
			}
			if err != nil {
				tb.Fatal(err)
			}
			w.Write(e.body)
		}
		if err := zw.Close(); err != nil {
			tb.Fatal(err)
		}
		return b.Bytes()
	}
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.body))}
		if e.link {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, "/etc/passwd", 0
		}
		if e.size > h.Size {
			h.Size = e.size
		}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		if !e.link {
			tw.Write(e.body)
		}
		if e.size > int64(len(e.body)) {
			return b.Bytes() // cut short: no more entries
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// TestArchiveExportImportRoundTrip: a zip or tar export carries the log, a
// page that shows the files and the files themselves; importing it into
// another server gives byte-identical files and events.
func TestArchiveExportImportRoundTrip(t *testing.T) {
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

	// Without the files, a jsonl import is refused whole.
	jsonl := a.do(t, http.MethodGet, "/api/rooms/general/export?format=jsonl", "", nil).body
	c := mustStartServer(t)
	if r := c.do(t, http.MethodPost, "/api/rooms/general/import", "application/jsonl", jsonl); r.status != http.StatusBadRequest || !strings.Contains(r.errorMessage(t), "zip") {
		t.Fatalf("jsonl import without the files: got %d %s", r.status, r.body)
	}

	for _, format := range archiveFormats {
		t.Run(format.name, func(t *testing.T) {
			exp := a.do(t, http.MethodGet, "/api/rooms/general/export?format="+format.name, "", nil)
			if exp.status != http.StatusOK || exp.header.Get("Content-Type") != format.contentType ||
				!strings.HasSuffix(exp.header.Get("Content-Disposition"), "."+format.name+`"`) {
				t.Fatalf("export: %d %s", exp.status, exp.header)
			}
			entries := unpack(t, format.name, exp.body)
			if !bytes.Equal(entries["files/"+pic["sha256"].(string)], picBytes) || string(entries["files/"+doc["sha256"].(string)]) != "plain notes" {
				t.Fatalf("archive files: got %d entries", len(entries))
			}
			page := string(entries["index.html"])
			for _, want := range []string{`<img src="thumbs/`, `href="files/` + pic["sha256"].(string) + `"`, `download="notes.txt"`, "two files", "img-src 'self' file:"} {
				if !strings.Contains(page, want) {
					t.Errorf("index.html lacks %q", want)
				}
			}
			if !bytes.Equal(entries["room.jsonl"], jsonl) {
				t.Fatalf("room.jsonl: got %s, want the jsonl export %s", entries["room.jsonl"], jsonl)
			}

			d := mustStartServer(t)
			imp := d.do(t, http.MethodPost, "/api/rooms/general/import", format.contentType, exp.body)
			if imp.status != http.StatusOK || !strings.Contains(string(imp.body), `"imported":2`) {
				t.Fatalf("import: %d %s", imp.status, imp.body)
			}
			if got := d.do(t, http.MethodGet, "/api/rooms/general/files/"+pic["id"].(string), "", nil); !bytes.Equal(got.body, picBytes) {
				t.Fatalf("imported file: %d, %d bytes, want %d", got.status, len(got.body), len(picBytes))
			}
			waitUntil(t, "the imported file's thumbnail", func() bool {
				return d.do(t, http.MethodGet, "/api/rooms/general/files/"+pic["id"].(string)+"/thumb", "", nil).status == http.StatusOK
			})
			again := unpack(t, format.name, d.do(t, http.MethodGet, "/api/rooms/general/export?format="+format.name, "", nil).body)
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

			// Sent as plain bytes, the archive is known by its first bytes.
			if r := d.do(t, http.MethodPost, "/api/rooms/general/import", "application/octet-stream", exp.body); r.status != http.StatusOK || !strings.Contains(string(r.body), `"skipped":2`) {
				t.Fatalf("import again, untyped: got %d %s", r.status, r.body)
			}
		})
	}
}

// TestArchiveImportRefusesHostileEntries: an archive with an entry that
// would escape, is there twice, is not a file, is larger than the server
// takes or is not what its name says is refused with a 400 naming it, and
// nothing of it is stored: no event, no object.
func TestArchiveImportRefusesHostileEntries(t *testing.T) {
	src := mustStartServer(t)
	notes := []byte("plain notes")
	doc := src.mustUpload(t, "general", "notes.txt&author=ann", notes)
	b, _ := json.Marshal(map[string]any{"author": "ann", "text": "notes", "files": []string{doc["id"].(string)}})
	if r := src.do(t, http.MethodPost, "/api/rooms/general/messages", "application/json", b); r.status != http.StatusCreated {
		t.Fatalf("post: %d %s", r.status, r.body)
	}
	jsonl := src.do(t, http.MethodGet, "/api/rooms/general/export?format=jsonl", "", nil).body
	log := entry{name: "room.jsonl", body: jsonl}
	file := entry{name: "files/" + doc["sha256"].(string), body: notes}
	big := bytes.Repeat([]byte("big "), 32)
	bigSum := sha256.Sum256(big)

	cases := []struct {
		name    string
		entries []entry
		want    string // in the error
	}{
		{"parent directory", []entry{log, file, {name: "../evil", body: notes}}, "not a plain path"},
		{"absolute", []entry{log, file, {name: "/tmp/evil", body: notes}}, "not a plain path"},
		{"backslashes", []entry{log, file, {name: `files\..\..\evil`, body: notes}}, "not a plain path"},
		{"empty element", []entry{log, file, {name: "files//" + doc["sha256"].(string), body: notes}}, "not a plain path"},
		{"file twice", []entry{log, file, file}, "twice"},
		{"room.jsonl twice", []entry{log, file, {name: "./room.jsonl", body: jsonl}}, "twice"},
		{"link", []entry{log, {name: file.name, link: true}}, "not a regular file"},
		{"content not its name", []entry{log, {name: file.name, body: []byte("other bytes")}}, "SHA-256 is"},
		{"not named by a hash", []entry{log, file, {name: "files/notes.txt", body: notes}}, "not named by a SHA-256"},
		{"file over -max-file-bytes", []entry{log, file, {name: "files/" + hex.EncodeToString(bigSum[:]), body: big}}, "more than the largest file"},
		{"room.jsonl over -max-import-bytes", []entry{file, {name: "room.jsonl", body: jsonl, size: 2 << 20}}, "more than the largest import"},
		{"no room.jsonl", []entry{file}, "no room.jsonl"},
	}
	for _, format := range archiveFormats {
		t.Run(format.name, func(t *testing.T) {
			s := mustStartServer(t, func(s *api.Server) {
				s.FileLimits.MaxFileBytes = 64
				s.MaxImportBytes = 1 << 20
			})
			for _, tc := range cases {
				r := s.do(t, http.MethodPost, "/api/rooms/general/import", format.contentType, pack(t, format.name, tc.entries))
				if got := r.errorMessage(t); r.status != http.StatusBadRequest || !strings.Contains(got, tc.want) {
					t.Errorf("%s: got %d %q, want 400 with %q", tc.name, r.status, got, tc.want)
				}
				if n := countObjects(t, s); n != 0 {
					t.Fatalf("%s: %d objects stored, want none", tc.name, n)
				}
				if r := s.do(t, http.MethodGet, "/api/rooms/general/export", "", nil); r.status != http.StatusNotFound {
					t.Fatalf("%s: the room has events (%d %s)", tc.name, r.status, r.body)
				}
			}
			if r := s.do(t, http.MethodPost, "/api/rooms/general/import", format.contentType, []byte("not an archive at all")); r.status != http.StatusBadRequest || !strings.Contains(r.errorMessage(t), "not a "+format.name) {
				t.Errorf("garbage: got %d %s", r.status, r.body)
			}
			// The same archive without the hostile entry is imported.
			if r := s.do(t, http.MethodPost, "/api/rooms/general/import", format.contentType, pack(t, format.name, []entry{log, file})); r.status != http.StatusOK || countObjects(t, s) != 1 {
				t.Fatalf("the archive alone: got %d %s", r.status, r.body)
			}
		})
	}
}

// countObjects counts the objects in s's files directory.
func countObjects(tb testing.TB, s *testServer) int {
	tb.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(s.db.Path+".files", "objects"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		if os.IsNotExist(err) {
			return nil
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
