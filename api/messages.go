package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/julienschmidt/httprouter"
	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// input is what a client sends to post or change a message; each endpoint
// takes some of the fields and refuses the others.
type input struct {
	Author   string `json:"author"`
	Text     string `json:"text"`
	ClientID string `json:"client_id"`
	ReplyTo  string `json:"reply_to"`
	Emoji    string `json:"emoji"`
	// Files are ids of uploads a new message carries.
	Files []string `json:"files"`
}

// only fails if a field other than the named ones was given.
func (in input) only(fields ...string) error {
	// An array, not a map: this runs on every post.
	for _, f := range [...]struct{ name, v string }{
		{"author", in.Author}, {"text", in.Text}, {"client_id", in.ClientID}, {"reply_to", in.ReplyTo}, {"emoji", in.Emoji},
	} {
		if f.v != "" && !slices.Contains(fields, f.name) {
			return errorf(http.StatusBadRequest, "field %s does not apply here", f.name)
		}
	}
	if len(in.Files) > 0 && !slices.Contains(fields, "files") {
		return errorf(http.StatusBadRequest, "field files does not apply here")
	}
	return nil
}

// handlePostMessage appends a message and answers, once it is durable, with
// 201 and the stored event, or 200 and the original event when the client id
// was used before in the room.
func (s *Server) handlePostMessage(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	room, id := ps.ByName("room"), identityOf(r)
	if !s.limitPost(w, r, id) {
		return
	}
	in, err := s.decodeInput(w, r)
	if err == nil {
		err = in.only("author", "text", "client_id", "reply_to", "files")
	}
	if err == nil {
		err = s.checkText(in.Text)
	}
	if err == nil {
		err = s.checkFileCount(in.Files)
	}
	if err == nil {
		in.Author, err = id.author(in.Author)
	}
	var replyTo ulid.ULID
	if err == nil {
		replyTo, err = parseID(in.ReplyTo, "reply_to")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.appendAndAnswer(w, r, store.Event{
		Room: room, Type: store.TypeMessage, Author: in.Author, Text: in.Text, ClientID: in.ClientID, ReplyTo: replyTo,
		Files: fileRefs(in.Files),
	})
}

// checkText enforces -max-message-bytes.
func (s *Server) checkText(text string) error {
	if len(text) > s.MaxMessageBytes {
		return errorf(http.StatusRequestEntityTooLarge, "text is %d bytes; the limit is %d", len(text), s.MaxMessageBytes)
	}
	return nil
}

// appendAndAnswer appends e and answers 201 with the stored event, or 200
// with what the log returned when it stored nothing (the original event of
// a retried client id, or the state of a message a change left unchanged).
func (s *Server) appendAndAnswer(w http.ResponseWriter, r *http.Request, e store.Event) {
	rec, created, err := s.log.Append(r.Context(), e)
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

// decodeInput reads a JSON or form-encoded body.
func (s *Server) decodeInput(w http.ResponseWriter, r *http.Request) (input, error) {
	var in input
	// Room for the largest text with every character escaped, plus the rest.
	limit := int64(s.MaxMessageBytes)*6 + 4096
	err := decodeBody(w, r, limit, &in, func(get func(string) string) {
		in = input{Author: get("author"), Text: get("text"), ClientID: get("client_id"), ReplyTo: get("reply_to"), Emoji: get("emoji")}
	})
	return in, err
}

// decodeBody reads a JSON body into v or, if fromForm is set, a
// form-encoded one through fromForm; at most limit bytes.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any, fromForm func(get func(string) string)) error {
	media := r.Header.Get("Content-Type")
	if media != "application/json" { // the common case needs no parsing
		m, params, err := mime.ParseMediaType(media)
		if media == "" || err != nil {
			return errorf(http.StatusUnsupportedMediaType, "Content-Type must be application/json or application/x-www-form-urlencoded")
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return errorf(http.StatusUnsupportedMediaType, "charset must be utf-8")
		}
		media = m
	}
	if media != "application/json" && (media != "application/x-www-form-urlencoded" || fromForm == nil) {
		if fromForm == nil {
			return errorf(http.StatusUnsupportedMediaType, "Content-Type %s is not supported; use application/json", media)
		}
		return errorf(http.StatusUnsupportedMediaType, "Content-Type %s is not supported; use application/json or application/x-www-form-urlencoded", media)
	}
	body, err := readBody(w, r, limit)
	if err != nil {
		return readErr(err)
	}
	if !utf8.Valid(body) {
		return errorf(http.StatusBadRequest, "body is not valid UTF-8")
	}
	if media == "application/json" {
		if in, ok := v.(*input); ok && decodeInputFast(body, in) {
			return nil // the common case of every post
		}
		return decodeJSON(body, v)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return errorf(http.StatusBadRequest, "malformed form body: %v", err)
	}
	fromForm(form.Get)
	return nil
}

// noBody reports whether a request came without a body, for endpoints
// whose body is optional.
func noBody(r *http.Request) bool {
	return r.ContentLength == 0 && r.Header.Get("Content-Type") == ""
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
// newest page by default, the page after ?after=ID, the page just before
// ?before=ID, or the page centred on message ?around=ID (404 if the room
// has no such message). Each message is in its current state (edits, deletes and
// reactions folded in); ?view=events pages through the raw events instead.
// A room without events has an empty history.
func (s *Server) handleListMessages(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	room := ps.ByName("room")
	q := r.URL.Query()
	p := store.Page{Limit: defaultPage, Forward: q.Has("after")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			s.writeError(w, r, errorf(http.StatusBadRequest, "limit must be a number from 1 to %d", maxPage))
			return
		}
		p.Limit = n
	}
	var err error
	if p.Before, err = parseID(q.Get("before"), "before"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if p.After, err = parseID(q.Get("after"), "after"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if p.Around, err = parseAround(q); err != nil {
		s.writeError(w, r, err)
		return
	}
	var recs []store.Record
	switch view := q.Get("view"); view {
	case "", "messages":
		recs, err = s.log.Messages(r.Context(), room, p)
	case "events":
		if p.Forward {
			recs, err = s.log.ReadAfter(r.Context(), []string{room}, p.After, p.Limit)
		} else {
			recs, err = s.log.ReadBefore(r.Context(), room, p.Before, p.Limit)
		}
	default:
		err = errorf(http.StatusBadRequest, "view must be messages or events, not %q", view)
	}
	if errors.Is(err, store.ErrNotFound) && q.Has("around") {
		err = errorf(http.StatusNotFound, "no message %s in this room", p.Around)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeRawJSON(w, http.StatusOK, eventsJSON(recs))
}

// parseAround checks the paging parameters of a history request and
// returns the id of ?around=ID, the message a page is centred on (zero
// without it); only one of before, after and around may be given, and
// around only with the messages view.
func parseAround(q url.Values) (ulid.ULID, error) {
	n := 0
	for _, name := range []string{"before", "after", "around"} {
		if q.Has(name) {
			n++
		}
	}
	switch {
	case n > 1:
		return ulid.ULID{}, errorf(http.StatusBadRequest, "use only one of before, after and around")
	case !q.Has("around"):
		return ulid.ULID{}, nil
	case q.Get("view") == "events":
		return ulid.ULID{}, errorf(http.StatusBadRequest, "around pages through messages, not view=events")
	case q.Get("around") == "":
		return ulid.ULID{}, errorf(http.StatusBadRequest, "around needs the id of a message")
	}
	return parseID(q.Get("around"), "around")
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
