package api

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parleychat/parley/media"
	"github.com/parleychat/parley/store"
)

// An archive export (?format=zip or ?format=tar) is a room with its files,
// to keep or to import elsewhere (docs/files.md, "Export and import"). Both
// formats hold the same entries, written by this one file:
//
//	room.jsonl        the log, as the jsonl export (files as descriptors)
//	index.html        the HTML transcript, showing the files below
//	files/<sha256>    each content once, byte for byte as stored
//	thumbs/<sha256>   the thumbnails the transcript shows
//
// Links are relative, so index.html works from the unpacked folder.

// archiveFormat is one way to pack that layout: archivezip.go, archivetar.go.
type archiveFormat struct {
	ext         string   // ?format= and the attachment's extension
	contentType string   // of the export
	importTypes []string // Content-Types an import of it is sent with
	// sniff says whether the first bytes of a body (up to 512) are this
	// format's.
	sniff     func(head []byte) bool
	newWriter func(w io.Writer, now time.Time) archiveWriter
	// newReader opens an archive spooled to f; its errors are 400s.
	newReader func(f *os.File, size int64) (archiveReader, error)
}

// archiveFormats are the archive formats by ?format= name.
var archiveFormats = map[string]archiveFormat{"zip": zipFormat, "tar": tarFormat}

// archiveWriter writes the entries of one archive, one at a time: the
// writer create returns is valid until the next create or close.
type archiveWriter interface {
	// create starts entry name of size bytes, or of a size not known yet
	// (-1); compress says whether its content is worth compressing.
	create(name string, size int64, compress bool) (io.Writer, error)
	// close writes the end of the archive and releases what it holds.
	close() error
	// discard releases what it holds after a failure; the archive is left
	// unfinished.
	discard()
}

// archiveCSP is index.html's policy: the HTML export's, plus the archive's
// own images and media (file: for a page opened from a disk).
const archiveCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' file:; media-src 'self' file:"

// archiveFiles is what a transcript in an archive knows of its files.
type archiveFiles struct {
	thumbs map[string]string // a file's sha256 → its thumbnail's path
}

// writeFiles writes a message's files: linked to the archive's copies in
// an archive export, else by name.
func (h htmlWriter) writeFiles(refs []store.FileRef) {
	w, esc := h.w, html.EscapeString
	w.WriteString(`<ul class="files">`)
	for _, f := range refs {
		label := esc(f.Name) + " (" + humanSize(f.Size) + ", " + esc(f.Type) + ")"
		if h.files == nil {
			w.WriteString("<li>" + label + "</li>")
			continue
		}
		src := "files/" + f.SHA256
		switch {
		case strings.HasPrefix(f.Type, "image/") && media.Inline(f.Type):
			img := src
			if t, ok := h.files.thumbs[f.SHA256]; ok {
				img = t
			}
			w.WriteString(`<li><a href="` + src + `"><img src="` + img + `" alt="` + esc(f.Name) + `" style="max-width:320px;max-height:320px"></a></li>`)
		case strings.HasPrefix(f.Type, "video/") && media.Inline(f.Type):
			w.WriteString(`<li><video controls preload="metadata" src="` + src + `"></video><br>` + label + `</li>`)
		case strings.HasPrefix(f.Type, "audio/") && media.Inline(f.Type):
			w.WriteString(`<li><audio controls preload="metadata" src="` + src + `"></audio><br>` + label + `</li>`)
		default:
			w.WriteString(`<li><a href="` + src + `" download="` + esc(f.Name) + `">` + label + `</a></li>`)
		}
	}
	w.WriteString("</ul>\n")
}

