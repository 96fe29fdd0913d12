package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// publisher posts this run's numbered messages from a pool of workers at a
// steady total rate (or as fast as they can when rate is 0), message seq
// going to rooms[seq%len(rooms)], and remembers which were acknowledged.
// It stops after max messages or the duration, whichever comes first.
type publisher struct {
	c       *client
	tag     runTag
	rooms   []string
	rate    float64 // messages per second in total; 0 means unpaced
	workers int
	max     int

	post    Histogram       // latency of acknowledged POSTs
	acked   []atomic.Uint64 // bitmap by seq
	perRoom []atomic.Int64  // acknowledged messages per room index
	errs    atomic.Int64    // failed POSTs, non2xx included
	non2xx  atomic.Int64
	lastErr atomic.Pointer[string]

	// Set by run.
	fed     int           // messages handed to workers: seqs [0, fed)
	startAt time.Duration // on the run clock
	elapsed time.Duration
}

func newPublisher(c *client, tag runTag, rooms []string, rate float64, workers, limit int) *publisher {
	return &publisher{
		c: c, tag: tag, rooms: rooms, rate: rate, workers: max(workers, 1), max: limit,
		acked:   make([]atomic.Uint64, (limit+63)/64),
		perRoom: make([]atomic.Int64, len(rooms)),
	}
}

// run publishes until d has passed, max messages are out or ctx is done,
// then waits for the POSTs in flight.
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
	start := time.Now()
	p.startAt = p.tag.now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	seq := 0
feed:
	for seq < p.max {
		if p.rate > 0 {
			// Sleeping for waits under half a millisecond would cost more
			// wake-ups than the smoothness is worth.
			due := time.Duration(float64(seq) / p.rate * float64(time.Second))
			if wait := due - time.Since(start); wait > 500*time.Microsecond {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					break feed
				}
			}
		}
		if time.Since(start) >= d {
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

func (p *publisher) publish(ctx context.Context, seq int) {
	room := seq % len(p.rooms)
	t0 := time.Now()
	if _, err := p.c.post(ctx, p.rooms[room], p.tag.text(seq)); err != nil {
		p.errs.Add(1)
		if isStatus(err) {
			p.non2xx.Add(1)
		}
		msg := err.Error()
		p.lastErr.Store(&msg)
		return
	}
	p.post.Record(time.Since(t0))
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
	r.count("sent", int64(p.fed))
	r.count("acked", p.ackedTotal())
	r.count("errors", p.errs.Load())
	r.count("non_2xx", p.non2xx.Load())
	if s := p.lastErr.Load(); s != nil {
		r.note("last error: %s", *s)
	}
	if p.fed > 0 && p.ackedTotal() == 0 {
		r.problem("no message was acknowledged")
	}
}
