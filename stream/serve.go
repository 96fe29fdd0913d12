package stream

import (
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
)

// Request says what a stream carries.
type Request struct {
	// Rooms are the rooms whose events the stream carries.
	Rooms []string
	// Resume asks for every event after Cursor to be replayed before live
	// events; without it the stream is live only.
	Resume bool
	Cursor ulid.ULID
}

// Result describes a stream that has ended.
type Result struct {
	Replayed int           // events sent from the log
	Live     int           // events sent as they were published
	Duration time.Duration // how long the stream was open
	Reason   string        // why it ended
}

// Serve streams req's rooms to w as Server-Sent Events until the client goes
// away, the hub closes, or the client falls too far behind (its stream is
// closed; it resumes with Last-Event-ID and catches up from the log).
// It returns an error, having written nothing, only if the hub is closed.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, req Request) (Result, error) {
	// Subscribe before reading the log: whatever is committed after this
	// point is queued, whatever before is in the log. Ids at or below the
	// last one sent are skipped, so the overlap is never sent twice.
	sub, err := h.subscribe(req.Rooms)
	if err != nil {
		return Result{}, err
	}
	defer func() { h.unsubscribe(sub) }()
	h.stats.open.Add(1)
	h.stats.opened.Add(1)
	defer h.stats.open.Add(-1)

	s := &sseWriter{w: w, rc: http.NewResponseController(w), timeout: h.WriteTimeout}
	defer s.rc.SetWriteDeadline(time.Time{}) // the connection may be reused
	var res Result
	start := time.Now()
	end := func(reason string) Result {
		res.Reason, res.Duration = reason, time.Since(start)
		return res
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer this response
	w.WriteHeader(http.StatusOK)
	s.buf = append(s.buf, "retry: "...)
	s.buf = strconv.AppendInt(s.buf, h.Retry.Milliseconds(), 10)
	s.buf = append(s.buf, "\n\n"...)
	if err := s.flush(); err != nil {
		return end("write: " + err.Error()), nil
	}

	last := req.Cursor
	if req.Resume {
		// Say so first if retention deleted events the client asked for.
		for _, room := range req.Rooms {
			pruned, oldest, err := h.log.Horizon(r.Context(), room)
			if err != nil {
				return end("horizon: " + err.Error()), nil
			}
			if pruned != (ulid.ULID{}) && req.Cursor.Compare(pruned) < 0 {
				s.buf = appendReset(s.buf, room, req.Cursor, oldest)
			}
		}
		for {
			recs, err := h.log.ReadAfter(r.Context(), req.Rooms, last, h.ReplayPage)
			if err != nil {
				if r.Context().Err() == nil {
					h.Logger.Error("stream replay", "err", err)
				}
				return end("replay: " + err.Error()), nil
			}
			for _, rec := range recs {
				s.buf = appendRecord(s.buf, rec)
				if len(s.buf) >= replayChunk {
					if err := s.write(); err != nil {
						return end("write: " + err.Error()), nil
					}
				}
			}
			if len(recs) > 0 {
				last = recs[len(recs)-1].ID
				res.Replayed += len(recs)
				h.stats.replayed.Add(int64(len(recs)))
				h.stats.delivered.Add(int64(len(recs)))
				if err := s.flush(); err != nil {
					return end("write: " + err.Error()), nil
				}
			}
			if len(recs) == h.ReplayPage {
				continue
			}
			// Caught up. If live records overflowed the queue meanwhile, they
			// are in the log: subscribe afresh and keep reading.
			if !sub.overflowed() {
				break
			}
			h.unsubscribe(sub)
			if sub, err = h.subscribe(req.Rooms); err != nil {
				return end("hub closed"), nil
			}
		}
	}

	// The heartbeat is a callback, not a channel in the select below: a
	// timer channel there costs a timer update at every wake-up.
	var beat atomic.Bool
	live := sub
	heartbeat := time.AfterFunc(h.Heartbeat, func() { beat.Store(true); live.signal() })
	defer heartbeat.Stop()
	var spare []frame
	for {
		select {
		case <-r.Context().Done():
			return end("client gone"), nil
		case <-h.done:
			return end("server closing"), nil
		case <-sub.wake:
		}
		frames, overflow := sub.take(spare)
		if overflow {
			h.stats.slow.Add(1)
			return end("slow consumer"), nil
		}
		sent := 0
		for _, f := range frames {
			if f.id.Compare(last) <= 0 {
				continue // already replayed
			}
			s.buf = append(s.buf, f.b...)
			last = f.id
			sent++
		}
		res.Live += sent
		h.stats.delivered.Add(int64(sent))
		clear(frames)
		spare = frames
		if beat.Swap(false) {
			idle := time.Since(s.last)
			if len(s.buf) > 0 || idle >= h.Heartbeat {
				if len(s.buf) == 0 {
					s.buf = append(s.buf, ":\n\n"...)
				}
				idle = 0
			}
			heartbeat.Reset(h.Heartbeat - idle)
		}
		if len(s.buf) == 0 {
			continue
		}
		// One write and one flush per wake-up, however many records queued.
		if err := s.flush(); err != nil {
			return end("write: " + err.Error()), nil
		}
	}
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
