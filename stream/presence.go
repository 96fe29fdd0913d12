package stream

import (
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"time"
)

// Presence is who is in a room now: the people with a stream of it, how
// many anonymous streams it has, and who is typing.
type Presence struct {
	Room      string   `json:"room"`
	People    []Person `json:"people"`
	Anonymous int      `json:"anonymous"`
	Typing    []Typist `json:"typing"`
}

// Person is someone with at least one stream of a room (or one that closed
// less than the grace period ago).
type Person struct {
	Name  string `json:"name"`
	Guest bool   `json:"guest"`
	// Connections are the person's streams of the room, oldest first: the
	// addresses of call signalling.
	Connections []string `json:"connections"`
}

// Typist is someone typing in a room, for ExpiresInMS more milliseconds.
type Typist struct {
	Author      string `json:"author"`
	ExpiresInMS int64  `json:"expires_in_ms"`
}

// Kinds of presence events.
const (
	presenceRoster    = "roster"    // everyone, when a stream starts
	presenceJoin      = "join"      // a person's first stream of the room
	presenceUpdate    = "update"    // a person's streams changed
	presenceLeave     = "leave"     // a person's last stream is gone
	presenceAnonymous = "anonymous" // the number of anonymous streams changed
)

// roster keeps who is in each room from the presence facts the relay
// brings, from every node, and tells this hub's streams what changes. A
// connection that closes stays for the hub's Grace before it goes, so a
// quick reconnect changes nothing a person sees.
type roster struct {
	h *Hub

	// mu guards everything below. It is taken before the hub's mu, never
	// after: a change is queued for the streams while it is held, so a
	// stream that registers under it gets a snapshot and exactly the
	// changes after it.
	mu    sync.Mutex
	conns map[string]*rosterConn
	rooms map[string]*roomRoster
	// closing are the connections in their grace period, by person.
	closing map[string]map[*rosterConn]struct{}
	gen     uint64 // numbers grace periods, so a stale timer does nothing
	closed  bool
}

// rosterConn is one connection the roster knows.
type rosterConn struct {
	c       Conn
	closing uint64 // the grace period it is in (0: open)
	timer   *time.Timer
}

// roomRoster is who is in one room.
type roomRoster struct {
	people    map[string]*Person // by Who.Key
	anonymous int
	frame     []byte // the roster event, nil when it must be framed again
}

func newRoster(h *Hub) *roster {
	return &roster{h: h, conns: map[string]*rosterConn{}, rooms: map[string]*roomRoster{}, closing: map[string]map[*rosterConn]struct{}{}}
}

// apply takes a presence fact into the roster.
func (r *roster) apply(c Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	rc := r.conns[c.ID]
	switch {
	case rc != nil && (c.Epoch < rc.c.Epoch || c.Closed && c.Epoch != rc.c.Epoch):
		// About a stream the id has passed on from: stale.
	case c.Closed && (rc == nil || rc.closing != 0):
		// Unknown or already closing: nothing to do.
	case c.Closed && r.h.Grace <= 0:
		r.remove(rc)
	case c.Closed:
		r.gen++
		gen := r.gen
		rc.closing = gen
		rc.timer = time.AfterFunc(r.h.Grace, func() { r.expire(c.ID, gen) })
		r.setClosing(rc, true)
	case rc == nil:
		if old := r.predecessor(c); old != nil {
			r.supersede(old, c)
			return
		}
		r.conns[c.ID] = &rosterConn{c: c}
		for _, room := range c.Rooms {
			r.add(room, c)
		}
	default:
		r.reopen(rc, c)
	}
}

// reopen applies the opening of a known connection: one that came back
// within its grace period, or changed its rooms.
func (r *roster) reopen(rc *rosterConn, c Conn) {
	r.stopGrace(rc)
	old := rc.c
	rc.c = c
	// Another person under the same id (never from a hub) leaves, then joins.
	for _, room := range old.Rooms {
		if old.Who != c.Who || !slices.Contains(c.Rooms, room) {
			r.drop(room, old)
		}
	}
	for _, room := range c.Rooms {
		if old.Who != c.Who || !slices.Contains(old.Rooms, room) {
			r.add(room, c)
		}
	}
}

