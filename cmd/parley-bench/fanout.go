package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// fanoutConfig describes a run with subscribers: fanout (one room), rooms
// (many rooms) and reconnect (one room, streams dropped at random).
type fanoutConfig struct {
	rooms      []string
	perRoom    int // subscribers per room
	rate       float64
	duration   time.Duration
	publishers int
	drain      time.Duration // how long to wait for deliveries after publishing
	seed       uint64
	dropMin    time.Duration // reconnect only: a stream lives this long...
	dropMax    time.Duration // ...up to this long before the client drops it
	sample     time.Duration // reconnect only: read the server's memory this often (0: never)
	pprof      string        // ...forcing a GC through the server's -pprof-addr first, if set
}

// subRun is a run with its subscribers connected and its publisher ready.
type subRun struct {
	cfg    fanoutConfig
	opts   *subOptions
	pub    *publisher
	subs   []*subscriber
	marker string // id of the start marker; every subscriber resumes after it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	latency, connect, resume Histogram
}

// startSubRun posts a start marker, then connects every subscriber with the
// marker as its cursor, so no message of the run can be missed for having
// been published before the server registered the subscriber.
func startSubRun(ctx context.Context, c *client, cfg fanoutConfig) (*subRun, error) {
	tag := newRunTag()
	marker, err := c.post(ctx, cfg.rooms[0], tag.tag+":start")
	if err != nil {
		return nil, fmt.Errorf("post start marker: %w", err)
	}
	limit := max(1, int(math.Ceil(cfg.rate*cfg.duration.Seconds())))
	r := &subRun{cfg: cfg, marker: marker}
	r.pub = newPublisher(c, tag, cfg.rooms, cfg.rate, cfg.publishers, limit)
	r.opts = &subOptions{c: c, tag: tag, pub: r.pub, bufSize: 8 << 10,
		latency: &r.latency, connect: &r.connect, resume: &r.resume}
	if cfg.dropMax > 0 {
		span := int64(cfg.dropMax-cfg.dropMin) + 1
		r.opts.dropAfter = func(rng *rand.Rand) time.Duration {
			return cfg.dropMin + time.Duration(rng.Int64N(span))
		}
	}
	for ri, room := range cfg.rooms {
		for range cfg.perRoom {
			r.subs = append(r.subs, newSubscriber("/api/rooms/"+room+"/events", ri, len(r.subs), marker, limit, cfg.seed))
		}
	}
	subCtx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	ready := make(chan error, len(r.subs))
	dialing := make(chan struct{}, 64) // be gentle with the listen backlog
	for _, s := range r.subs {
		r.wg.Go(func() {
			select {
			case dialing <- struct{}{}:
			case <-subCtx.Done():
				s.err = subCtx.Err()
				ready <- s.err
				return
			}
			s.run(subCtx, r.opts, func(err error) {
				<-dialing
				ready <- err
			})
		})
	}
	for range r.subs {
		if err := <-ready; err != nil {
			r.stop()
			return nil, err
		}
	}
	return r, nil
}

// publish runs the publisher for the configured duration.
func (r *subRun) publish(ctx context.Context) { r.pub.run(ctx, r.cfg.duration) }

// drain waits until every subscriber has target(room) distinct messages or
// the drain time is up, then disconnects them all.
func (r *subRun) drain(ctx context.Context, target func(room int) int64) {
	r.opts.stopDrops.Store(true)
	waitUntil(ctx, r.cfg.drain, func() bool {
		for _, s := range r.subs {
			if !s.gaveUp.Load() && s.unique.Load() < target(s.room) {
				return false
			}
		}
		return true
	})
	r.stop()
}

// stop disconnects every subscriber and waits for them.
func (r *subRun) stop() {
	r.cancel()
	r.wg.Wait()
}

// report tallies the run after stop. expected says which messages every
// subscriber of the message's room had to receive.
func (r *subRun) report(name, server string, expected func(seq int) bool) *Report {
	rep := &Report{Scenario: name, Server: server}
	r.pub.addTo(rep)
	var deliveries, dups, ooo, foreign, disc, drops, missing, unacked, gaveUp int64
	var last time.Duration
	step := len(r.cfg.rooms)
	for _, s := range r.subs {
		deliveries += s.deliveries
		dups += s.dups
		ooo += s.outOfOrder
		foreign += s.foreign
		disc += s.disconnects
		drops += s.drops
		last = max(last, s.last)
		if s.err != nil {
			gaveUp++
			rep.note("subscriber gave up: %v", s.err)
		}
		for seq := s.room; seq < r.pub.fed; seq += step {
			switch want, got := expected(seq), s.has(seq); {
			case want && !got:
				missing++
			case got && !want:
				unacked++
			}
		}
	}
	rep.count("subscribers", int64(len(r.subs)))
	rep.count("deliveries", deliveries)
	rep.count("missing", missing)
	rep.count("duplicates", dups)
	rep.count("out_of_order", ooo)
	rep.count("disconnects", disc)
	if r.opts.dropAfter != nil {
		rep.count("drops", drops)
	}
	rep.count("unacked_delivered", unacked)
	rep.count("foreign", foreign)
	rep.count("gave_up", gaveUp)
	rep.problemIf(missing, "missing deliveries")
	rep.problemIf(dups, "duplicate deliveries")
	rep.problemIf(ooo, "deliveries out of order")
	rep.problemIf(gaveUp, "subscribers gave up")
	rep.Elapsed = r.pub.elapsed
	rep.rate("publish_per_s", r.pub.ackedTotal(), r.pub.elapsed)
	rep.rate("deliveries_per_s", deliveries, last-r.pub.startAt)
	rep.latency("publish_to_receive", &r.latency)
	r.pub.addLatencies(rep)
	rep.latency("connect", &r.connect)
	return rep
}

// runFanout runs the fanout and rooms scenarios: publish, drain, and check
// every subscriber got every acknowledged message of its room once, in order.
func runFanout(ctx context.Context, c *client, name string, cfg fanoutConfig) (*Report, error) {
	r, err := startSubRun(ctx, c, cfg)
	if err != nil {
		return nil, err
	}
	r.publish(ctx)
	r.drain(ctx, func(room int) int64 { return r.pub.perRoom[room].Load() })
	rep := r.report(name, c.base, r.pub.isAcked)
	rep.Params = []Param{
		{"rooms", fmt.Sprint(len(cfg.rooms))}, {"per_room", fmt.Sprint(cfg.perRoom)},
		{"rate", fmt.Sprint(cfg.rate)}, {"duration", cfg.duration.String()},
		{"publishers", fmt.Sprint(cfg.publishers)},
	}
	return rep, ctx.Err()
}
