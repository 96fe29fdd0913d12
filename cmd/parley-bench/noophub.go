package main

import (
	"encoding/binary"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// hub is the no-op server's whole state: an in-memory log per room and the
// subscribers waiting on it.
type hub struct {
	keep int // events kept per room; older ones are forgotten
	now  func() time.Time

	// mu guards everything below. One lock also makes assigning an id and
	// appending the event one step, so every log (and every merge of logs)
	// sees ids in increasing order.
	mu    sync.Mutex
	rooms map[string]*roomLog
	ms    uint64 // timestamp of the last id
	ctr   uint64 // counter within ms, the low 64 bits of the id
}

// roomLog is one room's recent events and its subscribers.
type roomLog struct {
	base      int // absolute index of events[0]
	events    []noopEvent
	subs      map[*noopSub]struct{}
	clientIDs map[string]int // client_id to absolute index
}

// noopEvent is an event encoded once, as its SSE frame; json is the frame's data.
type noopEvent struct {
	id    string
	frame []byte
	json  []byte
}

// noopSub is one SSE stream: wake has room for one token, so a publisher
// never blocks and a subscriber never misses that something happened.
type noopSub struct {
	wake  chan struct{}
	rooms []*roomLog
	next  []int // absolute index of the next event to send, per room
}

func newHub(keep int, now func() time.Time) *hub {
	return &hub{keep: keep, now: now, rooms: map[string]*roomLog{}}
}

// room returns the named room, creating it. The caller holds mu.
func (h *hub) room(name string) *roomLog {
	r := h.rooms[name]
	if r == nil {
		r = &roomLog{subs: map[*noopSub]struct{}{}, clientIDs: map[string]int{}}
		h.rooms[name] = r
	}
	return r
}

// nextID returns a ULID-shaped id above every earlier one: a millisecond
// timestamp and a counter. The caller holds mu.
func (h *hub) nextID(t time.Time) string {
	if ms := uint64(t.UnixMilli()); ms > h.ms {
		h.ms, h.ctr = ms, 0
	} else {
		h.ctr++
	}
	var u ulid.ULID
	if err := u.SetTime(h.ms); err != nil {
		panic(err) // only after the year 10889
	}
	binary.BigEndian.PutUint64(u[8:], h.ctr)
	return u.String()
}

// appendEvent adds a message and wakes the room's subscribers. A repeated
// client ID returns the earlier event and created false.
func (h *hub) appendEvent(room, author, text, clientID string) (ev noopEvent, created bool) {
	// Quote outside the lock; only the id and time are assigned under it.
	qRoom, _ := json.Marshal(room)
	qAuthor, _ := json.Marshal(author)
	qText, _ := json.Marshal(text)
	qClient, _ := json.Marshal(clientID)

	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.room(room)
	if clientID != "" {
		if i, ok := r.clientIDs[clientID]; ok && i >= r.base {
			return r.events[i-r.base], false
		}
	}
	t := h.now().UTC()
	id := h.nextID(t)
	b := make([]byte, 0, 128+len(qText)+len(qAuthor)+len(room))
	b = append(b, "id: "...)
	b = append(b, id...)
	b = append(b, "\nevent: message\ndata: "...)
	start := len(b)
	b = append(b, `{"id":"`...)
	b = append(b, id...)
	b = append(b, `","room":`...)
	b = append(b, qRoom...)
	b = append(b, `,"type":"message","author":`...)
	b = append(b, qAuthor...)
	b = append(b, `,"text":`...)
	b = append(b, qText...)
	b = append(b, `,"time":"`...)
	b = t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, '"')
	if clientID != "" {
		b = append(b, `,"client_id":`...)
		b = append(b, qClient...)
	}
	b = append(b, '}')
	end := len(b)
	b = append(b, "\n\n"...)
	ev = noopEvent{id: id, frame: b, json: b[start:end]}

	if clientID != "" {
		r.clientIDs[clientID] = r.base + len(r.events)
	}
	r.events = append(r.events, ev)
	if len(r.events) > h.keep+h.keep/4 {
		drop := len(r.events) - h.keep
		r.events = append([]noopEvent(nil), r.events[drop:]...)
		r.base += drop
	}
	for s := range r.subs {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return ev, true
}

// subscribe registers a stream on rooms, positioned after cursor, or at the
// end of each log when cursor is empty.
func (h *hub) subscribe(rooms []string, cursor string) *noopSub {
	s := &noopSub{wake: make(chan struct{}, 1), next: make([]int, len(rooms))}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, name := range rooms {
		r := h.room(name)
		s.rooms = append(s.rooms, r)
		s.next[i] = r.base + len(r.events)
		if cursor != "" {
			s.next[i] = r.base + r.after(cursor)
		}
		r.subs[s] = struct{}{}
	}
	return s
}

// after returns the index in events of the first event with id > cursor.
func (r *roomLog) after(cursor string) int {
	return sort.Search(len(r.events), func(i int) bool { return r.events[i].id > cursor })
}

func (h *hub) unsubscribe(s *noopSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range s.rooms {
		delete(r.subs, s)
	}
}

// collect appends the frames s has not had yet to buf, in id order, stopping
// once buf holds limit bytes. It reports false if s fell so far behind that
// the events it needs were forgotten.
func (h *hub) collect(s *noopSub, buf []byte, limit int) ([]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(buf) < limit {
		best := -1
		for i, r := range s.rooms {
			if s.next[i] < r.base {
				return buf, false
			}
			if s.next[i] < r.base+len(r.events) &&
				(best < 0 || r.events[s.next[i]-r.base].id < s.rooms[best].events[s.next[best]-s.rooms[best].base].id) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		r := s.rooms[best]
		buf = append(buf, r.events[s.next[best]-r.base].frame...)
		s.next[best]++
	}
	return buf, true
}

// page returns the JSON of up to limit events of room: the first ones after
// after if it is set, else the last ones before before (or the last ones).
func (h *hub) page(room, before, after string, limit int) [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil {
		return nil
	}
	lo, hi := 0, len(r.events)
	if before != "" {
		hi = sort.Search(len(r.events), func(i int) bool { return r.events[i].id >= before })
	}
	if after != "" {
		lo = min(r.after(after), hi)
		hi = min(hi, lo+limit)
	} else {
		lo = max(lo, hi-limit)
	}
	out := make([][]byte, 0, hi-lo)
	for _, ev := range r.events[lo:hi] {
		out = append(out, ev.json)
	}
	return out
}

// roomInfo is one row of GET /api/rooms.
type roomInfo struct {
	Name   string `json:"name"`
	Events int    `json:"events"`
	LastID string `json:"last_id"`
}

func (h *hub) list() []roomInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]roomInfo, 0, len(h.rooms))
	for name, r := range h.rooms {
		info := roomInfo{Name: name, Events: r.base + len(r.events)}
		if len(r.events) > 0 {
			info.LastID = r.events[len(r.events)-1].id
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return strings.Compare(out[i].Name, out[j].Name) < 0 })
	return out
}
