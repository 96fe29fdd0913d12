package api

import (
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/julienschmidt/httprouter"

	"github.com/parleychat/parley/store"
)

// handleImport: POST /api/rooms/:room/import with a JSON-lines export, or a
// zip or tar export (archive.go), as the body. The body is spooled to a temporary file so the whole of it can be
// checked before anything is stored.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	room := ps.ByName("room")
	if err := store.ValidateRoom(room); err != nil {
		s.writeError(w, r, err)
		return
	}
	f, err := os.CreateTemp("", "parley-import-*.jsonl")
	if err != nil {
		s.writeError(w, r, fmt.Errorf("spool import: %w", err))
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	size, err := io.Copy(f, http.MaxBytesReader(w, r.Body, s.MaxImportBytes))
	if err != nil {
		s.writeError(w, r, readErr(err))
		return
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		s.writeError(w, r, err)
		return
	}
	var rep store.ImportReport
	if af, isArchive := importFormat(r.Header.Get("Content-Type"), f); isArchive {
		rep, err = s.importArchive(r.Context(), room, af, f, size) // a zip or tar export, with files
	} else {
		rep, err = s.log.Import(r.Context(), room, f)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Logger.Info("import", "room", room, "lines", rep.Lines, "imported", rep.Imported, "skipped", rep.Skipped)
	writeJSON(w, http.StatusOK, rep)
}

// handleBackup: GET /api/admin/backup streams a consistent copy of the db
// while the server keeps serving.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if s.Files != nil {
		if r.URL.Query().Get("format") == "tar" {
			s.backupTar(w, r)
			return
		}
		w.Header().Set("Parley-Backup-Files", "not-included")
	}
	started := false
	_, err := s.log.Backup(w, func(size int64) {
		started = true
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", fmt.Sprint(size))
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="parley-%s.db"`, s.Now().UTC().Format("20060102")))
	})
	switch {
	case err == nil:
	case !started:
		s.writeError(w, r, err)
	default:
		// Headers are gone: cut the body short so the client sees a failure.
		s.Logger.Error("backup", "err", err)
		panic(http.ErrAbortHandler)
	}
}

// settingsJSON is a room's settings as the API shows them.
type settingsJSON struct {
	// Retention is the room's own; null means the server default applies.
	Retention *store.Retention `json:"retention"`
	Default   store.Retention  `json:"default_retention"`
}

// handleGetSettings: GET /api/rooms/:room/settings.
func (s *Server) handleGetSettings(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	ret, err := s.log.RoomRetention(r.Context(), ps.ByName("room"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, settingsJSON{Retention: ret, Default: s.DefaultRetention})
}

// handlePutSettings: PUT /api/rooms/:room/settings {"retention":{...}|null}.
func (s *Server) handlePutSettings(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	room := ps.ByName("room")
	if err := store.ValidateRoom(room); err != nil {
		s.writeError(w, r, err)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" && ct != "application/json; charset=utf-8" {
		s.writeError(w, r, errorf(http.StatusUnsupportedMediaType, "Content-Type must be application/json"))
		return
	}
	body, err := readBody(w, r, 4096)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		Retention *store.Retention `json:"retention"`
	}
	if err := decodeJSON(body, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.log.SetRoomRetention(r.Context(), room, in.Retention); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, settingsJSON{Retention: in.Retention, Default: s.DefaultRetention})
}
