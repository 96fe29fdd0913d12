package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/julienschmidt/httprouter"
	"github.com/oklog/ulid/v2"
	"github.com/parleychat/parley/store"
)

// messageInput is what a client sends to post a message.
type messageInput struct {
	Author   string `json:"author"`
	Text     string `json:"text"`
	ClientID string `json:"client_id"`
}

// handlePostMessage appends a message and answers, once it is durable, with
// 201 and the stored event, or 200 and the original event when the client id
// was used before in the room.
func (s *Server) handlePostMessage(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	room := ps.ByName("room")
	if err := store.ValidateRoom(room); err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := s.decodeMessage(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(in.Text) > s.MaxMessageBytes {
		s.writeError(w, r, errorf(http.StatusRequestEntityTooLarge, "text is %d bytes; the limit is %d", len(in.Text), s.MaxMessageBytes))
		return
	}
	rec, created, err := s.log.Append(r.Context(), store.Event{
		Room: room, Type: store.TypeMessage, Author: in.Author, Text: in.Text, ClientID: in.ClientID,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeRawJSON(w, status, rec.JSON)
}

// decodeMessage reads a JSON or form-encoded message body.
func (s *Server) decodeMessage(w http.ResponseWriter, r *http.Request) (messageInput, error) {
	var in messageInput
	media := r.Header.Get("Content-Type")
	if media != "application/json" { // the common case needs no parsing
		m, params, err := mime.ParseMediaType(media)
		if media == "" || err != nil {
			return in, errorf(http.StatusUnsupportedMediaType, "Content-Type must be application/json or application/x-www-form-urlencoded")
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return in, errorf(http.StatusUnsupportedMediaType, "charset must be utf-8")
		}
		media = m
	}
	if media != "application/json" && media != "application/x-www-form-urlencoded" {
		return in, errorf(http.StatusUnsupportedMediaType, "Content-Type %s is not supported; use application/json or application/x-www-form-urlencoded", media)
	}
	// Room for the largest text with every character escaped, plus the rest.
	limit := int64(s.MaxMessageBytes)*6 + 4096
	body, err := readBody(w, r, limit)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return in, err
		}
		return in, errorf(http.StatusBadRequest, "reading body: %v", err)
	}
	if !utf8.Valid(body) {
		return in, errorf(http.StatusBadRequest, "body is not valid UTF-8")
	}
	if media == "application/json" {
		return in, decodeJSON(body, &in)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return in, errorf(http.StatusBadRequest, "malformed form body: %v", err)
	}
	in = messageInput{Author: form.Get("author"), Text: form.Get("text"), ClientID: form.Get("client_id")}
	return in, nil
}

// readBody reads the whole body, refusing more than limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	rd := http.MaxBytesReader(w, r.Body, limit)
	if r.ContentLength < 0 {
		return io.ReadAll(rd)
	}
	// One allocation of the announced size; the body ends there (net/http
	// stops at Content-Length), which the extra byte confirms.
	buf := make([]byte, r.ContentLength+1)
	n, err := io.ReadFull(rd, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return buf[:n], nil
	}
	if err == nil {
		err = errors.New("body longer than its Content-Length")
	}
	return nil, err
}

// decodeJSON decodes exactly one JSON object with only known fields.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return errorf(http.StatusBadRequest, "field %s must be a %s", ute.Field, ute.Type)
		}
		return errorf(http.StatusBadRequest, "malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, "malformed JSON: unexpected data after the object")
	}
	return nil
}

// Paging limits for history reads.
const (
	defaultPage = 50
	maxPage     = 1000
)

// handleListMessages answers {"events":[...]} in ascending id order: the
// newest page by default, the page after ?after=ID, or the page just before
// ?before=ID. A room without events has an empty history.
func (s *Server) handleListMessages(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	room := ps.ByName("room")
	if err := store.ValidateRoom(room); err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	limit := defaultPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			s.writeError(w, r, errorf(http.StatusBadRequest, "limit must be a number from 1 to %d", maxPage))
			return
		}
		limit = n
	}
	before, err := parseID(q.Get("before"), "before")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	after, err := parseID(q.Get("after"), "after")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var recs []store.Record
	switch {
	case q.Has("before") && q.Has("after"):
		err = errorf(http.StatusBadRequest, "use either before or after, not both")
	case q.Has("after"):
		recs, err = s.log.ReadAfter(r.Context(), []string{room}, after, limit)
	default:
		recs, err = s.log.ReadBefore(r.Context(), room, before, limit)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeRawJSON(w, http.StatusOK, eventsJSON(recs))
}

// eventsJSON wraps stored records as {"events":[...]} without re-encoding.
func eventsJSON(recs []store.Record) []byte {
	n := 16
	for _, rec := range recs {
		n += len(rec.JSON) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"events":[`...)
	for i, rec := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, rec.JSON...)
	}
	return append(b, "]}"...)
}

// parseID parses an event id parameter; empty is the zero id.
func parseID(v, name string) (ulid.ULID, error) {
	if v == "" {
		return ulid.ULID{}, nil
	}
	id, err := ulid.ParseStrict(v)
	if err != nil {
		return id, errorf(http.StatusBadRequest, "%s: malformed event id %q", name, v)
	}
	return id, nil
}
