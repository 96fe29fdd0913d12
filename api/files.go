package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/parleychat/parley/media"
	"github.com/parleychat/parley/store"
)

// FileLimits bound uploads (docs/files.md, "Limits"). Zero quotas and
// rates bound nothing.
type FileLimits struct {
	MaxFileBytes     int64   // one file, after which 413
	KeepMetadata     bool    // store JPEG and PNG as sent, EXIF and all
	UserQuota        int64   // bytes of registered uploads per uploader
	RoomQuota        int64   // bytes of registered uploads per room
	UploadsPerMinute float64 // per identity (per client IP without access control), bursts of a third
	MaxUploads       int     // uploads in flight, server-wide
	// MaxFilesPerMessage is how many files a message may carry, at most
	// store.MaxFilesPerMessage (0: that).
	MaxFilesPerMessage int
	BodyTimeout        time.Duration // to receive one upload's body
}

// DefaultFileLimits are the defaults of parley serve.
var DefaultFileLimits = FileLimits{
	MaxFileBytes:       25 << 20,
	UserQuota:          2 << 30,
	UploadsPerMinute:   30,
	MaxUploads:         32,
	MaxFilesPerMessage: store.MaxFilesPerMessage,
	BodyTimeout:        10 * time.Minute,
}

// fileJSON is an upload's answer.
type fileJSON struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Type   string `json:"type"`
	SHA256 string `json:"sha256"`
	Inline bool   `json:"inline"`
}

func toFileJSON(f store.File) fileJSON {
	return fileJSON{ID: f.ID, Name: f.Name, Size: f.Size, Type: f.Type, SHA256: f.SHA256, Inline: media.Inline(f.Type)}
}

// withUploadTimeout gives an upload's body FileLimits.BodyTimeout.
func (s *Server) withUploadTimeout(h httprouter.Handle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		withBodyTimeout(s.FileLimits.BodyTimeout, h)(w, r, ps)
	}
}

// filesOn answers 404 when the server stores no files.
func (s *Server) filesOn(h httprouter.Handle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if s.Files == nil {
			s.writeError(w, r, errorf(http.StatusNotFound, "this server stores no files"))
			return
		}
		h(w, r, ps)
	}
}

// handleUploadFile stores the request's body (or each file part of a
// multipart body) and answers 201 once the bytes and the record are
// durable: {"id","name","size","type","sha256","inline"}, or
// {"files":[...]} for multipart.
func (s *Server) handleUploadFile(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	room, id := ps.ByName("room"), identityOf(r)
	uploader, err := id.author(r.URL.Query().Get("author"))
	if err == nil && uploader == "" {
		err = errorf(http.StatusBadRequest, "author is required: give ?author=NAME")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.limitUpload(w, r, id) {
		return
	}
	defer s.limits.uploads.release("all")
	lim := s.FileLimits
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	multipart := ct == "multipart/form-data"
	maxBody := lim.MaxFileBytes
	if multipart {
		maxBody = lim.MaxFileBytes*store.MaxFilesPerMessage + 64<<10
	}
	if r.ContentLength > maxBody {
		s.writeError(w, r, errFileTooLarge(lim.MaxFileBytes))
		return
	}
	if err := s.checkQuota(r, uploader, room, max(r.ContentLength, 0)); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !multipart {
		f, err := s.storeUpload(r, room, uploader, r.URL.Query().Get("name"), r.Body)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, toFileJSON(f))
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		s.writeError(w, r, errorf(http.StatusBadRequest, "malformed multipart body: %v", err))
		return
	}
	var out []fileJSON
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			s.writeError(w, r, readErr(err))
			return
		}
		if part.FileName() == "" {
			continue // not a file
		}
		if len(out) == store.MaxFilesPerMessage {
			s.writeError(w, r, errorf(http.StatusBadRequest, "at most %d files per upload", store.MaxFilesPerMessage))
			return
		}
		f, err := s.storeUpload(r, room, uploader, part.FileName(), part)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out = append(out, toFileJSON(f))
	}
	if len(out) == 0 {
		s.writeError(w, r, errorf(http.StatusBadRequest, "no file part in the multipart body"))
		return
	}
	writeJSON(w, http.StatusCreated, map[string][]fileJSON{"files": out})
}

func errFileTooLarge(limit int64) error {
	return errorf(http.StatusRequestEntityTooLarge, "file too large: the limit is %s", byteSize(limit))
}

// byteSize writes n bytes for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// checkQuota refuses, before reading, an upload that would pass a quota.
// The store checks again when it registers the file.
func (s *Server) checkQuota(r *http.Request, uploader, room string, size int64) error {
	lim := s.FileLimits
	if lim.UserQuota <= 0 && lim.RoomQuota <= 0 {
		return nil
	}
	u, err := s.Files.FileUsage(r.Context(), uploader, room)
	if err != nil {
		return err
	}
	switch {
	case lim.UserQuota > 0 && u.User+size > lim.UserQuota:
		return &store.QuotaError{Limit: lim.UserQuota}
	case lim.RoomQuota > 0 && u.Room+size > lim.RoomQuota:
		return &store.QuotaError{Room: true, Limit: lim.RoomQuota}
	}
	return nil
}

