package main

import (
	"context"
	"fmt"
	"io"
)

// comparison is the result of the all scenario: append and fanout against
// the in-process no-op server and against the real one, and their ratios.
type comparison struct {
	NoopMode string    `json:"noop_mode"`
	Noop     []*Report `json:"noop"`
	Server   []*Report `json:"server"`
	Ratios   []ratio   `json:"ratios"`
}

// ratio compares one figure; Ratio is server/noop (for throughput, 1 means
// as fast as doing nothing; for latency, how many times slower).
type ratio struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	Noop     float64 `json:"noop"`
	Server   float64 `json:"server"`
	Ratio    float64 `json:"ratio"`
}

func (c *comparison) reports() []*Report { return append(append([]*Report{}, c.Noop...), c.Server...) }

// runAll runs append and then fanout, each first against a no-op server on
// another loopback port and then against c's server.
func runAll(ctx context.Context, c *client, o *options, m *Main) (*comparison, error) {
	url, stop, err := startYardstick(ctx, o.noopMode, o.noopAddr)
	if err != nil {
		return nil, err
	}
	defer stop()
	nc, err := newClient(url, o.writers+o.publishers+16, o.timeout)
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
	add := func(i int, metric string, get func(*Report) float64) {
		n, s := get(cmp.Noop[i]), get(cmp.Server[i])
		r := ratio{Scenario: cmp.Noop[i].Scenario, Metric: metric, Noop: n, Server: s}
		if n != 0 {
			r.Ratio = s / n
		}
		cmp.Ratios = append(cmp.Ratios, r)
	}
	add(0, "appends_per_s", func(r *Report) float64 { return r.Rate("appends_per_s") })
	add(0, "post_p50_ms", func(r *Report) float64 { return ms(r.LatencyOf("post").P50) })
	add(0, "post_p99_ms", func(r *Report) float64 { return ms(r.LatencyOf("post").P99) })
	add(1, "deliveries_per_s", func(r *Report) float64 { return r.Rate("deliveries_per_s") })
	add(1, "publish_to_receive_p50_ms", func(r *Report) float64 { return ms(r.LatencyOf("publish_to_receive").P50) })
	add(1, "publish_to_receive_p99_ms", func(r *Report) float64 { return ms(r.LatencyOf("publish_to_receive").P99) })
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
	fmt.Fprintf(w, "noop ran as: %s\n", c.NoopMode)
	fmt.Fprintf(w, "%-10s %-26s %12s %12s %12s\n", "scenario", "metric", "noop", "server", "server/noop")
	for _, r := range c.Ratios {
		if _, err := fmt.Fprintf(w, "%-10s %-26s %12.3f %12.3f %12.3f\n", r.Scenario, r.Metric, r.Noop, r.Server, r.Ratio); err != nil {
			return err
		}
	}
	return nil
}