// expire ends a grace period, unless the connection came back meanwhile.
func (r *roster) expire(id string, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rc := r.conns[id]; !r.closed && rc != nil && rc.closing == gen {
		r.remove(rc)
	}
}

// setClosing files rc under its person's connections in their grace
// period, or takes it out.
func (r *roster) setClosing(rc *rosterConn, closing bool) {
	key := rc.c.Who.Key
	if closing {
		if r.closing[key] == nil {
			r.closing[key] = map[*rosterConn]struct{}{}
		}
		r.closing[key][rc] = struct{}{}
		return
	}
	delete(r.closing[key], rc)
	if len(r.closing[key]) == 0 {
		delete(r.closing, key)
	}
}

// stopGrace ends rc's grace period, if it is in one.
func (r *roster) stopGrace(rc *rosterConn) {
	if rc.timer != nil {
		rc.timer.Stop()
		rc.timer = nil
	}
	rc.closing = 0
	r.setClosing(rc, false)
}

// predecessor returns a connection of c's person with the same rooms in
// its grace period, if there is one: the stream a new one most likely
// replaces.
func (r *roster) predecessor(c Conn) *rosterConn {
	for rc := range r.closing[c.Who.Key] {
		if rc.c.Who == c.Who && sameRooms(rc.c.Rooms, c.Rooms) {
			return rc
		}
	}
	return nil
}

// supersede puts new connection c in the place of old, a stream of the
// same person and rooms in its grace period: the old one goes at once and
// each room is told once, as an update (a reconnect that did not ask for
// its id changes the person's connections, nothing more).
func (r *roster) supersede(old *rosterConn, c Conn) {
	r.stopGrace(old)
	delete(r.conns, old.c.ID)
	r.conns[c.ID] = &rosterConn{c: c}
	for _, room := range c.Rooms {
		rr := r.rooms[room]
		if c.Who.Anonymous() && rr != nil {
			continue // the same count
		}
		var p *Person
		if rr != nil {
			p = rr.people[c.Who.Key]
		}
		i := -1
		if p != nil {
			i = slices.Index(p.Connections, old.c.ID)
		}
		if i < 0 { // cannot be, old was there; but never panic for it
			r.add(room, c)
			continue
		}
		rr.frame = nil
		p.Connections = slices.Clone(p.Connections)
		p.Connections[i] = c.ID
		r.h.deliver(room, ephemeralFrame("presence", personData(room, presenceUpdate, *p)), nil)
	}
}

// sameRooms reports whether a and b hold the same rooms.
func sameRooms(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, room := range a {
		if !slices.Contains(b, room) {
			return false
		}
	}
	return true
}

// remove takes a connection out of the roster and its rooms.
func (r *roster) remove(rc *rosterConn) {
	r.setClosing(rc, false)
	delete(r.conns, rc.c.ID)
	for _, room := range rc.c.Rooms {
		r.drop(room, rc.c)
	}
}

// add puts connection c into room and tells the room's streams.
func (r *roster) add(room string, c Conn) {
	rr := r.rooms[room]
	if rr == nil {
		rr = &roomRoster{people: map[string]*Person{}}
		r.rooms[room] = rr
	}
	rr.frame = nil
	if c.Who.Anonymous() {
		rr.anonymous++
		r.h.deliver(room, ephemeralFrame("presence", anonymousData(room, rr.anonymous)), nil)
		return
	}
	kind := presenceUpdate
	p := rr.people[c.Who.Key]
	if p == nil {
		kind, p = presenceJoin, &Person{Name: c.Who.Name, Guest: c.Who.Guest}
		rr.people[c.Who.Key] = p
	}
	if !slices.Contains(p.Connections, c.ID) {
		p.Connections = append(slices.Clone(p.Connections), c.ID)
	}
	r.h.deliver(room, ephemeralFrame("presence", personData(room, kind, *p)), nil)
}

