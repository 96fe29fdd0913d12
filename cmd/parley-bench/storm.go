package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// stormConfig describes the storm scenario.
type stormConfig struct {
	room    string
	clients int
	events  int
	writers int
	timeout time.Duration // for seeding, and again for catching up
}

// runStorm is a reconnect storm: while every client is away, events are
// posted; then all the clients reconnect at the same moment with the same
// Last-Event-ID and each must receive every event, once, in order. The
// figure is the time from the storm's start until the last client has
// caught up.
func runStorm(ctx context.Context, c *client, cfg stormConfig) (*Report, error) {
	tag := newRunTag()
	marker, err := c.post(ctx, cfg.room, tag.tag+":start")
	if err != nil {
		return nil, fmt.Errorf("post start marker: %w", err)
	}
	pub := newPublisher(c, tag, []string{cfg.room}, 0, cfg.writers, cfg.events)
	pub.run(ctx, cfg.timeout)
	rep := &Report{Scenario: "storm", Server: c.base, Params: []Param{
		{"room", cfg.room}, {"clients", fmt.Sprint(cfg.clients)}, {"events", fmt.Sprint(cfg.events)},
	}}
	pub.addTo(rep)
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	acked := pub.ackedTotal()

	var connect, unused, first, catchUp Histogram
	opts := &subOptions{c: c, tag: tag, bufSize: 4 << 10, connect: &connect, resume: &unused}
	subs := make([]*subscriber, cfg.clients)
	for i := range subs {
		subs[i] = newSubscriber("/api/rooms/"+cfg.room+"/events", 0, i, marker, cfg.events, 1)
	}
	subCtx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	var (
		wg        sync.WaitGroup
		refused   atomic.Int64
		release   = make(chan struct{})
		lastErr   atomic.Pointer[string]
		start     time.Duration
		allCaught bool
	)
	for _, s := range subs {
		wg.Go(func() {
			<-release // all at once
			s.run(subCtx, opts, func(err error) {
				if err != nil {
					refused.Add(1)
					msg := err.Error()
					lastErr.Store(&msg)
				}
			})
		})
	}
	start = tag.now()
	close(release)
	allCaught = waitUntil(subCtx, cfg.timeout, func() bool {
		for _, s := range subs {
			if !s.gaveUp.Load() && s.unique.Load() < acked {
				return false
			}
		}
		return true
	})
	cancel()
	wg.Wait()

	var missing, dups, ooo, disc, deliveries, gaveUp int64
	var last time.Duration
	for _, s := range subs {
		deliveries += s.deliveries
		dups += s.dups
		ooo += s.outOfOrder
		disc += s.disconnects
		if s.err != nil {
			gaveUp++
		}
		for seq := range pub.fed {
			if pub.isAcked(seq) && !s.has(seq) {
				missing++
			}
		}
		if s.first > 0 {
			first.Record(s.first - start)
		}
		if s.unique.Load() >= acked && s.last > 0 {
			catchUp.Record(s.last - start)
			last = max(last, s.last-start)
		}
	}
	rep.count("clients", int64(cfg.clients))
	rep.count("deliveries", deliveries)
	rep.count("missing", missing)
	rep.count("duplicates", dups)
	rep.count("out_of_order", ooo)
	rep.count("disconnects", disc)
	rep.count("refused", refused.Load())
	rep.count("gave_up", gaveUp)
	rep.problemIf(missing, "events not received")
	rep.problemIf(dups, "duplicate events")
	rep.problemIf(ooo, "events out of order")
	rep.problemIf(gaveUp, "clients gave up")
	if !allCaught {
		rep.problem("not every client caught up within %v", cfg.timeout)
	}
	if s := lastErr.Load(); s != nil {
		rep.note("last connection error: %s", *s)
	}
	rep.Elapsed = last
	rep.Gauges = append(rep.Gauges, Gauge{"all_caught_up_s", last.Seconds()})
	rep.rate("seed_appends_per_s", acked, pub.elapsed)
	rep.rate("deliveries_per_s", deliveries, last)
	pub.addLatencies(rep)
	rep.latency("connect", &connect)
	rep.latency("first_event", &first)
	rep.latency("catch_up", &catchUp)
	return rep, ctx.Err()
}
