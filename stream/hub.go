// Package stream fans committed events out to subscribers and serves them as
// Server-Sent Events: replay from the log after a cursor, then live, with no
// gap and no duplicate across the hand-off. Publishing never blocks on a
// subscriber; one that falls behind is cut off and resumes from the log.
//
// Streams also carry what is live but not history (docs/live.md): who is
// in a room, who is typing, call signalling. Those ephemeral events have no
// id, so they never move a client's resume point; they reach the hub
// through a Relay, which cluster mode carries between nodes.
package stream

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// ErrClosed is returned by Serve after the hub is closed.
var ErrClosed = errors.New("stream hub closed")

// Source is what a hub needs of the log: its committed records as they are
// committed, and pages of replay after a cursor with the gaps retention
// left. store.Log keeps both promises the hub relies on: a record handed
// to the Subscribe function is already visible to ReadReplay (the hand-off
// from replay to live), and a page's gaps come from the snapshot of its
// records (no silent gap).
type Source interface {
	Subscribe(fn func([]store.Record)) (unsubscribe func())
	ReadReplay(ctx context.Context, rooms []string, after ulid.ULID, limit int) (store.Replay, error)
}

// Hub routes the log's committed records to the subscribers of their rooms.
// Set its exported fields before the first Serve. It is safe for concurrent use.
type Hub struct {
	// Heartbeat is the interval of comment lines on an idle stream.
	Heartbeat time.Duration
	// Retry is the reconnection delay sent to clients.
	Retry time.Duration
	// BufferEvents and BufferBytes bound what may queue for one subscriber;
	// past either, the subscriber's stream is closed.
	BufferEvents int
	BufferBytes  int
	// WriteTimeout bounds one write to a client; a client that reads nothing
	// for that long is disconnected. The deadline is renewed lazily, so a
	// write may be cut off after as little as 7/8 of it.
	WriteTimeout time.Duration
	// ReplayPage is how many records one replay read returns.
	ReplayPage int
	// FlushInterval is the least time between two wake-ups of the streams
	// while events keep coming: what is published meanwhile goes to each
	// client in one write. The first event after a quiet spell goes out at
	// once. 0 wakes the streams at every commit.
	FlushInterval time.Duration
	// Logger receives stream errors.
	Logger *slog.Logger

	// Server names the server in every stream's hello, like "parley/1.2.0".
	Server string
	// Node is this node's part of connection ids: unique among the nodes
	// of a cluster. NewHub picks a random one.
	Node string
	// Grace is how long a closed stream still counts in presence, so a
	// client that reconnects at once never seems to leave (0: none).
	Grace time.Duration
	// TypingTTL is how long a typing indicator lasts unless renewed.
	TypingTTL time.Duration
	// Relay carries presence and ephemeral events between nodes; NewHub
	// sets a LocalRelay.
	Relay Relay
	// Now is the clock of typing expiry.
	Now func() time.Time

	log    Source
	unsub  func()
	stats  hubStats
	roster *roster
	typing typingState
	detach func() // from Relay

	// life ends at Close, and with it every stream, even one in a read.
	life    context.Context
	closing context.CancelFunc

	mu       sync.RWMutex // guards rooms, conns, nextConn, epoch, closed, detach and paced
	rooms    map[string]map[*subscriber]struct{}
	conns    map[string]*subscriber // by connection id
	nextConn uint64
	epoch    uint64 // of the last subscriber (see Conn.Epoch)
	closed   bool
	started  atomic.Bool // set under mu once the settings are read
	paced    bool        // FlushInterval > 0: pace wakes the streams

	toWake    []*subscriber // publish's scratch: the log calls it one batch at a time
	kick      chan struct{} // capacity 1: "pending is not empty"
	pendingMu sync.Mutex    // guards pending
	pending   []*subscriber // to wake: their queues went from empty to not
}

// NewHub returns a hub with default settings, subscribed to log.
func NewHub(log Source) *Hub {
	h := &Hub{
		Heartbeat:     15 * time.Second,
		Retry:         2 * time.Second,
		BufferEvents:  2048,
		BufferBytes:   4 << 20,
		WriteTimeout:  10 * time.Second,
		ReplayPage:    1000,
		FlushInterval: 10 * time.Millisecond,
		Logger:        slog.Default(),
		Server:        "parley/dev",
		Node:          newNode(),
		Grace:         5 * time.Second,
		TypingTTL:     5 * time.Second,
		Relay:         NewLocalRelay(),
		Now:           time.Now,
		log:           log,
		rooms:         map[string]map[*subscriber]struct{}{},
		conns:         map[string]*subscriber{},
		kick:          make(chan struct{}, 1),
	}
	h.roster = newRoster(h)
	h.life, h.closing = context.WithCancel(context.Background())
	h.unsub = log.Subscribe(h.publish)
	return h
}

