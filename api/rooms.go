package api

import (
	"context"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/parleychat/parley/store"
)

// handleRooms lists the rooms that have events, by name, with the
// caller's marker and unread counts in each when the caller is someone
// (under access control always; without it, with ?author=).
func (s *Server) handleRooms(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	who, _, err := s.reader(r)
	var rooms []store.Room
	if err == nil {
		rooms, err = s.log.Rooms(r.Context())
	}
	if id := identityOf(r); err == nil && !id.isOpen() {
		rooms, err = s.usable(r.Context(), id, rooms)
	}
	var out []roomListing
	if err == nil {
		out, err = s.withUnread(r.Context(), who, rooms)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Rooms []roomListing `json:"rooms"`
	}{out})
}

// usable keeps the rooms id may use.
func (s *Server) usable(ctx context.Context, id identity, rooms []store.Room) ([]store.Room, error) {
	var keep []store.Room
	for _, room := range rooms {
		ok, err := s.canUse(ctx, id, room.Name)
		if err != nil {
			return nil, err
		}
		if ok {
			keep = append(keep, room)
		}
	}
	return keep, nil
}

// handleConfig tells clients the limits they must respect and whether they
// must sign in (and whether the first admin is still to be set up).
func (s *Server) handleConfig(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	auth := "none"
	setup := false
	if s.Accounts != nil {
		auth = "on"
		var err error
		if setup, err = s.needsSetup(r.Context()); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Server          string `json:"server"`
		MaxMessageBytes int    `json:"max_message_bytes"`
		MaxStreamRooms  int    `json:"max_stream_rooms"`
		Auth            string `json:"auth"`
		Setup           bool   `json:"setup"`
		liveConfig
	}{"parley/" + s.Version, s.MaxMessageBytes, s.MaxStreamRooms, auth, setup, s.liveConfig()})
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
