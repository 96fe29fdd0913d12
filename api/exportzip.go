package api

import (
	"archive/zip"
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

// A zip export (?format=zip) is a room with its files, to keep or to
// import elsewhere (docs/files.md, "Export and import"):
//
//	room.jsonl        the log, as the jsonl export (files as descriptors)
//	index.html        the HTML transcript, showing the files below
//	files/<sha256>    each content once, byte for byte as stored
//	thumbs/<sha256>   the thumbnails the transcript shows
//
// Links are relative, so index.html works from the unpacked folder.

// zipCSP is index.html's policy: the HTML export's, plus the archive's
// own images and media (file: for a page opened from a disk).
const zipCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' file:; media-src 'self' file:"

// archiveFiles is what a transcript in an archive knows of its files.
type archiveFiles struct {
	thumbs map[string]string // a file's sha256 → its thumbnail's path
}

// writeFiles writes a message's files: linked to the archive's copies in
// a zip export, else by name.
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

// handleExportZip streams room as a zip with its files.
func (s *Server) handleExportZip(w http.ResponseWriter, r *http.Request, room string, rng idRange) {
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
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, exportFileName(room, "zip", now)))
	bw := bufio.NewWriterSize(w, 64<<10)
	zw := zip.NewWriter(bw)
	err = s.writeArchive(ctx, zw, room, rng, recs, src, now)
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		if ctx.Err() == nil {
			s.Logger.Error("zip export", "room", room, "err", err)
		}
		abort()
	}
}

// writeArchive writes the entries of a zip export; first is the first
// chunk of src, already read.
func (s *Server) writeArchive(ctx context.Context, zw *zip.Writer, room string, rng idRange, first []store.Record, src *exportSource, now time.Time) error {
	entry := func(name string, method uint16) (io.Writer, error) {
		return zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: now})
	}
	jw, err := entry("room.jsonl", zip.Deflate)
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
	if err := s.writeArchiveHTML(ctx, entry, room, rng, files, now); err != nil {
		return err
	}
	copyObject := func(name, sum string) error {
		ow, err := entry(name, zip.Store) // media is compressed already
		if err != nil {
			return err
		}
		b, err := s.Files.Blobs().Open(sum)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer b.Close()
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
func (s *Server) writeArchiveHTML(ctx context.Context, entry func(string, uint16) (io.Writer, error), room string, rng idRange, files *archiveFiles, now time.Time) error {
	hw, err := entry("index.html", zip.Deflate)
	if err != nil {
		return err
	}
	var head bytes.Buffer
	hb := bufio.NewWriter(&head)
	htmlHead.Execute(hb, exportHead{Room: room, Exported: now})
	hb.Flush()
	if _, err := io.WriteString(hw, strings.Replace(head.String(), `content="`+htmlCSP+`"`, `content="`+zipCSP+`"`, 1)); err != nil {
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

// importArchive imports a zip export spooled to f: its objects are placed
// (each checked against its name), then its room.jsonl is imported as a
// jsonl import is, and the imported files get thumbnails again.
func (s *Server) importArchive(ctx context.Context, room string, f *os.File, size int64) (store.ImportReport, error) {
	if s.Files == nil {
		return store.ImportReport{}, errorf(http.StatusBadRequest, "this server stores no files: import the jsonl export")
	}
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return store.ImportReport{}, errorf(http.StatusBadRequest, "not a zip archive: %v", err)
	}
	var log *zip.File
	for _, zf := range zr.File {
		switch name := zf.Name; {
		case name == "room.jsonl":
			log = zf
		case strings.HasPrefix(name, "files/"):
			if err := s.placeObject(zf, strings.TrimPrefix(name, "files/")); err != nil {
				return store.ImportReport{}, err
			}
		}
	}
	if log == nil {
		return store.ImportReport{}, errorf(http.StatusBadRequest, "the archive has no room.jsonl")
	}
	spool, err := os.CreateTemp("", "parley-import-*.jsonl")
	if err != nil {
		return store.ImportReport{}, err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	rc, err := log.Open()
	if err != nil {
		return store.ImportReport{}, errorf(http.StatusBadRequest, "room.jsonl: %v", err)
	}
	_, err = io.Copy(spool, rc)
	rc.Close()
	if err != nil {
		return store.ImportReport{}, errorf(http.StatusBadRequest, "room.jsonl: %v", err)
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

// placeObject stores an archive's files/<sum> entry, refusing one whose
// content is not its name.
func (s *Server) placeObject(zf *zip.File, name string) error {
	if store.ValidateSHA256(name) != nil {
		return errorf(http.StatusBadRequest, "%s: not named by a SHA-256", zf.Name)
	}
	rc, err := zf.Open()
	if err != nil {
		return errorf(http.StatusBadRequest, "%s: %v", zf.Name, err)
	}
	defer rc.Close()
	bw, err := s.Files.Blobs().Create()
	if err != nil {
		return err
	}
	defer bw.Abort()
	if _, err := io.Copy(bw, rc); err != nil {
		return errorf(http.StatusBadRequest, "%s: %v", zf.Name, err)
	}
	sum, _, err := bw.Commit()
	if err != nil {
		return err
	}
	if sum != name {
		// Stored, but nothing references it: the pruner collects it.
		return errorf(http.StatusBadRequest, "%s: its content's SHA-256 is %s", zf.Name, sum)
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
