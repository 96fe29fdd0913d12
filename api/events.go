package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/stream"
)

// handleRoomEvents streams one room.
func (s *Server) handleRoomEvents(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	room := ps.ByName("room")
	if err := store.ValidateRoom(room); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.serveStream(w, r, []string{room})
}

// handleEvents streams several rooms, ?rooms=a,b,c, on one connection. Ids
// are global, so one cursor resumes them all.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var rooms []string
	seen := map[string]bool{}
	for _, room := range strings.Split(r.URL.Query().Get("rooms"), ",") {
		if room = strings.TrimSpace(room); room == "" || seen[room] {
			continue
		}
		if err := store.ValidateRoom(room); err != nil {
			s.writeError(w, r, err)
			return
		}
		seen[room] = true
		rooms = append(rooms, room)
	}
	switch {
	case len(rooms) == 0:
		s.writeError(w, r, errorf(http.StatusBadRequest, "rooms: give at least one room, as ?rooms=a,b"))
		return
	case len(rooms) > s.MaxStreamRooms:
		s.writeError(w, r, errorf(http.StatusBadRequest, "rooms: at most %d rooms per stream", s.MaxStreamRooms))
		return
	}
	s.serveStream(w, r, rooms)
}

// serveStream serves an SSE stream of rooms (see streamRequest).
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, rooms []string) {
	// Every room is checked before anything is sent: a room the caller may
	// not read fails the whole stream, and replay covers only these rooms.
	id, err := s.authenticate(r)
	if err == nil {
		err = s.checkRooms(r.Context(), id, rooms)
	}
	var req stream.Request
	if err == nil {
		req, err = s.streamRequest(r, id, rooms)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ip := s.clientIP(r).String()
	if ok, wait := s.limits.streamIP.allow(ip, s.Now()); !ok {
		s.tooMany(w, r, wait, "new streams")
		return
	}
	if !s.limits.streamsIP.acquire(ip) {
		s.writeError(w, r, errorf(http.StatusTooManyRequests, "too many open streams from your address (at most %d)", s.Limits.MaxStreamsIP))
		return
	}
	defer s.limits.streamsIP.release(ip)
	if !id.isOpen() {
		if ok, wait := s.limits.stream.allow(id.key(), s.Now()); !ok {
			s.tooMany(w, r, wait, "new streams")
			return
		}
		if !s.limits.streams.acquire(id.key()) {
			s.writeError(w, r, errorf(http.StatusTooManyRequests, "too many open streams for you (at most %d)", s.Limits.MaxStreams))
			return
		}
		defer s.limits.streams.release(id.key())
		// The stream ends when the caller's access does, or the credential
		// expires.
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		wt := &watch{id: id, rooms: rooms, cancel: cancel} // ends ctx and any child of it
		if !id.cred.Expires.IsZero() {
			var stop context.CancelFunc
			ctx, stop = context.WithDeadline(ctx, id.cred.Expires)
			defer stop()
		}
		s.streams.add(wt)
		defer s.streams.remove(wt)
		r = r.WithContext(ctx)
	}

	s.Logger.Info("stream opened", "remote", ip, "user", id.name, "rooms", len(rooms), "resumed", req.Resume)
	res, err := s.hub.Serve(w, r, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Logger.Info("stream closed", "remote", ip, "user", id.name, "rooms", len(rooms), "resumed", req.Resume,
		"connection", res.Connection, "sent", res.Replayed+res.Live, "replayed", res.Replayed, "live", res.Live,
		"ephemeral", res.Ephemeral, "duration", res.Duration.Round(1e6), "reason", res.Reason)
}

// streamRequest reads what a stream asks for: its cursor (the
// Last-Event-ID header, else the last_event_id parameter: a browser
// reconnects to the URL it first used and adds the header, which is newer),
// who it is for presence (without access control, ?author=NAME; no name is
// anonymous) and the connection id it asks to keep.
func (s *Server) streamRequest(r *http.Request, id identity, rooms []string) (stream.Request, error) {
	req := stream.Request{Rooms: rooms}
	author := r.URL.Query().Get("author")
	if author != "" || !id.isOpen() {
		var err error
		if author, err = id.author(author); err == nil {
			err = store.ValidateAuthor(author)
		}
		if err != nil {
			return req, err
		}
	}
	req.Who = id.who(author)
	var err error
	if req.Connection, err = streamConnection(r); err != nil {
		return req, err
	}
	cursor := r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = r.URL.Query().Get("last_event_id")
	}
	if cursor != "" {
		after, err := parseID(cursor, "Last-Event-ID")
		if err != nil {
			return req, err
		}
		req.Resume, req.Cursor = true, after
	}
	return req, nil
}
