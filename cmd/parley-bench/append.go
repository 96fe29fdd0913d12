package main

import (
	"context"
	"fmt"
	"time"
)

// appendConfig describes the append scenario.
type appendConfig struct {
	room     string
	writers  int
	duration time.Duration
	max      int // appends at most
}

// runAppend has writers POST back to back on keep-alive connections and
// reports acknowledged appends per second and POST latency.
func runAppend(ctx context.Context, c *client, cfg appendConfig) (*Report, error) {
	pub := newPublisher(c, newRunTag(), []string{cfg.room}, 0, cfg.writers, cfg.max)
	pub.run(ctx, cfg.duration)
	rep := &Report{Scenario: "append", Server: c.base, Elapsed: pub.elapsed, Params: []Param{
		{"room", cfg.room}, {"writers", fmt.Sprint(cfg.writers)}, {"duration", cfg.duration.String()},
	}}
	pub.addTo(rep)
	rep.rate("appends_per_s", pub.ackedTotal(), pub.elapsed)
	pub.addLatencies(rep)
	if pub.fed >= cfg.max {
		rep.note("stopped at -max %d before the duration was up", cfg.max)
	}
	return rep, ctx.Err()
}
