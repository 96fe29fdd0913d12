package api

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// A change is an event that targets a message. Each handler answers 201
// with the appended event, or 200 with the message's current state when the
// change would change nothing (deleting twice, the same reaction twice).

// handleEditMessage: PATCH /api/rooms/:room/messages/:id {"author","text"}.
func (s *Server) handleEditMessage(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	e, in, err := s.changeOf(w, r, ps, store.TypeEdit, true, "author", "text")
	if err == nil {
		err = s.checkText(in.Text)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e.Text = in.Text
	s.appendAndAnswer(w, r, e)
}

// handleDeleteMessage: DELETE /api/rooms/:room/messages/:id, the author in
// the body or as ?author=.
func (s *Server) handleDeleteMessage(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	e, _, err := s.changeOf(w, r, ps, store.TypeDelete, false, "author")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.appendAndAnswer(w, r, e)
}

// handleAddReaction: POST /api/rooms/:room/messages/:id/reactions {"author","emoji"}.
func (s *Server) handleAddReaction(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	e, in, err := s.changeOf(w, r, ps, store.TypeReaction, true, "author", "emoji")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e.Emoji = in.Emoji
	s.appendAndAnswer(w, r, e)
}

// handleRemoveReaction: DELETE /api/rooms/:room/messages/:id/reactions/:emoji,
// the author in the body or as ?author=.
func (s *Server) handleRemoveReaction(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	e, _, err := s.changeOf(w, r, ps, store.TypeReaction, false, "author")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e.Emoji, e.Remove = ps.ByName("emoji"), true
	s.appendAndAnswer(w, r, e)
}

// changeOf reads the room, the target and the input of a change. Without
// needBody, a request with no body takes its author from ?author=.
func (s *Server) changeOf(w http.ResponseWriter, r *http.Request, ps httprouter.Params, typ string, needBody bool, fields ...string) (store.Event, input, error) {
	room, id := ps.ByName("room"), identityOf(r)
	if !s.limitPost(w, r, id) {
		return store.Event{}, input{}, errLimited
	}
	target, err := ulid.ParseStrict(ps.ByName("id"))
	if err != nil {
		return store.Event{}, input{}, errorf(http.StatusNotFound, "no such message in this room: malformed id %q", ps.ByName("id"))
	}
	var in input
	if needBody || r.ContentLength > 0 || r.Header.Get("Content-Type") != "" {
		if in, err = s.decodeInput(w, r); err == nil {
			err = in.only(fields...)
		}
	} else {
		in.Author = r.URL.Query().Get("author")
	}
	if err == nil {
		in.Author, err = id.author(in.Author)
	}
	// An admin may edit and delete anyone's message.
	moderate := !id.isOpen() && id.role == store.RoleAdmin
	return store.Event{Room: room, Type: typ, Author: in.Author, Target: target, Moderate: moderate}, in, err
}