// storeUpload streams one file through media's pipeline (sniff, strip
// metadata, size cap) into Blobs, commits its bytes (durable) and then
// registers it. Only then does its id exist anywhere a client could learn
// it.
func (s *Server) storeUpload(r *http.Request, room, uploader, name string, body io.Reader) (store.File, error) {
	name = media.CleanName(name)
	if name == "" {
		name = "file"
	}
	bw, err := s.Files.Blobs().Create()
	if err != nil {
		return store.File{}, err
	}
	defer bw.Abort() // after Commit it does nothing
	// The blob writer hashes what it stores: the bytes are hashed once.
	proc := media.Processor{MaxBytes: s.FileLimits.MaxFileBytes, KeepMetadata: s.FileLimits.KeepMetadata, NoSum: true}
	up, err := proc.Process(bw, body)
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, media.ErrTooLarge), errors.As(err, &mbe):
		return store.File{}, errFileTooLarge(s.FileLimits.MaxFileBytes)
	case errors.Is(err, media.ErrMalformed):
		return store.File{}, errorf(http.StatusBadRequest, "the image is damaged: %v", err)
	case err != nil:
		if r.Context().Err() != nil {
			return store.File{}, r.Context().Err()
		}
		return store.File{}, readErr(err)
	}
	sum, size, err := bw.Commit()
	if err != nil {
		return store.File{}, err
	}
	if size != up.Size {
		return store.File{}, fmt.Errorf("upload: stored %d bytes, processed %d", size, up.Size)
	}
	f, err := s.Files.AddFile(r.Context(), store.File{
		ID: media.NewID().String(), Room: room, Name: name, Size: size, Type: up.Type, SHA256: sum, Uploader: uploader,
	}, store.Quota{User: s.FileLimits.UserQuota, Room: s.FileLimits.RoomQuota})
	if errors.Is(err, store.ErrNotFound) {
		// Its object was erased between Commit and AddFile (the last file
		// with the same content was deleted just then).
		return store.File{}, errorf(http.StatusServiceUnavailable, "the upload raced a delete of the same content: send it again")
	}
	if err != nil {
		return store.File{}, err
	}
	s.thumbs.submit(f)
	return f, nil
}

// limitUpload takes an upload from the identity (or the client's IP
// without access control) and a place among the uploads in flight, or
// answers 429. The caller releases the place.
func (s *Server) limitUpload(w http.ResponseWriter, r *http.Request, id identity) bool {
	key := id.key()
	if id.isOpen() {
		key = "ip:" + s.clientIP(r).String()
	}
	if ok, wait := s.limits.upload.allow(key, s.Now()); !ok {
		s.tooMany(w, r, wait, "uploads")
		return false
	}
	if !s.limits.uploads.acquire("all") {
		s.tooMany(w, r, time.Second, "uploads in progress on this server")
		return false
	}
	return true
}

// fileFor returns the file the URL names, if the caller may see it: in the
// URL's room, and attached or the caller's own pending upload. Anything
// else is the same 404, so ids of other rooms are not confirmed.
func (s *Server) fileFor(r *http.Request, ps httprouter.Params) (store.File, error) {
	id, room := ps.ByName("id"), ps.ByName("room")
	notFound := errorf(http.StatusNotFound, "no such file in room %s", room)
	if store.ValidateFileID(id) != nil {
		return store.File{}, notFound
	}
	f, err := s.Files.File(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return store.File{}, notFound
	}
	if err != nil {
		return store.File{}, err
	}
	me := identityOf(r)
	if f.Room != room || f.Pending() && !me.isOpen() && f.Uploader != me.name {
		return store.File{}, notFound
	}
	return f, nil
}

// handleGetFile serves a file's bytes with the headers media chooses for
// its type (inline only for an allowlist, else an attachment in a
// sandbox), with Range, If-None-Match and HEAD.
func (s *Server) handleGetFile(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	f, err := s.fileFor(r, ps)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.serveObject(w, r, f.SHA256, f.Time, media.Headers(f.Type, f.Name))
}

// handleGetThumb serves a file's thumbnail; 404 until it is made, and for
// files that have none.
func (s *Server) handleGetThumb(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	f, err := s.fileFor(r, ps)
	switch {
	case err != nil:
	case f.Thumb.None || err == nil && !media.Thumbnailable(f.Type):
		err = errorf(http.StatusNotFound, "this file has no thumbnail")
	case f.Thumb.SHA256 == "":
		err = errorf(http.StatusNotFound, "the thumbnail is not made yet: try again")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ext := ".jpg"
	if f.Thumb.Type == media.TypePNG {
		ext = ".png"
	}
	s.serveObject(w, r, f.Thumb.SHA256, f.Time, media.Headers(f.Thumb.Type, "thumb"+ext))
}

// serveObject sends object sum with headers h. No transaction is held
// while a slow client reads.
func (s *Server) serveObject(w http.ResponseWriter, r *http.Request, sum string, mod time.Time, h http.Header) {
	b, err := s.Files.Blobs().Open(sum)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer b.Close()
	for k, v := range h {
		w.Header()[k] = v
	}
	w.Header().Set("ETag", `"`+sum+`"`)
	w.Header().Set("Cache-Control", "private, no-cache")
	if len(s.CORSOrigins) == 0 {
		w.Header().Set("Cross-Origin-Resource-Policy", "same-origin")
	}
	http.ServeContent(w, r, "", mod, b)
}

// checkFileCount enforces FileLimits.MaxFilesPerMessage.
func (s *Server) checkFileCount(ids []string) error {
	limit := s.FileLimits.MaxFilesPerMessage
	if limit <= 0 || limit > store.MaxFilesPerMessage {
		limit = store.MaxFilesPerMessage
	}
	if len(ids) > limit {
		return errorf(http.StatusBadRequest, "a message carries at most %d files", limit)
	}
	return nil
}

// fileRefs are the files of a message that names ids; the log checks them
// and fills in the rest.
func fileRefs(ids []string) []store.FileRef {
	if len(ids) == 0 {
		return nil
	}
	refs := make([]store.FileRef, len(ids))
	for i, id := range ids {
		refs[i] = store.FileRef{ID: id}
	}
	return refs
}
