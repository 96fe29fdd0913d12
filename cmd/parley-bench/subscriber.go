package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// subOptions is what all subscribers of one run share.
type subOptions struct {
	c       *client
	tag     runTag
	pub     *publisher // for resume latency: how many acked messages a room has
	bufSize int

	latency *Histogram // publish to receive; nil to skip
	connect *Histogram // dial to response headers
	resume  *Histogram // reconnect to first event, when events were waiting

	// dropAfter, if set, says how long each connection may live before the
	// subscriber drops it itself; stopDrops turns that off for the drain.
	dropAfter func(*rand.Rand) time.Duration
	stopDrops atomic.Bool
}

// subscriber follows one stream, reconnecting with Last-Event-ID whenever it
// ends, and checks what arrives: ids strictly increasing and each of this
// run's messages exactly once.
type subscriber struct {
	path        string // request path, query included
	queryCursor bool   // send the cursor as last_event_id in the query, not as a header
	room        int    // index into the publisher's rooms
	cursor      []byte // last id received, at first the starting cursor
	seen        []uint64
	unique      atomic.Int64 // distinct messages of this run received so far
	gaveUp      atomic.Bool  // run returned with err set
	rng         *rand.Rand

	// Owned by run until it returns.
	deliveries, dups, outOfOrder, foreign int64
	disconnects                           int64 // streams the server ended
	drops                                 int64 // streams this subscriber dropped on purpose
	first, last                           time.Duration
	err                                   error // why it gave up, if it did
}

// newSubscriber prepares subscriber number n of room (an index into the
// publisher's rooms) to expect up to messages messages after cursor.
func newSubscriber(path string, room, n int, cursor string, messages int, seed uint64) *subscriber {
	return &subscriber{
		path: path, room: room, cursor: []byte(cursor),
		seen: make([]uint64, (messages+63)/64),
		rng:  rand.New(rand.NewPCG(seed, uint64(n))),
	}
}

// run keeps a stream open until ctx is done. The result of the first
// connection attempt goes to ready; if it failed, run returns.
func (s *subscriber) run(ctx context.Context, o *subOptions, ready func(error)) {
	defer func() { s.gaveUp.Store(s.err != nil) }()
	if ctx.Err() != nil {
		s.err = ctx.Err()
		ready(s.err)
		return
	}
	failures := 0
	for i := 0; ctx.Err() == nil; i++ {
		t0 := time.Now()
		pending := o.pub != nil && o.pub.perRoom[s.room].Load() > s.unique.Load()
		path, header := s.path, string(s.cursor)
		if s.queryCursor {
			path, header = path+"?last_event_id="+header, ""
		}
		st, err := o.c.openStream(ctx, path, header, o.bufSize)
		if i == 0 {
			ready(err)
			if err != nil {
				s.err = err
				return
			}
		}
		if err != nil {
			if failures++; failures >= 20 {
				s.err = err
				return
			}
			select {
			case <-time.After(time.Duration(failures) * 20 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		failures = 0
		o.connect.Record(time.Since(t0))
		s.consume(ctx, o, st, t0, pending && i > 0)
	}
}

// consume reads one stream until it ends.
func (s *subscriber) consume(ctx context.Context, o *subOptions, st *stream, t0 time.Time, timeResume bool) {
	defer st.Close()
	stop := context.AfterFunc(ctx, st.Close)
	defer stop()
	var dropped atomic.Bool
	if o.dropAfter != nil && !o.stopDrops.Load() {
		t := time.AfterFunc(o.dropAfter(s.rng), func() {
			dropped.Store(true)
			st.Close()
		})
		defer t.Stop()
	}
	for {
		ev, err := st.sse.Next()
		if err != nil {
			switch {
			case ctx.Err() != nil:
			case dropped.Load():
				s.drops++
			default:
				s.disconnects++
			}
			return
		}
		if !bytes.Equal(ev.Type, messageType) {
			continue
		}
		if timeResume {
			o.resume.Record(time.Since(t0))
			timeResume = false
		}
		s.deliver(o, ev, o.tag.now())
	}
}

// deliver checks and counts one message event received at now.
func (s *subscriber) deliver(o *subOptions, ev Event, now time.Duration) {
	if bytes.Compare(ev.ID, s.cursor) <= 0 {
		s.outOfOrder++
	}
	s.cursor = append(s.cursor[:0], ev.ID...)
	seq, sent, ok := o.tag.parseEvent(ev.Data)
	if !ok || seq >= len(s.seen)*64 {
		s.foreign++
		return
	}
	s.deliveries++
	if s.first == 0 {
		s.first = now
	}
	s.last = now
	if o.latency != nil {
		o.latency.Record(now - sent)
	}
	w, bit := seq/64, uint64(1)<<(seq%64)
	if s.seen[w]&bit != 0 {
		s.dups++
		return
	}
	s.seen[w] |= bit
	s.unique.Add(1)
}

// has reports whether message seq arrived; call it after run returned.
func (s *subscriber) has(seq int) bool {
	return seq >= 0 && seq < len(s.seen)*64 && s.seen[seq/64]&(1<<(seq%64)) != 0
}

// waitUntil polls done every 10ms until it is true, d has passed or ctx is
// done, and reports whether done became true.
func waitUntil(ctx context.Context, d time.Duration, done func() bool) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(d)
	for !done() {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}