// newNode returns a random node id: 8 characters of lower-case base32, so
// connection ids do not repeat across restarts.
func newNode() string {
	b := make([]byte, 5)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.EncodeToString(b))
}

// Close ends every stream and stops publishing. It is safe to call twice.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	h.closing()
	h.unsub()
	detach := h.detach
	h.mu.Unlock()
	if detach != nil {
		detach()
	}
	h.roster.close()
}

// start reads the settings once, at the first use of the hub: it starts
// pacing and attaches the hub to its relay. h.mu must be held for writing.
func (h *Hub) start() {
	if h.started.Load() {
		return
	}
	h.paced = h.FlushInterval > 0
	if h.paced {
		go h.pace(h.FlushInterval)
	}
	h.detach = h.Relay.Attach(receiver{h})
	h.started.Store(true)
}

// ensureStarted starts the hub if nothing has yet; cheap once it has.
func (h *Hub) ensureStarted() error {
	if h.started.Load() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	h.start()
	return nil
}

// Stats are counters of a hub's activity since it started.
type Stats struct {
	Open          int64 // streams open now
	Opened        int64 // streams opened
	Delivered     int64 // events written to clients, live and replayed
	Replayed      int64 // events written from the log after a cursor
	SlowConsumers int64 // streams closed because the client fell behind or stopped reading
	Ephemeral     int64 // ephemeral events written to clients (presence, typing, signals)
}

// hubStats holds the counters behind Stats.
type hubStats struct {
	open, opened, delivered, replayed, slow, ephemeral atomic.Int64
}

// Stats returns the hub's counters. It is cheap and safe to call at any time.
func (h *Hub) Stats() Stats {
	return Stats{
		Open: h.stats.open.Load(), Opened: h.stats.opened.Load(), Delivered: h.stats.delivered.Load(),
		Replayed: h.stats.replayed.Load(), SlowConsumers: h.stats.slow.Load(), Ephemeral: h.stats.ephemeral.Load(),
	}
}

// publish is the log's subscriber: it runs on the log's writer, in commit
// order, so it must not block. It frames each record once, queues the frame
// for every subscriber of its room, and leaves the waking to wake.
func (h *Hub) publish(recs []store.Record) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	wake := h.toWake[:0]
	for i := range recs {
		subs := h.rooms[recs[i].Room]
		if len(subs) == 0 {
			continue
		}
		// Each frame has its own array: a shared one would keep a whole
		// batch alive for as long as any subscriber holds any frame of it.
		b := make([]byte, 0, len(recs[i].JSON)+len(recs[i].Type)+frameOverhead)
		f := frame{id: recs[i].ID, b: appendRecord(b, recs[i])}
		for s := range subs {
			if wasEmpty, _ := s.push(f); wasEmpty {
				wake = append(wake, s)
			}
		}
		if recs[i].Type == store.TypeMessage {
			h.typed(recs[i]) // a message ends its author's typing
		}
	}
	if len(wake) > 0 {
		h.wake(wake)
	}
	clear(wake)
	h.toWake = wake
}

// deliver queues an ephemeral frame for the streams of room that want it
// (nil: all) and wakes them. It never blocks.
func (h *Hub) deliver(room string, f frame, want func(*subscriber) bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	h.deliverLocked(room, f, want)
}

// deliverLocked is deliver with h.mu held.
func (h *Hub) deliverLocked(room string, f frame, want func(*subscriber) bool) {
	var wake []*subscriber
	for s := range h.rooms[room] {
		if want != nil && !want(s) {
			continue
		}
		if wasEmpty, _ := s.push(f); wasEmpty {
			wake = append(wake, s)
		}
	}
	if len(wake) > 0 {
		h.wake(wake)
	}
}

// frameOverhead is what framing adds to a record's JSON and type.
const frameOverhead = len("id: \nevent: \ndata: \n\n") + 26 + 8

