package main

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// publisher posts this run's numbered messages from a pool of workers at a
// steady total rate (or as fast as they can when rate is 0), message seq
// going to rooms[seq%len(rooms)], and remembers which were acknowledged.
// It stops after max messages or the duration, whichever comes first.
//
// Paced, it is an open loop: message seq is due at its tick, seq/rate after
// the start, whether or not a worker is free, so its latencies (post, and
// the sent time stamped in its text) run from that tick. A server that
// stalls makes the workers wait, the schedule runs on, and every message
// due meanwhile counts the wait; timing from when a worker took the message
// would leave it out (coordinated omission). Unpaced, it is a closed loop:
// each worker sends when its previous message was answered, there is no
// schedule, and each POST is timed from its own send.
type publisher struct {
	c       *client
	tag     runTag
	rooms   []string
	rate    float64 // messages per second in total; 0 means unpaced
	workers int
	max     int

	post    Histogram       // acknowledged POSTs, from the tick when paced, else from the send
	service Histogram       // paced only: acknowledged POSTs from the send, queueing left out
	acked   []atomic.Uint64 // bitmap by seq
	perRoom []atomic.Int64  // acknowledged messages per room index
	errs    atomic.Int64    // failed POSTs, non2xx included
	non2xx  atomic.Int64
	lastErr atomic.Pointer[string]

	// Set by run.
	fed       int           // messages handed to workers: seqs [0, fed)
	scheduled int           // paced only: messages due before the duration was up
	startAt   time.Duration // on the run clock; paced, message seq is due at startAt+due(seq)
	elapsed   time.Duration
}

func newPublisher(c *client, tag runTag, rooms []string, rate float64, workers, limit int) *publisher {
	return &publisher{
		c: c, tag: tag, rooms: rooms, rate: rate, workers: max(workers, 1), max: limit,
		acked:   make([]atomic.Uint64, (limit+63)/64),
		perRoom: make([]atomic.Int64, len(rooms)),
	}
}

// run publishes until d has passed (after at least one message), max
// messages are out or ctx is done, then waits for the POSTs in flight.
func (p *publisher) run(ctx context.Context, d time.Duration) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range p.workers {
		wg.Go(func() {
			for seq := range jobs {
				p.publish(ctx, seq)
			}
		})
	}
	p.startAt = p.tag.now()
	start := p.tag.start.Add(p.startAt)
	if p.rate > 0 {
		p.scheduled = min(p.max, int(math.Ceil(p.rate*d.Seconds())))
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	seq := 0
feed:
	for seq < p.max {
		if p.rate > 0 {
			// Sleeping for waits under half a millisecond would cost more
			// wake-ups than the smoothness is worth.
			if wait := p.due(seq) - time.Since(start); wait > 500*time.Microsecond {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					break feed
				}
			}
		}
		// The first message always goes out, so that a run on a machine
		// stalled for its whole duration still has something to verify.
		if seq > 0 && time.Since(start) >= d {
			break
		}
		select {
		case jobs <- seq:
			seq++
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	p.fed = seq
	p.elapsed = time.Since(start)
}

// due is when message seq is due, after the start of a paced run.
func (p *publisher) due(seq int) time.Duration {
	return time.Duration(float64(seq) / p.rate * float64(time.Second))
}

func (p *publisher) publish(ctx context.Context, seq int) {
	room := seq % len(p.rooms)
	sent := p.tag.now()
	from := sent
	if p.rate > 0 {
		// The feeder may hand a message out up to half a millisecond early;
		// then the send itself is the fairer start.
		from = min(sent, p.startAt+p.due(seq))
	}
	if _, err := p.c.post(ctx, p.rooms[room], p.tag.text(seq, from)); err != nil {
		p.errs.Add(1)
		if isStatus(err) {
			p.non2xx.Add(1)
		}
		msg := err.Error()
		p.lastErr.Store(&msg)
		return
	}
	now := p.tag.now()
	p.post.Record(now - from)
	if p.rate > 0 {
		p.service.Record(now - sent)
	}
	p.acked[seq/64].Or(1 << (seq % 64))
	p.perRoom[room].Add(1)
}

// isAcked reports whether message seq was acknowledged.
func (p *publisher) isAcked(seq int) bool {
	return seq >= 0 && seq < p.max && p.acked[seq/64].Load()&(1<<(seq%64)) != 0
}

// ackedTotal is the number of acknowledged messages.
func (p *publisher) ackedTotal() int64 {
	var n int64
	for i := range p.perRoom {
		n += p.perRoom[i].Load()
	}
	return n
}

// addTo puts the publisher's figures into a report.
func (p *publisher) addTo(r *Report) {
	if p.rate > 0 {
		r.count("scheduled", int64(p.scheduled))
	}
	r.count("sent", int64(p.fed))
	r.count("acked", p.ackedTotal())
	r.count("errors", p.errs.Load())
	r.count("non_2xx", p.non2xx.Load())
	if s := p.lastErr.Load(); s != nil {
		r.note("last error: %s", *s)
	}
	if p.fed > 0 && p.ackedTotal() == 0 {
		if s := p.lastErr.Load(); s != nil {
			r.problem("no message was acknowledged (last error: %s)", *s) // a missing -token, say
		} else {
			r.problem("no message was acknowledged")
		}
	}
	if p.fed < p.scheduled {
		r.note("%d of %d scheduled messages were not sent before the duration was up: the server or the workers "+
			"could not keep up with -rate, and the latencies leave those messages out", p.scheduled-p.fed, p.scheduled)
	}
}

// addLatencies puts the publisher's POST latencies into a report: post, and
// for a paced run also post_service, the same POSTs timed from their send.
func (p *publisher) addLatencies(r *Report) {
	r.latency("post", &p.post)
	if p.rate > 0 {
		r.latency("post_service", &p.service)
	}
}
