package api

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
	"github.com/parleychat/parley/store"
)

// handleRooms lists the rooms that have events, by name.
func (s *Server) handleRooms(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	rooms, err := s.log.Rooms(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if rooms == nil {
		rooms = []store.Room{}
	}
	writeJSON(w, http.StatusOK, struct {
		Rooms []store.Room `json:"rooms"`
	}{rooms})
}

// handleConfig tells clients the limits they must respect.
func (s *Server) handleConfig(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	writeJSON(w, http.StatusOK, struct {
		MaxMessageBytes int `json:"max_message_bytes"`
		MaxStreamRooms  int `json:"max_stream_rooms"`
	}{s.MaxMessageBytes, s.MaxStreamRooms})
}

// handleHealth answers 200 while the log can be read.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if err := s.log.Ping(r.Context()); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
	}{"ok"})
}
