// Package stream fans committed events out to subscribers and serves them as
// Server-Sent Events: replay from the log after a cursor, then live, with no
// gap and no duplicate across the hand-off. Publishing never blocks on a
// subscriber; one that falls behind is cut off and resumes from the log.
package stream

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/store"
)

// ErrClosed is returned by Serve after the hub is closed.
var ErrClosed = errors.New("stream hub closed")

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
	// for that long is disconnected.
	WriteTimeout time.Duration
	// ReplayPage is how many records one replay read returns.
	ReplayPage int
	// Logger receives stream errors.
	Logger *slog.Logger

	log   store.Log
	unsub func()
	stats hubStats

	mu     sync.RWMutex // guards rooms and closed
	rooms  map[string]map[*subscriber]struct{}
	closed bool
	done   chan struct{} // closed by Close: every stream ends
}

// NewHub returns a hub with default settings, subscribed to log.
func NewHub(log store.Log) *Hub {
	h := &Hub{
		Heartbeat:    15 * time.Second,
		Retry:        2 * time.Second,
		BufferEvents: 2048,
		BufferBytes:  4 << 20,
		WriteTimeout: 10 * time.Second,
		ReplayPage:   1000,
		Logger:       slog.Default(),
		log:          log,
		rooms:        map[string]map[*subscriber]struct{}{},
		done:         make(chan struct{}),
	}
	h.unsub = log.Subscribe(h.publish)
	return h
}

// Close ends every stream and stops publishing. It is safe to call twice.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	close(h.done)
	h.unsub()
}

// Stats are counters of a hub's activity since it started.
type Stats struct {
	Open          int64 // streams open now
	Opened        int64 // streams opened
	Delivered     int64 // events written to clients, live and replayed
	Replayed      int64 // events written from the log after a cursor
	SlowConsumers int64 // streams closed because the client fell behind
}

// hubStats holds the counters behind Stats.
type hubStats struct {
	open, opened, delivered, replayed, slow atomic.Int64
}

// Stats returns the hub's counters. It is cheap and safe to call at any time.
func (h *Hub) Stats() Stats {
	return Stats{
		Open: h.stats.open.Load(), Opened: h.stats.opened.Load(), Delivered: h.stats.delivered.Load(),
		Replayed: h.stats.replayed.Load(), SlowConsumers: h.stats.slow.Load(),
	}
}

// publish is the log's subscriber: it runs on the log's writer, in commit
// order, so it must not block. It only queues.
func (h *Hub) publish(recs []store.Record) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for i := range recs {
		for s := range h.rooms[recs[i].Room] {
			s.push(recs[i])
		}
	}
}

func (h *Hub) subscribe(rooms []string) (*subscriber, error) {
	s := &subscriber{
		rooms:     rooms,
		wake:      make(chan struct{}, 1),
		maxEvents: h.BufferEvents,
		maxBytes:  h.BufferBytes,
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
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

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, room := range s.rooms {
		delete(h.rooms[room], s)
		if len(h.rooms[room]) == 0 {
			delete(h.rooms, room)
		}
	}
}

// subscriber is one stream's bounded queue of live records.
type subscriber struct {
	rooms     []string
	wake      chan struct{} // capacity 1: "the queue changed"
	maxEvents int
	maxBytes  int

	mu       sync.Mutex // guards queue, bytes and overflow
	queue    []store.Record
	bytes    int
	overflow bool
}

// push queues rec without blocking. Past the bounds the subscriber is marked
// overflowed, once, and its queue dropped: it will catch up from the log.
func (s *subscriber) push(rec store.Record) {
	s.mu.Lock()
	if s.overflow {
		s.mu.Unlock()
		return
	}
	s.queue = append(s.queue, rec)
	s.bytes += len(rec.JSON)
	if len(s.queue) > s.maxEvents || s.bytes > s.maxBytes {
		s.overflow, s.queue, s.bytes = true, nil, 0
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take empties the queue, handing its records over. spare is an empty slice
// to reuse as the next queue.
func (s *subscriber) take(spare []store.Record) (recs []store.Record, overflow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, s.queue, s.bytes = s.queue, spare[:0], 0
	return recs, s.overflow
}

// overflowed reports whether the subscriber fell behind and was cut off.
func (s *subscriber) overflowed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overflow
}
