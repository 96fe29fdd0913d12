package main

import (
	"context"
	"fmt"
	"io"
)

// comparison is the result of the all scenario: append and fanout against
// the no-op server and against the real one, the disk scenario, and the
// ratios of the real server's figures to those limits.
type comparison struct {
	NoopMode string    `json:"noop_mode"`
	Noop     []*Report `json:"noop"`
	Server   []*Report `json:"server"`
	Disk     *Report   `json:"disk"`
	Ratios   []ratio   `json:"ratios"`
}

// ratio compares one figure of the server with a limit: the no-op server's
// ("noop") or the raw disk's ("disk"). Ratio is server/limit: for
// throughput, 1 means as fast as the limit; for latency, how many times
// slower.
type ratio struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	Against  string  `json:"against"`
	Limit    float64 `json:"limit"`
	Server   float64 `json:"server"`
	Ratio    float64 `json:"ratio"`
}

func (c *comparison) reports() []*Report {
	all := append(append([]*Report{}, c.Noop...), c.Server...)
	if c.Disk != nil {
		all = append(all, c.Disk)
	}
	return all
}

// runAll runs append and then fanout, each first against a no-op server on
// another loopback port and then against c's server, and then the disk
// scenario in o.diskDir.
func runAll(ctx context.Context, c *client, o *options, m *Main) (*comparison, error) {
	url, stop, err := startYardstick(ctx, o.noopMode, o.noopAddr)
	if err != nil {
		return nil, err
	}
	defer stop()
	nc, err := newClient(url, o.writers+o.publishers+16, o.timeout, access{})
	if err != nil {
		return nil, err
	}
	defer nc.close()
	if err := nc.health(ctx); err != nil {
		return nil, err
	}

	cmp := &comparison{NoopMode: o.noopMode}
	steps := []struct {
		name string
		run  func(*client) (*Report, error)
	}{
		{"append", func(c *client) (*Report, error) { return runAppend(ctx, c, o.appendConfig()) }},
		{"fanout", func(c *client) (*Report, error) { return runFanout(ctx, c, "fanout", o.fanout()) }},
	}
	for _, step := range steps {
		for _, target := range []*client{nc, c} {
			fmt.Fprintf(m.Stderr, "parley-bench: %s against %s\n", step.name, target.base)
			rep, err := step.run(target)
			if err != nil {
				return nil, fmt.Errorf("%s against %s: %w", step.name, target.base, err)
			}
			if target == nc {
				cmp.Noop = append(cmp.Noop, rep)
			} else {
				cmp.Server = append(cmp.Server, rep)
			}
		}
	}
	fmt.Fprintf(m.Stderr, "parley-bench: disk in %s\n", o.diskDir)
	disk, err := runDisk(ctx, o.diskConfig())
	if err != nil {
		return nil, err // already says disk
	}
	cmp.Disk = disk

	add := func(against string, limit, server *Report, metric string, limitOf, serverOf func(*Report) float64) {
		l, s := limitOf(limit), serverOf(server)
		r := ratio{Scenario: server.Scenario, Metric: metric, Against: against, Limit: l, Server: s}
		if l != 0 {
			r.Ratio = s / l
		}
		cmp.Ratios = append(cmp.Ratios, r)
	}
	vsNoop := func(i int, metric string, get func(*Report) float64) {
		add("noop", cmp.Noop[i], cmp.Server[i], metric, get, get)
	}
	rate := func(name string) func(*Report) float64 { return func(r *Report) float64 { return r.Rate(name) } }
	p50 := func(name string) func(*Report) float64 {
		return func(r *Report) float64 { return ms(r.LatencyOf(name).P50) }
	}
	p99 := func(name string) func(*Report) float64 {
		return func(r *Report) float64 { return ms(r.LatencyOf(name).P99) }
	}
	vsNoop(0, "appends_per_s", rate("appends_per_s"))
	vsNoop(0, "post_p50_ms", p50("post"))
	vsNoop(0, "post_p99_ms", p99("post"))
	vsNoop(1, "deliveries_per_s", rate("deliveries_per_s"))
	vsNoop(1, "publish_to_receive_p50_ms", p50("publish_to_receive"))
	vsNoop(1, "publish_to_receive_p99_ms", p99("publish_to_receive"))
	add("disk", disk, cmp.Server[0], "appends_per_s", rate("appends_per_s"), rate("appends_per_s"))
	add("disk", disk, cmp.Server[0], "post_p50_ms", p50("append"), p50("post"))
	return cmp, nil
}

// WriteTable prints every report, then the ratios.
func (c *comparison) WriteTable(w io.Writer) error {
	for _, r := range c.reports() {
		if err := r.WriteTable(w); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "noop ran as: %s; disk: raw bbolt group commits, no HTTP\n", c.NoopMode)
	fmt.Fprintf(w, "%-10s %-26s %-8s %12s %12s %12s\n", "scenario", "metric", "against", "limit", "server", "server/limit")
	for _, r := range c.Ratios {
		if _, err := fmt.Fprintf(w, "%-10s %-26s %-8s %12.3f %12.3f %12.3f\n", r.Scenario, r.Metric, r.Against, r.Limit, r.Server, r.Ratio); err != nil {
			return err
		}
	}
	return nil
}