// humanSize writes n bytes for people: 532 B, 12.3 KiB, 4.0 MiB.
func humanSize(n int64) string {
	switch {
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	case n < 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
}

// handleExportArchive streams room as an archive of format af with its
// files (?format=zip or tar).
func (s *Server) handleExportArchive(w http.ResponseWriter, r *http.Request, room string, rng idRange, af archiveFormat) {
	if s.Files == nil {
		s.writeError(w, r, errorf(http.StatusNotFound, "this server stores no files: use another format"))
		return
	}
	ctx, now := r.Context(), s.Now().UTC()
	src := &exportSource{log: s.log, room: room, after: rng.after, until: rng.until}
	recs, err := src.next(ctx)
	if err == nil && len(recs) == 0 {
		err = errorf(http.StatusNotFound, "room %s has no events in range", room)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", af.contentType)
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, exportFileName(room, af.ext, now)))
	bw := bufio.NewWriterSize(w, 64<<10)
	aw := af.newWriter(bw, now)
	err = s.writeArchive(ctx, aw, room, rng, recs, src, now)
	if err == nil {
		err = aw.close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		aw.discard()
		if ctx.Err() == nil {
			s.Logger.Error("archive export", "format", af.ext, "room", room, "err", err)
		}
		abort()
	}
}

// writeArchive writes the entries of an archive export; first is the first
// chunk of src, already read.
func (s *Server) writeArchive(ctx context.Context, aw archiveWriter, room string, rng idRange, first []store.Record, src *exportSource, now time.Time) error {
	jw, err := aw.create("room.jsonl", -1, true)
	if err != nil {
		return err
	}
	var (
		ids  []string
		sums = map[string]bool{}
	)
	for recs := first; len(recs) > 0; {
		for _, rec := range recs {
			jw.Write(rec.JSON)
			if _, err := jw.Write([]byte{'\n'}); err != nil {
				return err
			}
			if !bytes.Contains(rec.JSON, []byte(`"files":[`)) {
				continue
			}
			e, err := rec.Decode()
			if err != nil {
				return err
			}
			for _, f := range e.Files {
				ids = append(ids, f.ID)
				sums[f.SHA256] = true
			}
		}
		if src.done {
			break
		}
		if recs, err = src.next(ctx); err != nil {
			return err
		}
	}
	files := &archiveFiles{thumbs: map[string]string{}}
	for _, id := range ids {
		if f, err := s.Files.File(ctx, id); err == nil && f.Thumb.SHA256 != "" {
			files.thumbs[f.SHA256] = "thumbs/" + f.Thumb.SHA256
		}
	}
	if err := s.writeArchiveHTML(ctx, aw, room, rng, files, now); err != nil {
		return err
	}
	copyObject := func(name, sum string) error {
		b, err := s.Files.Blobs().Open(sum)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer b.Close()
		ow, err := aw.create(name, b.Size(), false) // media is compressed already
		if err != nil {
			return err
		}
		_, err = io.Copy(ow, b)
		return err
	}
	for sum := range sums {
		if err := copyObject("files/"+sum, sum); err != nil {
			return err
		}
	}
	for _, path := range files.thumbs {
		if err := copyObject(path, strings.TrimPrefix(path, "thumbs/")); err != nil {
			return err
		}
	}
	return nil
}

// writeArchiveHTML writes index.html: the HTML transcript with its files.
func (s *Server) writeArchiveHTML(ctx context.Context, aw archiveWriter, room string, rng idRange, files *archiveFiles, now time.Time) error {
	hw, err := aw.create("index.html", -1, true)
	if err != nil {
		return err
	}
	var head bytes.Buffer
	hb := bufio.NewWriter(&head)
	htmlHead.Execute(hb, exportHead{Room: room, Exported: now})
	hb.Flush()
	if _, err := io.WriteString(hw, strings.Replace(head.String(), `content="`+htmlCSP+`"`, `content="`+archiveCSP+`"`, 1)); err != nil {
		return err
	}
	bw := bufio.NewWriter(hw)
	t := &transcript{messageWriter: htmlWriter{w: bw, files: files}}
	msgs := &exportSource{log: s.log, room: room, messages: true, after: rng.after, until: rng.until}
	for !msgs.done {
		recs, err := msgs.next(ctx)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := t.record(rec); err != nil {
				return err
			}
		}
	}
	bw.WriteString(htmlFoot)
	return bw.Flush()
}
