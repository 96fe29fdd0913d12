package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/search"
)

// Limits of GET /api/search.
const (
	defaultSearchResults = 20
	maxSearchResults     = 100
)

// searchResult is one result of GET /api/search: the message's current
// state and the ranges of its text to highlight, in UTF-16 code units (the
// indices of a JavaScript string).
type searchResult struct {
	Event      rawJSON        `json:"event"`
	Highlights []search.Range `json:"highlights"`
}

// rawJSON is JSON written as it is.
type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

// handleSearch answers GET /api/search?q=&rooms=a,b&author=&before=ID&limit=N:
// the messages matching q, newest first, in the rooms given (each must be
// one the caller may read, as for history) or, without rooms, in every room
// the caller may read. Only those rooms are searched, so nothing of another
// room shows, not even a count. next is the cursor of the following page
// (the before of the next request), empty on the last.
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	res, err := s.search(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

type searchPage struct {
	Results []searchResult `json:"results"`
	Next    string         `json:"next"`
}

func (s *Server) search(r *http.Request) (searchPage, error) {
	params := r.URL.Query()
	query := params.Get("q")
	if a := strings.TrimSpace(params.Get("author")); a != "" {
		query += ` from:"` + strings.ReplaceAll(a, `"`, "") + `"`
	}
	q, err := search.Parse(query)
	if errors.Is(err, search.ErrQuery) {
		return searchPage{}, errorf(http.StatusBadRequest, "q: %s", strings.TrimPrefix(err.Error(), "search: "))
	}
	if err != nil {
		return searchPage{}, err
	}
	limit := defaultSearchResults
	if v := params.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxSearchResults {
			return searchPage{}, errorf(http.StatusBadRequest, "limit must be a number from 1 to %d", maxSearchResults)
		}
	}
	before, err := parseID(params.Get("before"), "before")
	if err != nil {
		return searchPage{}, err
	}
	rooms, err := s.searchRooms(r, params.Get("rooms"))
	if err != nil {
		return searchPage{}, err
	}
	hits, err := s.log.Search(r.Context(), rooms, q, before, limit)
	if err != nil {
		return searchPage{}, err
	}
	page := searchPage{Results: make([]searchResult, 0, len(hits))}
	for _, h := range hits {
		var m store.Message
		if err := m.UnmarshalJSON(h.Record.JSON); err != nil {
			return searchPage{}, err
		}
		hl := search.UTF16(m.Text, h.Highlights)
		if hl == nil {
			hl = []search.Range{}
		}
		page.Results = append(page.Results, searchResult{Event: h.Record.JSON, Highlights: hl})
	}
	if len(hits) == limit {
		page.Next = hits[len(hits)-1].Record.ID.String()
	}
	return page, nil
}

// searchRooms returns the rooms a search reads: those listed (each must be
// one the caller may read: 403 otherwise, as for history), or every room
// the caller may read.
func (s *Server) searchRooms(r *http.Request, list string) ([]string, error) {
	id := identityOf(r)
	var rooms []string
	seen := map[string]bool{}
	for _, room := range strings.Split(list, ",") {
		if room = strings.TrimSpace(room); room == "" || seen[room] {
			continue
		}
		if err := store.ValidateRoom(room); err != nil {
			return nil, err
		}
		seen[room] = true
		rooms = append(rooms, room)
	}
	if len(rooms) > 0 {
		if id.isOpen() {
			return rooms, nil
		}
		return rooms, s.checkRooms(r.Context(), id, rooms)
	}
	all, err := s.log.Rooms(r.Context())
	if err == nil && !id.isOpen() {
		all, err = s.usable(r.Context(), id, all)
	}
	for _, room := range all {
		rooms = append(rooms, room.Name)
	}
	return rooms, err
}
