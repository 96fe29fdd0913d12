package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/julienschmidt/httprouter"
	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/stream"
)

// Read markers, unread counts and mentions (docs/live.md).

// maxUnread is where unread counts stop: enough to say "999+", and a count
// costs no more than that however far behind someone is.
const maxUnread = 1000

// Paging of GET /api/mentions.
const (
	defaultMentions = 50
	maxMentions     = 200
)

// readState is a person's marker in a room and what is unread after it.
type readState struct {
	Room     string `json:"room"`
	ID       string `json:"id"`
	Unread   int    `json:"unread"`
	Mentions int    `json:"mentions"`
}

// idText is an id's text, "" for the zero id.
func idText(id ulid.ULID) string {
	if id == (ulid.ULID{}) {
		return ""
	}
	return id.String()
}

// reader returns who reads, for a request that may leave them out: under
// access control its identity; without it the ?author= given, or nobody
// (ok false).
func (s *Server) reader(r *http.Request) (who stream.Who, ok bool, err error) {
	id := identityOf(r)
	if id.isOpen() && r.URL.Query().Get("author") == "" {
		return stream.Who{}, false, nil
	}
	who, err = s.requester(r, "")
	return who, err == nil, err
}

// readStateOf returns who's read state in room.
func (s *Server) readStateOf(ctx context.Context, who stream.Who, room string) (readState, error) {
	u, err := s.log.Unread(ctx, store.UnreadQuery{Person: who.Key, Author: who.Name, Rooms: []string{room}, Limit: maxUnread})
	if err != nil {
		return readState{}, err
	}
	return readState{Room: room, ID: idText(u[0].Mark), Unread: u[0].Messages, Mentions: u[0].Mentions}, nil
}

// handleGetRead: GET /api/rooms/:room/read, the caller's marker in the
// room and what is unread after it.
func (s *Server) handleGetRead(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	who, _, err := s.reader(r)
	if err == nil && who.Anonymous() {
		err = errorf(http.StatusBadRequest, "author is required: whose marker? (?author=NAME)")
	}
	var st readState
	if err == nil {
		st, err = s.readStateOf(r.Context(), who, ps.ByName("room"))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// handlePutRead: PUT /api/rooms/:room/read {"id","author"?} moves the
// caller's marker forward to id (an older id changes nothing) and tells
// their other streams.
func (s *Server) handlePutRead(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	var in struct {
		ID     string `json:"id"`
		Author string `json:"author"`
	}
	room := ps.ByName("room")
	err := decodeBody(w, r, 4<<10, &in, nil)
	var who stream.Who
	if err == nil {
		who, err = s.requester(r, in.Author)
	}
	var id ulid.ULID
	if err == nil {
		if in.ID == "" {
			err = errorf(http.StatusBadRequest, "id is required: the newest event you have seen")
		} else {
			id, err = parseID(in.ID, "id")
		}
	}
	if err == nil {
		id, err = s.log.SetMark(r.Context(), who.Key, room, id)
		if errors.Is(err, store.ErrNotFound) {
			err = errorf(http.StatusNotFound, "room %s has no events", room)
		}
	}
	var st readState
	if err == nil {
		st, err = s.readStateOf(r.Context(), who, room)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.hub.MarkRead(room, who, idText(id))
	writeJSON(w, http.StatusOK, st)
}

// handleMentions: GET /api/mentions?before=ID&limit=N lists the messages
// that mention the caller, newest first, in the rooms they may read.
func (s *Server) handleMentions(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	id := identityOf(r)
	who, ok, err := s.reader(r)
	if err == nil && !ok {
		err = errorf(http.StatusBadRequest, "author is required: whose mentions? (?author=NAME)")
	}
	limit := defaultMentions
	if v := r.URL.Query().Get("limit"); v != "" && err == nil {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxMentions {
			err = errorf(http.StatusBadRequest, "limit must be a number from 1 to %d", maxMentions)
		}
	}
	var before ulid.ULID
	if err == nil {
		before, err = parseID(r.URL.Query().Get("before"), "before")
	}
	var recs []store.Record
	if name := store.MentionName(who.Name); err == nil && name != "" {
		recs, err = s.log.Mentions(r.Context(), name, before, limit, func(room string) (bool, error) {
			if id.isOpen() {
				return true, nil
			}
			return s.canUse(r.Context(), id, room)
		})
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeRawJSON(w, http.StatusOK, eventsJSON(recs))
}

// roomListing is a room in GET /api/rooms: its counts, and for a caller
// who is someone, their marker and what is unread.
type roomListing struct {
	store.Room
	Read     *string `json:"read,omitempty"`
	Unread   *int    `json:"unread,omitempty"`
	Mentions *int    `json:"mentions,omitempty"`
}

// withUnread adds who's read state to each room.
func (s *Server) withUnread(ctx context.Context, who stream.Who, rooms []store.Room) ([]roomListing, error) {
	out := make([]roomListing, len(rooms))
	names := make([]string, len(rooms))
	for i, room := range rooms {
		out[i].Room, names[i] = room, room.Name
	}
	if who.Anonymous() || len(rooms) == 0 {
		return out, nil
	}
	us, err := s.log.Unread(ctx, store.UnreadQuery{Person: who.Key, Author: who.Name, Rooms: names, Limit: maxUnread})
	if err != nil {
		return nil, err
	}
	for i, u := range us {
		read := idText(u.Mark)
		out[i].Read, out[i].Unread, out[i].Mentions = &read, &us[i].Messages, &us[i].Mentions
	}
	return out, nil
}
