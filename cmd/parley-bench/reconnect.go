package main

import (
	"context"
	"fmt"
)

// runReconnect has clients drop their streams at random moments and resume
// with Last-Event-ID while writers post. Afterwards the room's history (paged
// through GET .../messages?after=) is the truth: every acknowledged message
// must be in it, and every client must have received exactly that history,
// in order. With a sample interval it also reads the server's memory
// throughout, which makes a long run a soak test (see reportSoak).
func runReconnect(ctx context.Context, c *client, cfg fanoutConfig) (*Report, error) {
	r, err := startSubRun(ctx, c, cfg)
	if err != nil {
		return nil, err
	}
	var readings <-chan []memSample
	stopSampling := make(chan struct{})
	if cfg.sample > 0 {
		readings = sampleMemory(ctx, c, cfg.pprof, cfg.sample, stopSampling)
	}
	r.publish(ctx)
	close(stopSampling)
	hist, err := c.history(ctx, cfg.rooms[0], r.marker, 10000)
	if err != nil {
		r.stop()
		return nil, err
	}
	inHist := make([]bool, r.pub.max)
	var total, histOrder, histDups int64
	prev := r.marker
	for _, e := range hist {
		if e.ID <= prev {
			histOrder++
		}
		prev = e.ID
		seq, _, ok := r.opts.tag.parseText([]byte(e.Text))
		if !ok || seq >= len(inHist) {
			continue
		}
		if inHist[seq] {
			histDups++
		}
		inHist[seq] = true
		total++
	}
	r.drain(ctx, func(int) int64 { return total })
	rep := r.report("reconnect", c.base, func(seq int) bool { return inHist[seq] })
	var lost int64
	for seq := range r.pub.fed {
		if r.pub.isAcked(seq) && !inHist[seq] {
			lost++
		}
	}
	rep.count("history", total)
	rep.count("acked_not_in_history", lost)
	rep.problemIf(lost, "acknowledged messages missing from the history")
	rep.problemIf(histOrder, "history events out of order")
	rep.problemIf(histDups, "duplicate messages in the history")
	rep.latency("resume_first_event", &r.resume)
	if readings != nil {
		reportSoak(rep, <-readings)
	}
	rep.Params = []Param{
		{"room", cfg.rooms[0]}, {"clients", fmt.Sprint(cfg.perRoom)}, {"writers", fmt.Sprint(cfg.publishers)},
		{"rate", fmt.Sprint(cfg.rate)}, {"duration", cfg.duration.String()},
		{"drop", fmt.Sprintf("%v-%v", cfg.dropMin, cfg.dropMax)},
	}
	return rep, ctx.Err()
}
