package stream

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// Request says what a stream carries.
type Request struct {
	// Rooms are the rooms whose events the stream carries.
	Rooms []string
	// Resume asks for every event after Cursor to be replayed before live
	// events; without it the stream is live only.
	Resume bool
	Cursor ulid.ULID
	// Who the stream belongs to, for presence (zero: anonymous).
	Who Who
	// Connection asks to keep the connection id of a stream of the same
	// person that closed less than Grace ago on this node, so a reconnect
	// changes nothing in presence and a call keeps its address. Otherwise
	// (or if empty) the stream gets a new id.
	Connection string
}

// Result describes a stream that has ended.
type Result struct {
	Connection string        // the stream's connection id
	Replayed   int           // events sent from the log
	Live       int           // events sent as they were published
	Ephemeral  int           // ephemeral events sent
	Duration   time.Duration // how long the stream was open
	Reason     string        // why it ended
}

// Serve streams req's rooms to w as Server-Sent Events until the client goes
// away, the hub closes, or the client falls too far behind (its stream is
// closed; it resumes with Last-Event-ID and catches up from the log).
// It returns an error, having written nothing, only if the hub is closed.
//
// A stream has phases, each a method of conn returning why the stream
// ends, or "" to go on to the next: open (headers and the retry line),
// greet (hello, who is in each room, who is typing, and the first page of
// replay), replay (the rest of what the log has after the cursor, if
// resuming), caught up (the live marker) and live (what is published).
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, req Request) (Result, error) {
	// Subscribe before reading the log: whatever is committed after this
	// point is queued, whatever before is in the log. Ids at or below the
	// last one sent are skipped, so the overlap is never sent twice. The
	// subscriber stays the same for the whole stream.
	sub, rosters, err := h.register(req)
	if err != nil {
		return Result{}, err
	}
	defer h.unregister(sub)
	h.stats.open.Add(1)
	h.stats.opened.Add(1)
	defer h.stats.open.Add(-1)

	// The stream's context ends with the client's request or the hub.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(h.life, cancel)()
	sub.setStop(cancel)

	c := &conn{h: h, sub: sub, req: req, last: req.Cursor, start: time.Now(),
		s: sseWriter{w: w, rc: http.NewResponseController(w), timeout: h.WriteTimeout}}
	c.res.Connection = sub.id
	defer c.s.rc.SetWriteDeadline(time.Time{}) // the connection may be reused
	reason := c.open()
	var first store.Replay
	if reason == "" && req.Resume {
		first, reason = c.read(ctx)
	}
	if reason == "" {
		reason = c.greet(first, rosters)
	}
	if reason == "" && req.Resume {
		reason = c.replay(ctx, first)
	}
	if reason == "" {
		reason = c.caughtUp()
	}
	if reason == "" {
		reason = c.live(ctx)
	}
	c.res.Reason, c.res.Duration = reason, time.Since(c.start)
	return c.res, nil
}

// register subscribes a stream and tells presence. The subscriber is
// registered under the roster's lock with the snapshot of who is in its
// rooms (the roster events it returns), so that snapshot and the changes
// queued after it are one consistent sequence.
func (h *Hub) register(req Request) (*subscriber, []byte, error) {
	h.roster.mu.Lock()
	id := ""
	if h.roster.reusable(req.Connection, req.Who) {
		id = req.Connection
	}
	sub, err := h.subscribe(req.Rooms, req.Who, id)
	var rosters []byte
	if err == nil {
		for _, room := range req.Rooms {
			rosters = append(rosters, h.roster.rosterFrame(room)...)
		}
	}
	h.roster.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	h.Relay.Connection(Conn{ID: sub.id, Epoch: sub.epoch, Who: req.Who, Rooms: req.Rooms})
	return sub, rosters, nil
}

// unregister ends a subscription and tells presence (which ignores it if a
// newer stream took the id over).
func (h *Hub) unregister(sub *subscriber) {
	h.unsubscribe(sub)
	h.Relay.Connection(Conn{ID: sub.id, Epoch: sub.epoch, Who: sub.who, Rooms: sub.rooms, Closed: true})
}

// conn is one stream while Serve runs it.
type conn struct {
	h     *Hub
	sub   *subscriber
	req   Request
	s     sseWriter
	last  ulid.ULID            // the last id sent (or the cursor)
	told  map[string]ulid.ULID // by room, the end of the last gap a reset announced
	res   Result
	start time.Time
}

// open sends the headers and the reconnection delay.
func (c *conn) open() string {
	hdr := c.s.w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer this response
	c.s.w.WriteHeader(http.StatusOK)
	c.s.buf = append(c.s.buf, "retry: "...)
	c.s.buf = strconv.AppendInt(c.s.buf, c.h.Retry.Milliseconds(), 10)
	c.s.buf = append(c.s.buf, "\n\n"...)
	return c.flush()
}

