package main

import (
	"context"
	"fmt"
	"time"
)

// zeroID is a cursor older than any event.
const zeroID = "00000000000000000000000000"

// replayConfig describes the replay scenario.
type replayConfig struct {
	room    string
	events  int
	writers int
	timeout time.Duration // for seeding, and again for catching up
}

// runReplay seeds a fresh room with events from concurrent writers, then
// times one client catching up on all of them from a cursor older than the
// first.
func runReplay(ctx context.Context, c *client, cfg replayConfig) (*Report, error) {
	tag := newRunTag()
	pub := newPublisher(c, tag, []string{cfg.room}, 0, cfg.writers, cfg.events)
	pub.run(ctx, cfg.timeout)
	rep := &Report{Scenario: "replay", Server: c.base, Params: []Param{
		{"room", cfg.room}, {"events", fmt.Sprint(cfg.events)}, {"writers", fmt.Sprint(cfg.writers)},
	}}
	pub.addTo(rep)
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	acked := pub.ackedTotal()

	var connect, unused, first, catchUp Histogram
	opts := &subOptions{c: c, tag: tag, bufSize: 64 << 10, connect: &connect, resume: &unused}
	s := newSubscriber("/api/rooms/"+cfg.room+"/events", 0, 0, zeroID, cfg.events, 1)
	s.queryCursor = true
	subCtx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	ready := make(chan error, 1)
	done := make(chan struct{})
	start := tag.now()
	go func() {
		defer close(done)
		s.run(subCtx, opts, func(err error) { ready <- err })
	}()
	if err := <-ready; err != nil {
		<-done
		return nil, err
	}
	caughtUp := waitUntil(subCtx, cfg.timeout, func() bool { return s.gaveUp.Load() || s.unique.Load() >= acked })
	cancel()
	<-done

	var missing int64
	for seq := range pub.fed {
		if pub.isAcked(seq) && !s.has(seq) {
			missing++
		}
	}
	rep.count("received", s.deliveries)
	rep.count("missing", missing)
	rep.count("duplicates", s.dups)
	rep.count("out_of_order", s.outOfOrder)
	rep.count("disconnects", s.disconnects)
	rep.count("foreign", s.foreign)
	rep.problemIf(missing, "events not replayed")
	rep.problemIf(s.dups, "duplicate events")
	rep.problemIf(s.outOfOrder, "events out of order")
	if !caughtUp {
		rep.problem("did not catch up within %v", cfg.timeout)
	}
	if s.err != nil {
		rep.note("client gave up: %v", s.err)
	}
	rep.Elapsed = pub.elapsed + (s.last - start)
	rep.rate("seed_appends_per_s", acked, pub.elapsed)
	rep.rate("replay_events_per_s", s.deliveries, s.last-start)
	if s.last > start {
		first.Record(s.first - start)
		catchUp.Record(s.last - start)
	}
	pub.addLatencies(rep)
	rep.latency("connect", &connect)
	rep.latency("first_event", &first)
	rep.latency("catch_up", &catchUp)
	return rep, ctx.Err()
}