// drop takes connection c out of room and tells the room's streams.
func (r *roster) drop(room string, c Conn) {
	rr := r.rooms[room]
	if rr == nil {
		return
	}
	rr.frame = nil
	if c.Who.Anonymous() {
		rr.anonymous--
		r.h.deliver(room, ephemeralFrame("presence", anonymousData(room, rr.anonymous)), nil)
	} else if p := rr.people[c.Who.Key]; p != nil {
		// A new slice: the old one may be in a snapshot being encoded.
		p.Connections = slices.DeleteFunc(slices.Clone(p.Connections), func(id string) bool { return id == c.ID })
		kind := presenceUpdate
		if len(p.Connections) == 0 {
			kind = presenceLeave
			delete(rr.people, c.Who.Key)
		}
		r.h.deliver(room, ephemeralFrame("presence", personData(room, kind, *p)), nil)
	}
	if len(rr.people) == 0 && rr.anonymous <= 0 {
		delete(r.rooms, room)
	}
}

// snapshot returns who is in room, people by name. r.mu must be held.
func (r *roster) snapshot(room string) Presence {
	p := Presence{Room: room, People: []Person{}, Typing: []Typist{}}
	if rr := r.rooms[room]; rr != nil {
		for _, person := range rr.people {
			p.People = append(p.People, *person)
		}
		p.Anonymous = rr.anonymous
	}
	sort.Slice(p.People, func(i, j int) bool { return p.People[i].Name < p.People[j].Name })
	return p
}

// rosterFrame returns the roster event of room, framed once per change
// however many streams start meanwhile. r.mu must be held.
func (r *roster) rosterFrame(room string) []byte {
	rr := r.rooms[room]
	if rr != nil && rr.frame != nil {
		return rr.frame
	}
	p := r.snapshot(room)
	b, _ := json.Marshal(struct {
		Room      string   `json:"room"`
		Kind      string   `json:"kind"`
		People    []Person `json:"people"`
		Anonymous int      `json:"anonymous"`
	}{room, presenceRoster, p.People, p.Anonymous})
	f := appendMarker(nil, "presence", b)
	if rr != nil {
		rr.frame = f
	}
	return f
}

// reusable reports whether a new stream of who may take over connection
// id: a connection of the same person on this node, closed within its
// grace period or still open (a client that reconnects often does so
// before the server has noticed that its old connection is dead).
// r.mu must be held.
func (r *roster) reusable(id string, who Who) bool {
	rc := r.conns[id]
	return rc != nil && !who.Anonymous() && rc.c.Who.Key == who.Key && NodeOf(id) == r.h.Node
}

// owns reports whether connection id is a stream of room of the person
// with key.
func (r *roster) owns(id, room, key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rc := r.conns[id]
	return rc != nil && key != "" && rc.c.Who.Key == key && slices.Contains(rc.c.Rooms, room)
}

// close stops every grace period: the hub is closing.
func (r *roster) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, rc := range r.conns {
		if rc.timer != nil {
			rc.timer.Stop()
		}
	}
}

// personData is the data of a join, update or leave.
func personData(room, kind string, p Person) []byte {
	if p.Connections == nil {
		p.Connections = []string{}
	}
	b, _ := json.Marshal(struct {
		Room string `json:"room"`
		Kind string `json:"kind"`
		Person
	}{room, kind, p})
	return b
}

// anonymousData is the data of a change of the number of anonymous streams.
func anonymousData(room string, n int) []byte {
	b, _ := json.Marshal(struct {
		Room      string `json:"room"`
		Kind      string `json:"kind"`
		Anonymous int    `json:"anonymous"`
	}{room, presenceAnonymous, n})
	return b
}
