// Package stream fans committed events out to subscribers and serves them as
// Server-Sent Events: replay from the log after a cursor, then live, with no
// gap and no duplicate across the hand-off. Publishing never blocks on a
// subscriber; one that falls behind is cut off and resumes from the log.
package stream

import (
	"context"
	"errors"
	"log/slog"
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

	log   Source
	unsub func()
	stats hubStats

	// life ends at Close, and with it every stream, even one in a read.
	life    context.Context
	closing context.CancelFunc

	mu      sync.RWMutex // guards rooms, closed, started and paced
	rooms   map[string]map[*subscriber]struct{}
	closed  bool
	started bool // the first subscribe has read FlushInterval
	paced   bool // FlushInterval > 0: pace wakes the streams

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
		log:           log,
		rooms:         map[string]map[*subscriber]struct{}{},
		kick:          make(chan struct{}, 1),
	}
	h.life, h.closing = context.WithCancel(context.Background())
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
	h.closing()
	h.unsub()
}

// Stats are counters of a hub's activity since it started.
type Stats struct {
	Open          int64 // streams open now
	Opened        int64 // streams opened
	Delivered     int64 // events written to clients, live and replayed
	Replayed      int64 // events written from the log after a cursor
	SlowConsumers int64 // streams closed because the client fell behind or stopped reading
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
			if s.push(f) {
				wake = append(wake, s)
			}
		}
	}
	if len(wake) > 0 {
		h.wake(wake)
	}
	clear(wake)
	h.toWake = wake
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
	if !h.started {
		h.started, h.paced = true, h.FlushInterval > 0
		if h.paced {
			go h.pace(h.FlushInterval)
		}
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

// frame is a record framed for the wire, shared by every subscriber it is
// queued for: read it, never modify it.
type frame struct {
	id ulid.ULID
	b  []byte
}

// subscriber is one stream's bounded queue of live records.
type subscriber struct {
	rooms     []string
	wake      chan struct{} // capacity 1: "the queue changed"
	maxEvents int
	maxBytes  int

	mu       sync.Mutex // guards queue, bytes and overflow
	queue    []frame
	bytes    int
	overflow bool
}

// push queues f without blocking and reports whether the queue was empty,
// so the subscriber needs a wake-up. Past the bounds the subscriber is
// marked overflowed, once, and its queue dropped: it will catch up from the
// log.
func (s *subscriber) push(f frame) (wasEmpty bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overflow {
		return false
	}
	wasEmpty = len(s.queue) == 0
	s.queue = append(s.queue, f)
	s.bytes += len(f.b)
	if len(s.queue) > s.maxEvents || s.bytes > s.maxBytes {
		s.overflow, s.queue, s.bytes = true, nil, 0
	}
	return wasEmpty
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
