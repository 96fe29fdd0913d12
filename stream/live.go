package stream

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/store"
)

// Errors of call signalling.
var (
	// ErrGone is returned by Signal when the recipient connection is not
	// a stream of the room (any more).
	ErrGone = errors.New("recipient gone: no such connection in this room")
	// ErrNotYours is returned by Signal when the sender's connection is
	// not a stream of the room of the person sending.
	ErrNotYours = errors.New("from: not a connection of yours in this room")
)

// SignalKinds are the kinds of call signals, in the order of a call
// (docs/live.md).
var SignalKinds = []string{"ring", "accept", "decline", "offer", "answer", "candidate", "hangup"}

// Signal is a call signal from one connection to another.
type Signal struct {
	Room string
	// Who sent it; From must be one of their connections in Room.
	Who  Who
	From string
	To   string
	Kind string
	// Payload is an opaque JSON object (SDP, ICE candidate, call id).
	Payload json.RawMessage
}

// Typing tells the other streams of room that who is typing, for TypingTTL
// unless renewed, or (stop) no longer. The typist's own streams are not
// told.
func (h *Hub) Typing(room string, who Who, stop bool) error {
	if err := h.ensureStarted(); err != nil {
		return err
	}
	ms := h.TypingTTL.Milliseconds()
	if stop {
		ms = 0
	}
	h.Relay.Broadcast(Ephemeral{Type: TypeTyping, Room: room, From: who, ExpiresInMS: ms})
	return nil
}

// MarkRead tells who's other streams of room that their read marker is now
// id, so every device shows the same unread count.
func (h *Hub) MarkRead(room string, who Who, id string) error {
	if err := h.ensureStarted(); err != nil {
		return err
	}
	h.Relay.Broadcast(Ephemeral{Type: TypeRead, Room: room, From: who, ID: id})
	return nil
}

// Signal delivers a call signal to connection s.To, whichever node holds
// it. It fails with ErrNotYours unless s.From is a connection of s.Who in
// s.Room, and with ErrGone unless s.To is one.
func (h *Hub) Signal(ctx context.Context, s Signal) error {
	if err := h.ensureStarted(); err != nil {
		return err
	}
	if !h.roster.owns(s.From, s.Room, s.Who.Key) {
		return ErrNotYours
	}
	ok, err := h.Relay.Deliver(ctx, Ephemeral{
		Type: TypeSignal, Room: s.Room, From: s.Who, FromConn: s.From, To: s.To, Kind: s.Kind, Payload: s.Payload,
	})
	if err != nil {
		return err
	}
	if !ok {
		return ErrGone
	}
	return nil
}

// Presence returns who is in room now, and who is typing.
func (h *Hub) Presence(room string) (Presence, error) {
	if err := h.ensureStarted(); err != nil {
		return Presence{}, err
	}
	h.roster.mu.Lock()
	p := h.roster.snapshot(room)
	h.roster.mu.Unlock()
	p.Typing = h.typing.list(room, h.Now(), "")
	return p, nil
}

// receiver is the hub as its relay sees it.
type receiver struct{ h *Hub }

// Connection implements Receiver.
func (r receiver) Connection(c Conn) { r.h.roster.apply(c) }

// Broadcast implements Receiver.
func (r receiver) Broadcast(ev Ephemeral) {
	h := r.h
	switch ev.Type {
	case TypeTyping:
		h.typing.set(ev.Room, ev.From, ev.ExpiresInMS, h.Now())
		f := ephemeralFrame(TypeTyping, typingData(ev.Room, ev.From.Name, ev.ExpiresInMS))
		h.deliver(ev.Room, f, func(s *subscriber) bool { return s.who.Key != ev.From.Key || ev.From.Anonymous() })
	case TypeRead:
		b, _ := json.Marshal(struct {
			Room string `json:"room"`
			ID   string `json:"id"`
		}{ev.Room, ev.ID})
		f := ephemeralFrame(TypeRead, b)
		h.deliver(ev.Room, f, func(s *subscriber) bool { return s.who.Key == ev.From.Key && !ev.From.Anonymous() })
	}
	// Other types come from newer nodes: this one does not know them.
}

