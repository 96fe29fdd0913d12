package api

import (
	"bufio"
	"fmt"
	"net/http"

	"github.com/julienschmidt/httprouter"
	"github.com/oklog/ulid/v2"
	"github.com/parleychat/parley/store"
)

// exportChunk is how many records one read transaction of an export holds:
// an export never pins the file for long, and its memory stays bounded.
const exportChunk = 1000

// handleExport streams a room's whole log as JSON lines, one event per line.
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	room := ps.ByName("room")
	if err := store.ValidateRoom(room); err != nil {
		s.writeError(w, r, err)
		return
	}
	if f := r.URL.Query().Get("format"); f != "" && f != "jsonl" {
		s.writeError(w, r, errorf(http.StatusBadRequest, "format %q is not supported; use jsonl", f))
		return
	}
	recs, err := s.log.ReadAfter(r.Context(), []string{room}, ulid.ULID{}, exportChunk)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(recs) == 0 {
		s.writeError(w, r, errorf(http.StatusNotFound, "room %s has no events", room))
		return
	}
	w.Header().Set("Content-Type", "application/jsonl; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.jsonl"`, room, s.Now().UTC().Format("20060102")))
	bw := bufio.NewWriterSize(w, 64<<10)
	for len(recs) > 0 {
		for _, rec := range recs {
			bw.Write(rec.JSON)
			bw.WriteByte('\n')
		}
		if len(recs) < exportChunk {
			break
		}
		if recs, err = s.log.ReadAfter(r.Context(), []string{room}, recs[len(recs)-1].ID, exportChunk); err != nil {
			// Headers are gone: cut the body short so the client sees a failure.
			s.Logger.Error("export", "room", room, "err", err)
			panic(http.ErrAbortHandler)
		}
	}
	if err := bw.Flush(); err != nil {
		s.Logger.Debug("export: client gone", "room", room, "err", err)
	}
}
