package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/stream"
)

// Live features (docs/live.md): presence, typing and call signalling. They
// are ephemeral events on the streams: never stored, never replayed.

// maxSignalBytes bounds the body of a call signal: an SDP offer with many
// codecs and candidates is about 10 KiB.
const maxSignalBytes = 64 << 10

// ICEServer is a STUN or TURN server for calls, shaped like the browser's
// RTCIceServer.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// configureHub hands the server's settings to the stream hub.
func (s *Server) configureHub() {
	h := s.hub
	h.Heartbeat, h.Retry, h.Logger, h.Now = s.Heartbeat, s.Retry, s.Logger, s.Now
	h.Server, h.Grace = "parley/"+s.Version, s.PresenceGrace
	if s.Node != "" {
		h.Node = s.Node
	}
	if s.Relay != nil {
		h.Relay = s.Relay
	}
}

// who is the person behind a request, for presence and the read marker:
// under access control its identity, else the author it names (anonymous
// if none). Keys never collide across kinds: u: users, s: guest sessions,
// a: names given without access control.
func (id identity) who(author string) stream.Who {
	switch {
	case !id.isOpen():
		return stream.Who{Key: id.key(), Name: id.name, Guest: id.role == store.RoleGuest}
	case author == "":
		return stream.Who{}
	}
	return stream.Who{Key: "a:" + author, Name: author}
}

// requester returns who makes a request that must name someone: the
// author given (body or ?author=) is checked like a message's.
func (s *Server) requester(r *http.Request, given string) (stream.Who, error) {
	id := identityOf(r)
	if given == "" && id.isOpen() {
		given = r.URL.Query().Get("author")
	}
	author, err := id.author(given)
	if err == nil {
		err = store.ValidateAuthor(author)
	}
	if err != nil {
		return stream.Who{}, err
	}
	return id.who(author), nil
}

// limitedRequester is requester for typing and signals: it also takes one
// from the requester's bucket of set, or answers 429 and fails with
// errLimited.
func (s *Server) limitedRequester(w http.ResponseWriter, r *http.Request, given string, set *limiterSet, what string) (stream.Who, error) {
	who, err := s.requester(r, given)
	if err != nil {
		return who, err
	}
	if ok, wait := set.allow(who.Key, s.Now()); !ok {
		s.tooMany(w, r, wait, what)
		return who, errLimited
	}
	return who, nil
}

// handlePresence: GET /api/rooms/:room/presence, who is in the room now,
// for clients that do not stream it.
func (s *Server) handlePresence(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	p, err := s.hub.Presence(ps.ByName("room"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// handleTyping: POST /api/rooms/:room/typing {"author"?, "stop"?} tells
// the room's other streams that the caller is typing, or stopped.
func (s *Server) handleTyping(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	var in struct {
		Author string `json:"author"`
		Stop   bool   `json:"stop"`
	}
	var err error
	if !noBody(r) {
		err = decodeBody(w, r, 4<<10, &in, nil)
	}
	var who stream.Who
	if err == nil {
		who, err = s.limitedRequester(w, r, in.Author, s.limits.typing, "typing notices")
	}
	if err == nil {
		err = s.hub.Typing(ps.ByName("room"), who, in.Stop)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// signalInput is the body of a call signal.
type signalInput struct {
	Author  string          `json:"author"`
	From    string          `json:"from"`
	To      string          `json:"to"`
	Kind    string          `json:"kind"`
	Payload json.RawMessage `json:"payload"`
}

// handleSignal: POST /api/rooms/:room/signal delivers a call signal to one
// connection of the room: 204 once it is queued for that stream, 404 if
// there is no such connection in the room.
func (s *Server) handleSignal(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	var in signalInput
	err := decodeBody(w, r, maxSignalBytes, &in, nil)
	if err == nil {
		err = in.check()
	}
	var who stream.Who
	if err == nil {
		who, err = s.limitedRequester(w, r, in.Author, s.limits.signal, "call signals")
	}
	if err == nil {
		err = s.hub.Signal(r.Context(), stream.Signal{
			Room: ps.ByName("room"), Who: who, From: in.From, To: in.To, Kind: in.Kind, Payload: in.Payload,
		})
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// check validates a signal as far as it alone can tell.
func (in signalInput) check() error {
	switch {
	case !slices.Contains(stream.SignalKinds, in.Kind):
		return errorf(http.StatusBadRequest, "kind must be one of %s", strings.Join(stream.SignalKinds, ", "))
	case in.To == "" || in.From == "":
		return errorf(http.StatusBadRequest, "to and from are required: connection ids, as presence and hello give them")
	case in.To == in.From:
		return errorf(http.StatusBadRequest, "to and from are the same connection")
	case len(in.Payload) > 0 && !bytes.Equal(in.Payload, []byte("null")) && in.Payload[0] != '{':
		return errorf(http.StatusBadRequest, "payload must be a JSON object")
	}
	return nil
}

// liveConfig is what /api/config tells clients about the live features.
type liveConfig struct {
	ICEServers      []ICEServer `json:"ice_servers"`
	TypingMS        int64       `json:"typing_ms"`
	PresenceGraceMS int64       `json:"presence_grace_ms"`
	MaxSignalBytes  int         `json:"max_signal_bytes"`
}

func (s *Server) liveConfig() liveConfig {
	ice := s.ICEServers
	if ice == nil {
		ice = []ICEServer{}
	}
	return liveConfig{ice, s.hub.TypingTTL.Milliseconds(), s.PresenceGrace.Milliseconds(), maxSignalBytes}
}

// streamConnection checks the ?connection= a reconnecting stream asks to
// keep: a connection id, as a hello gave it.
func streamConnection(r *http.Request) (string, error) {
	c := r.URL.Query().Get("connection")
	if len(c) > 64 || strings.IndexFunc(c, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	}) >= 0 {
		return "", errorf(http.StatusBadRequest, "connection: not a connection id")
	}
	return c, nil
}
