package api

import (
	"archive/zip"
	"bytes"
	"io"
	"math"
	"net/http"
	"os"
	"time"
)

// zipFormat packs an archive export as a zip: room.jsonl and index.html
// deflated, the files stored as they are.
var zipFormat = archiveFormat{
	ext:         "zip",
	contentType: "application/zip",
	importTypes: []string{"application/zip"},
	sniff:       func(head []byte) bool { return bytes.HasPrefix(head, []byte("PK\x03\x04")) },
	newWriter: func(w io.Writer, now time.Time) archiveWriter {
		return zipWriter{zw: zip.NewWriter(w), now: now}
	},
	newReader: func(f *os.File, size int64) (archiveReader, error) {
		zr, err := zip.NewReader(f, size)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "not a zip archive: %v", err)
		}
		return zipReader{zr}, nil
	},
}

// zipWriter is an archiveWriter of a zip.
type zipWriter struct {
	zw  *zip.Writer
	now time.Time
}

func (z zipWriter) create(name string, _ int64, compress bool) (io.Writer, error) {
	method := zip.Store
	if compress {
		method = zip.Deflate
	}
	return z.zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: z.now})
}

func (z zipWriter) close() error { return z.zw.Close() }
func (zipWriter) discard()       {}

// zipReader is an archiveReader of a zip. A zip entry's reader fails past
// the size its header states, and on a bad CRC-32 at its end.
type zipReader struct{ zr *zip.Reader }

func (z zipReader) walk(fn func(e archiveEntry, content io.Reader) error) error {
	for _, zf := range z.zr.File {
		e := archiveEntry{name: zf.Name, size: math.MaxInt64, kind: entryOther}
		if zf.UncompressedSize64 < math.MaxInt64 {
			e.size = int64(zf.UncompressedSize64)
		}
		switch mode := zf.Mode(); {
		case mode.IsDir():
			e.kind = entryDir
		case mode.IsRegular():
			e.kind = entryFile
		}
		if err := z.entry(zf, e, fn); err != nil {
			return err
		}
	}
	return nil
}

// entry calls fn with one entry, its content open if it is a file.
func (zipReader) entry(zf *zip.File, e archiveEntry, fn func(archiveEntry, io.Reader) error) error {
	if e.kind != entryFile {
		return fn(e, bytes.NewReader(nil))
	}
	rc, err := zf.Open()
	if err != nil {
		return errorf(http.StatusBadRequest, "%s: %v", zf.Name, err)
	}
	defer rc.Close()
	return fn(e, rc)
}