// Deliver implements Receiver.
func (r receiver) Deliver(ev Ephemeral) bool {
	h := r.h
	if ev.Type != TypeSignal {
		return false
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	s := h.conns[ev.To]
	if s == nil || !s.carries(ev.Room) {
		return false
	}
	wasEmpty, queued := s.push(ephemeralFrame(TypeSignal, signalData(ev)))
	if wasEmpty {
		h.wake([]*subscriber{s})
	}
	return queued
}

// Connections implements Receiver.
func (r receiver) Connections() []Conn {
	r.h.mu.RLock()
	defer r.h.mu.RUnlock()
	out := make([]Conn, 0, len(r.h.conns))
	for id, s := range r.h.conns {
		out = append(out, Conn{ID: id, Epoch: s.epoch, Who: s.who, Rooms: slices.Clone(s.rooms)})
	}
	return out
}

// typingState is who is typing where, as the relay told this node.
type typingState struct {
	active atomic.Int64 // typists of all rooms: publish skips the lock at 0
	mu     sync.Mutex   // guards rooms
	rooms  map[string]map[string]typist
}

// typist is one person typing: until when, and who (their key).
type typist struct {
	key   string
	until time.Time
}

// set records that who started (ms > 0) or stopped typing in room.
func (t *typingState) set(room string, who Who, ms int64, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rooms == nil {
		t.rooms = map[string]map[string]typist{}
	}
	r := t.rooms[room]
	_, had := r[who.Name]
	switch {
	case ms > 0 && r == nil:
		r = map[string]typist{}
		t.rooms[room] = r
		fallthrough
	case ms > 0:
		r[who.Name] = typist{key: who.Key, until: now.Add(time.Duration(ms) * time.Millisecond)}
		if !had {
			t.active.Add(1)
		}
	case had:
		t.forget(room, who.Name)
	}
}

// forget removes a typist. t.mu must be held.
func (t *typingState) forget(room, name string) {
	delete(t.rooms[room], name)
	if len(t.rooms[room]) == 0 {
		delete(t.rooms, room)
	}
	t.active.Add(-1)
}

// list returns who is typing in room at now, by name, but the person with
// key except (if set).
func (t *typingState) list(room string, now time.Time, except string) []Typist {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []Typist{}
	for name, ty := range t.rooms[room] {
		switch left := ty.until.Sub(now); {
		case left <= 0:
			t.forget(room, name)
		case except == "" || ty.key != except:
			out = append(out, Typist{Author: name, ExpiresInMS: max(1, left.Milliseconds())})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Author < out[j].Author })
	return out
}

// typed ends the typing of a message's author, if they were typing: their
// message is what they typed. It runs in publish, with h.mu held.
func (h *Hub) typed(rec store.Record) {
	if h.typing.active.Load() == 0 {
		return
	}
	h.typing.mu.Lock()
	r := h.typing.rooms[rec.Room]
	if len(r) == 0 {
		h.typing.mu.Unlock()
		return
	}
	var m struct {
		Author string `json:"author"`
	}
	_ = json.Unmarshal(rec.JSON, &m)
	ty, ok := r[m.Author]
	if ok {
		h.typing.forget(rec.Room, m.Author)
	}
	h.typing.mu.Unlock()
	if ok {
		f := ephemeralFrame(TypeTyping, typingData(rec.Room, m.Author, 0))
		h.deliverLocked(rec.Room, f, func(s *subscriber) bool { return s.who.Key != ty.key || ty.key == "" })
	}
}

// typingData is the data of a typing event.
func typingData(room, author string, ms int64) []byte {
	b, _ := json.Marshal(struct {
		Room        string `json:"room"`
		Author      string `json:"author"`
		ExpiresInMS int64  `json:"expires_in_ms"`
	}{room, author, ms})
	return b
}

// signalData is the data of a signal event.
func signalData(ev Ephemeral) []byte {
	payload := ev.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	b, _ := json.Marshal(struct {
		Room    string          `json:"room"`
		Kind    string          `json:"kind"`
		From    string          `json:"from"`
		To      string          `json:"to"`
		Author  string          `json:"author"`
		Guest   bool            `json:"guest"`
		Payload json.RawMessage `json:"payload"`
	}{ev.Room, ev.Kind, ev.FromConn, ev.To, ev.From.Name, ev.From.Guest, payload})
	return b
}