// wake signals subscribers whose queues were empty. Unpaced, it does so at
// once; paced, it hands them to pace, which wakes at most once per
// FlushInterval, so that under load every client gets one write per
// interval instead of one per commit.
func (h *Hub) wake(subs []*subscriber) {
	if !h.paced {
		for _, s := range subs {
			s.signal()
		}
		return
	}
	h.pendingMu.Lock()
	h.pending = append(h.pending, subs...)
	h.pendingMu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// pace wakes the pending subscribers when kicked, then rests for every
// before it looks again.
func (h *Hub) pace(every time.Duration) {
	rest := time.NewTimer(every)
	defer rest.Stop()
	var spare []*subscriber
	for {
		select {
		case <-h.kick:
		case <-h.life.Done():
			return
		}
		h.pendingMu.Lock()
		subs := h.pending
		h.pending = spare[:0]
		h.pendingMu.Unlock()
		for _, s := range subs {
			s.signal()
		}
		clear(subs)
		spare = subs
		rest.Reset(every)
		select {
		case <-rest.C:
		case <-h.life.Done():
			return
		}
	}
}

// subscribe registers a stream of who for rooms, as connection id if
// given (taking it over from a stream that still holds it, which ends),
// else under a new id.
func (h *Hub) subscribe(rooms []string, who Who, id string) (*subscriber, error) {
	s := &subscriber{
		rooms:     rooms,
		who:       who,
		wake:      make(chan struct{}, 1),
		maxEvents: h.BufferEvents,
		maxBytes:  h.BufferBytes,
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	h.start()
	if id == "" {
		h.nextConn++
		id = h.Node + "-" + strconv.FormatUint(h.nextConn, 36)
	} else if old := h.conns[id]; old != nil {
		old.takeOver()
	}
	h.epoch++
	s.id, s.epoch = id, h.epoch
	h.conns[id] = s
	for _, room := range rooms {
		subs := h.rooms[room]
		if subs == nil {
			subs = map[*subscriber]struct{}{}
			h.rooms[room] = subs
		}
		subs[s] = struct{}{}
	}
	return s, nil
}

// unsubscribe ends a subscription.
func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns[s.id] == s {
		delete(h.conns, s.id)
	}
	for _, room := range s.rooms {
		delete(h.rooms[room], s)
		if len(h.rooms[room]) == 0 {
			delete(h.rooms, room)
		}
	}
}

// frame is a record or an ephemeral event framed for the wire, shared by
// every subscriber it is queued for: read it, never modify it.
type frame struct {
	id ulid.ULID
	b  []byte
	// ephemeral marks an event without id: sent whatever was replayed, and
	// it leaves the stream's last id alone.
	ephemeral bool
}

// ephemeralFrame frames an ephemeral event of type typ.
func ephemeralFrame(typ string, data []byte) frame {
	return frame{b: appendMarker(nil, typ, data), ephemeral: true}
}

// subscriber is one stream's bounded queue of live records.
type subscriber struct {
	id        string // connection id
	epoch     uint64
	who       Who
	rooms     []string
	wake      chan struct{} // capacity 1: "the queue changed"
	maxEvents int
	maxBytes  int

	mu       sync.Mutex // guards queue, bytes, overflow, stop and taken
	queue    []frame
	bytes    int
	overflow bool
	stop     func() // ends the stream
	taken    bool   // another stream took its connection id over
}

// setStop arranges for stop to end the stream when another takes its
// connection id over, at once if that happened already.
func (s *subscriber) setStop(stop func()) {
	s.mu.Lock()
	s.stop = stop
	taken := s.taken
	s.mu.Unlock()
	if taken {
		stop()
	}
}

// takeOver ends the stream: a new one of the same person has its id.
func (s *subscriber) takeOver() {
	s.mu.Lock()
	s.taken = true
	stop := s.stop
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// wasTaken reports whether another stream took the connection id over.
func (s *subscriber) wasTaken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.taken
}

// push queues f without blocking and reports whether the queue was empty,
// so the subscriber needs a wake-up, and whether f was queued. Past the
// bounds the subscriber is marked overflowed, once, and its queue dropped:
// it will catch up from the log.
func (s *subscriber) push(f frame) (wasEmpty, queued bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overflow {
		return false, false
	}
	wasEmpty = len(s.queue) == 0
	s.queue = append(s.queue, f)
	s.bytes += len(f.b)
	if len(s.queue) > s.maxEvents || s.bytes > s.maxBytes {
		s.overflow, s.queue, s.bytes = true, nil, 0
		return wasEmpty, false
	}
	return wasEmpty, true
}

// carries reports whether the subscriber streams room.
func (s *subscriber) carries(room string) bool {
	for _, r := range s.rooms {
		if r == room {
			return true
		}
	}
	return false
}

// signal wakes the subscriber's stream without blocking.
func (s *subscriber) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// rearm clears an overflow, so the subscriber queues again, and reports
// whether there was one: what was dropped meanwhile is in the log.
func (s *subscriber) rearm() (overflowed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	overflowed, s.overflow = s.overflow, false
	return overflowed
}

// take empties the queue, handing its records over. spare is an empty slice
// to reuse as the next queue.
func (s *subscriber) take(spare []frame) (frames []frame, overflow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	frames, s.queue, s.bytes = s.queue, spare[:0], 0
	return frames, s.overflow
}
