package api

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// tarFormat packs an archive export as a POSIX tar (ustar, or pax where an
// entry needs it). A tar header states its entry's size, so room.jsonl and
// index.html are spooled to a temporary file before they are written; the
// files, whose sizes are known, stream from disk.
var tarFormat = archiveFormat{
	ext:         "tar",
	contentType: "application/x-tar",
	importTypes: []string{"application/x-tar", "application/tar"},
	sniff:       isTarHeader,
	newWriter: func(w io.Writer, now time.Time) archiveWriter {
		return &tarWriter{tw: tar.NewWriter(w), now: now.Truncate(time.Second)}
	},
	newReader: func(f *os.File, _ int64) (archiveReader, error) { return tarReader{f}, nil },
}

// isTarHeader says whether head starts with a tar header: the "ustar" magic
// at offset 257 (POSIX's "ustar\x00" or GNU's "ustar ") and a checksum that
// adds up, so a jsonl export that happens to have "ustar" there is not
// taken for one.
func isTarHeader(head []byte) bool {
	if len(head) < 512 || !bytes.HasPrefix(head[257:], []byte("ustar\x00")) && !bytes.HasPrefix(head[257:], []byte("ustar ")) {
		return false
	}
	want, err := strconv.ParseUint(string(bytes.Trim(head[148:156], " \x00")), 8, 64)
	if err != nil {
		return false
	}
	var sum uint64
	for i, b := range head[:512] {
		if i >= 148 && i < 156 {
			b = ' ' // the checksum field counts as spaces
		}
		sum += uint64(b)
	}
	return sum == want
}

// tarWriter is an archiveWriter of a tar.
type tarWriter struct {
	tw    *tar.Writer
	now   time.Time
	spool *os.File // the entry being written whose size is not known yet
	name  string   // its name
}

func (t *tarWriter) create(name string, size int64, _ bool) (io.Writer, error) {
	if err := t.flushSpool(); err != nil {
		return nil, err
	}
	if size >= 0 {
		return t.tw, t.tw.WriteHeader(t.header(name, size))
	}
	f, err := os.CreateTemp("", "parley-export-*")
	if err != nil {
		return nil, err
	}
	t.spool, t.name = f, name
	return f, nil
}

// header is a regular file's header; the writer picks ustar, or pax for
// an entry past ustar's 8 GiB.
func (t *tarWriter) header(name string, size int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: t.now}
}

// flushSpool writes the spooled entry, now that its size is known.
func (t *tarWriter) flushSpool() error {
	f := t.spool
	if f == nil {
		return nil
	}
	t.spool = nil
	defer os.Remove(f.Name())
	defer f.Close()
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := t.tw.WriteHeader(t.header(t.name, size)); err != nil {
		return err
	}
	_, err = io.Copy(t.tw, f)
	return err
}

func (t *tarWriter) close() error {
	if err := t.flushSpool(); err != nil {
		return err
	}
	return t.tw.Close()
}

func (t *tarWriter) discard() {
	if t.spool != nil {
		t.spool.Close()
		os.Remove(t.spool.Name())
		t.spool = nil
	}
}

// tarReader is an archiveReader of a tar spooled to a file; each walk
// reads it from the start.
type tarReader struct{ f *os.File }

func (t tarReader) walk(fn func(e archiveEntry, content io.Reader) error) error {
	if _, err := t.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	tr := tar.NewReader(t.f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errorf(http.StatusBadRequest, "not a tar archive: %v", err)
		}
		e := archiveEntry{name: hdr.Name, size: hdr.Size, kind: entryOther}
		switch hdr.Typeflag {
		case tar.TypeXGlobalHeader:
			continue // pax defaults for what follows, not an entry
		case tar.TypeReg:
			e.kind = entryFile
		case tar.TypeDir:
			e.kind = entryDir
		}
		if err := fn(e, tr); err != nil {
			return err
		}
	}
}
