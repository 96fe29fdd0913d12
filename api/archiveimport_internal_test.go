package api

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCheckArchive: whatever the bytes, checking them as a zip or a tar
// import refuses with a 400 or accepts; it never panics or fails otherwise.
func FuzzCheckArchive(f *testing.F) {
	var t, z bytes.Buffer
	tw, zw := tar.NewWriter(&t), zip.NewWriter(&z)
	for _, e := range []struct{ name, body string }{
		{"room.jsonl", "{}\n"},
		{"files/44eff743ca3bef7f4c8c8ec5ba1c7dc401ba89a6caf50e73b4d7e0695ae10bab", "plain notes"},
		{"../up", "x"},
	} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.body)), Mode: 0o644})
		tw.Write([]byte(e.body))
		w, _ := zw.Create(e.name)
		w.Write([]byte(e.body))
	}
	tw.Close()
	zw.Close()
	f.Add(t.Bytes())
	f.Add(z.Bytes())
	s := &Server{MaxImportBytes: 1 << 20, FileLimits: FileLimits{MaxFileBytes: 1 << 10}}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "body")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		file, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		for _, af := range archiveFormats {
			ar, err := af.newReader(file, int64(len(data)))
			if err == nil {
				err = s.checkArchive(ar)
			}
			var he *httpError
			if err != nil && (!errors.As(err, &he) || he.status != http.StatusBadRequest) {
				t.Fatalf("%s: got %v, want a 400 or nil", af.ext, err)
			}
		}
	})
}

// TestTarSniffNeedsAChecksum: a body is taken for a tar by a header whose
// checksum adds up, not by "ustar" at 257 alone.
func TestTarSniffNeedsAChecksum(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "room.jsonl", Mode: 0o644})
	tw.Close()
	if !isTarHeader(b.Bytes()) {
		t.Fatal("a tar header: got false, want true")
	}
	changed := bytes.Clone(b.Bytes())
	changed[0] = 'R'
	if isTarHeader(changed) {
		t.Error("a tar header with a byte changed: got true, want false")
	}
	head := `{"id":"01KAQ5G30000000000000000AA","room":"r","type":"message","author":"a","text":"`
	line := []byte(head + strings.Repeat("x", 257-len(head)) + `ustar  00 mustard` + strings.Repeat("y", 300) + `","time":"2025-11-21T20:00:00Z"}` + "\n")
	if len(line) < 512 || isTarHeader(line) {
		t.Error(`a jsonl line with "ustar" at 257: got true, want false`)
	}
}