// greet sends the hello, then who is in each room and who is typing there.
// A resumed stream has read its first page of replay already: the hello
// says whether it lost nothing (recovered), which needs that page's gaps.
func (c *conn) greet(first store.Replay, rosters []byte) string {
	c.s.buf = appendHello(c.s.buf, c.h.Server, c.req, c.sub.id, len(first.Gaps) == 0)
	c.s.buf = append(c.s.buf, rosters...)
	n := 0
	now := c.h.Now()
	for _, room := range c.req.Rooms {
		for _, t := range c.h.typing.list(room, now, c.req.Who.Key) {
			c.s.buf = appendMarker(c.s.buf, TypeTyping, typingData(room, t.Author, t.ExpiresInMS))
			n++
		}
	}
	c.countEphemeral(n + len(c.req.Rooms))
	return c.flush()
}

// caughtUp sends the live marker: what follows is live.
func (c *conn) caughtUp() string {
	c.s.buf = appendLive(c.s.buf, c.last)
	return c.flush()
}

// countEphemeral counts ephemeral events sent.
func (c *conn) countEphemeral(n int) {
	c.res.Ephemeral += n
	c.h.stats.ephemeral.Add(int64(n))
}

// live sends what the subscriber queues, skipping what replay sent, until
// the stream ends.
func (c *conn) live(ctx context.Context) string {
	// The heartbeat is a callback, not a channel in the select below: a
	// timer channel there costs a timer update at every wake-up.
	var beat atomic.Bool
	heartbeat := time.AfterFunc(c.h.Heartbeat, func() { beat.Store(true); c.sub.signal() })
	defer heartbeat.Stop()
	var spare []frame
	for {
		select {
		case <-ctx.Done():
			return c.stopped()
		case <-c.sub.wake:
		}
		frames, overflow := c.sub.take(spare)
		if overflow {
			c.h.stats.slow.Add(1)
			return "slow consumer: queue overflowed"
		}
		sent, ephemeral := 0, 0
		for _, f := range frames {
			switch {
			case f.ephemeral:
				ephemeral++ // never history: sent whatever was replayed
			case f.id.Compare(c.last) <= 0:
				continue // already replayed
			default:
				c.last = f.id
				sent++
			}
			c.s.buf = append(c.s.buf, f.b...)
		}
		c.res.Live += sent
		c.h.stats.delivered.Add(int64(sent))
		c.countEphemeral(ephemeral)
		clear(frames)
		spare = frames
		if beat.Swap(false) {
			idle := time.Since(c.s.last)
			if len(c.s.buf) > 0 || idle >= c.h.Heartbeat {
				if len(c.s.buf) == 0 {
					c.s.buf = append(c.s.buf, ":\n\n"...)
				}
				idle = 0
			}
			heartbeat.Reset(c.h.Heartbeat - idle)
		}
		// One write and one flush per wake-up, however many records queued.
		if reason := c.flush(); reason != "" {
			return reason
		}
	}
}

// flush writes and flushes what is buffered, if anything, and returns why
// the stream ends if that fails.
func (c *conn) flush() string {
	if len(c.s.buf) == 0 {
		return ""
	}
	if err := c.s.flush(); err != nil {
		return c.writeFailed(err)
	}
	return ""
}

// writeFailed returns why the stream ends after a failed write. A client
// that accepted nothing for WriteTimeout is a slow consumer, like one whose
// queue overflowed.
func (c *conn) writeFailed(err error) string {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.h.stats.slow.Add(1)
		return "slow consumer: write timed out"
	}
	return "write: " + err.Error()
}

// stopped returns why the stream's context ended.
func (c *conn) stopped() string {
	if c.h.life.Err() != nil {
		return "server closing"
	}
	if c.sub.wasTaken() {
		return "taken over by a new stream of the same connection"
	}
	return "client gone"
}

// replayChunk is how much replayed data is buffered before a write.
const replayChunk = 64 << 10

// sseWriter batches frames and writes them with a deadline.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
	last    time.Time // start of the last write
	renewed time.Time // when the write deadline was last set
}

// flush writes the buffer and flushes it to the client. A client that takes
// longer than the timeout to accept it is cut off.
func (s *sseWriter) flush() error {
	if err := s.write(); err != nil {
		return err
	}
	if cap(s.buf) > 2*replayChunk {
		s.buf = nil // don't keep a large buffer on an idle stream
	}
	return s.rc.Flush()
}

// write hands the buffer to the ResponseWriter without flushing.
func (s *sseWriter) write() error {
	s.last = time.Now()
	// Moving the deadline costs a timer update; doing it only once an eighth
	// of the timeout has passed still leaves each write at least 7/8 of it.
	if s.timeout > 0 && s.last.Sub(s.renewed) >= s.timeout/8 {
		if err := s.rc.SetWriteDeadline(s.last.Add(s.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		s.renewed = s.last
	}
	_, err := s.w.Write(s.buf)
	s.buf = s.buf[:0]
	return err
}
