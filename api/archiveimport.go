package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/parleychat/parley/store"
)

// archiveReader reads an archive spooled to a file, entry by entry; its
// errors reading the archive itself are 400s.
type archiveReader interface {
	// walk calls fn with each entry, in the archive's order, and a reader
	// of its content (empty but for regular files), and stops at fn's
	// first error, which it returns as it is. It can be called again.
	walk(fn func(e archiveEntry, content io.Reader) error) error
}

// archiveEntry is an entry of an archive as its format states it.
type archiveEntry struct {
	name string
	size int64 // of its content: the format's header, held to it on reading
	kind entryKind
}

// entryKind is what an entry is; only regular files carry content.
type entryKind int

const (
	entryFile  entryKind = iota // a regular file
	entryDir                    // a directory: nothing to import
	entryOther                  // a link, a device...: refused
)

// importFormat is the archive format of an import body spooled to f: by its
// Content-Type, else by its first bytes (a zip's "PK\x03\x04", a tar's
// "ustar" at 257); ok is false for anything else (a jsonl export).
func importFormat(contentType string, f *os.File) (af archiveFormat, ok bool) {
	mt, _, _ := mime.ParseMediaType(contentType)
	for _, af := range archiveFormats {
		if slices.Contains(af.importTypes, mt) {
			return af, true
		}
	}
	head := make([]byte, 512)
	n, _ := f.ReadAt(head, 0)
	for _, af := range archiveFormats {
		if af.sniff(head[:n]) {
			return af, true
		}
	}
	return archiveFormat{}, false
}

// importArchive imports an archive export spooled to f. It is read twice:
// first every entry is checked (its name, no name twice, sizes within the
// limits, each file's content against its SHA-256) and nothing is stored
// unless all pass; then the objects are placed, its room.jsonl is imported
// as a jsonl import is, and the imported files get thumbnails again.
func (s *Server) importArchive(ctx context.Context, room string, af archiveFormat, f *os.File, size int64) (store.ImportReport, error) {
	if s.Files == nil {
		return store.ImportReport{}, errorf(http.StatusBadRequest, "this server stores no files: import the jsonl export")
	}
	ar, err := af.newReader(f, size)
	if err != nil {
		return store.ImportReport{}, err
	}
	if err := s.checkArchive(ar); err != nil {
		return store.ImportReport{}, err
	}
	spool, err := os.CreateTemp("", "parley-import-*.jsonl")
	if err != nil {
		return store.ImportReport{}, err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	err = ar.walk(func(e archiveEntry, content io.Reader) error {
		name, _ := entryPath(e)
		switch {
		case e.kind != entryFile:
		case name == "room.jsonl":
			if _, err := io.Copy(spool, content); err != nil {
				return errorf(http.StatusBadRequest, "%s: %v", e.name, err)
			}
		case strings.HasPrefix(name, "files/"):
			return s.placeObject(e.name, strings.TrimPrefix(name, "files/"), content)
		}
		return nil
	})
	if err != nil {
		return store.ImportReport{}, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return store.ImportReport{}, err
	}
	rep, err := s.log.Import(ctx, room, spool)
	if err != nil {
		return rep, err
	}
	s.thumbnailImported(ctx, spool)
	return rep, nil
}

// checkArchive reads every entry of an archive and refuses it (400) if one
// would escape the archive, is there twice, is neither a file nor a
// directory, is larger than this server takes, or is a files/<sha256>
// whose content has another SHA-256; or if it has no room.jsonl.
func (s *Server) checkArchive(ar archiveReader) error {
	seen := map[string]bool{}
	err := ar.walk(func(e archiveEntry, content io.Reader) error {
		name, err := entryPath(e)
		if err != nil || name == "" {
			return err
		}
		if seen[name] {
			return errorf(http.StatusBadRequest, "%s: the archive has this entry twice", e.name)
		}
		seen[name] = true
		switch {
		case e.kind == entryDir:
		case e.kind != entryFile:
			return errorf(http.StatusBadRequest, "%s: not a regular file", e.name)
		case name == "room.jsonl" && e.size > s.MaxImportBytes:
			return errorf(http.StatusBadRequest, "%s: %d bytes, more than the largest import (%d)", e.name, e.size, s.MaxImportBytes)
		case strings.HasPrefix(name, "files/"):
			return s.checkObject(e, strings.TrimPrefix(name, "files/"), content)
		}
		return nil
	})
	if err == nil && !seen["room.jsonl"] {
		err = errorf(http.StatusBadRequest, "the archive has no room.jsonl")
	}
	return err
}

// entryPath is an entry's name as a path inside the archive, without a
// leading "./" or a directory's trailing "/"; "" for the archive's own
// directory. A name that could point outside (absolute, with "..", a
// backslash or an empty element) is a 400.
func entryPath(e archiveEntry) (string, error) {
	name := strings.TrimPrefix(e.name, "./")
	if e.kind == entryDir {
		if name = strings.TrimSuffix(name, "/"); name == "" || name == "." {
			return "", nil
		}
	}
	if !fs.ValidPath(name) || name == "." || strings.Contains(name, `\`) {
		return "", errorf(http.StatusBadRequest, "%q: not a plain path inside the archive", e.name)
	}
	return name, nil
}

// checkObject checks a files/<sum> entry: named by a SHA-256, within
// -max-file-bytes, and its content hashing to its name.
func (s *Server) checkObject(e archiveEntry, sum string, content io.Reader) error {
	if store.ValidateSHA256(sum) != nil {
		return errorf(http.StatusBadRequest, "%s: not named by a SHA-256", e.name)
	}
	if e.size > s.FileLimits.MaxFileBytes {
		return errorf(http.StatusBadRequest, "%s: %d bytes, more than the largest file this server takes (%d)", e.name, e.size, s.FileLimits.MaxFileBytes)
	}
	h := sha256.New()
	if _, err := io.Copy(h, content); err != nil {
		return errorf(http.StatusBadRequest, "%s: %v", e.name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return errorf(http.StatusBadRequest, "%s: its content's SHA-256 is %s", e.name, got)
	}
	return nil
}

// placeObject stores an archive's files/<sum> entry, already checked;
// its content is hashed again as it is stored.
func (s *Server) placeObject(entry, name string, content io.Reader) error {
	bw, err := s.Files.Blobs().Create()
	if err != nil {
		return err
	}
	defer bw.Abort()
	if _, err := io.Copy(bw, content); err != nil {
		return errorf(http.StatusBadRequest, "%s: %v", entry, err)
	}
	sum, _, err := bw.Commit()
	if err != nil {
		return err
	}
	if sum != name {
		// Stored, but nothing references it: the pruner collects it.
		return errorf(http.StatusBadRequest, "%s: its content's SHA-256 is %s", entry, sum)
	}
	return nil
}

// thumbnailImported queues thumbnails for the files of an imported log.
func (s *Server) thumbnailImported(ctx context.Context, jsonl io.ReadSeeker) {
	if _, err := jsonl.Seek(0, io.SeekStart); err != nil {
		return
	}
	sc := bufio.NewScanner(jsonl)
	sc.Buffer(make([]byte, 64<<10), store.ImportLineLimit(s.MaxMessageBytes))
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte(`"files":[`)) {
			continue
		}
		var e store.Event
		if e.UnmarshalJSON(sc.Bytes()) != nil {
			continue
		}
		for _, ref := range e.Files {
			if f, err := s.Files.File(ctx, ref.ID); err == nil && f.Thumb == (store.Thumb{}) {
				s.thumbs.submit(f)
			}
		}
	}
}
