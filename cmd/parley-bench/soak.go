package main

import (
	"context"
	"math"
	"time"
)

// memSample is one reading of the server's memory during a run.
type memSample struct {
	at time.Duration
	m  map[string]float64
}

// sampleMemory reads the server's memory (after a forced GC when pprof is
// set) now, every interval, and once more when stop is closed, so the last
// reading is the end of the run; then it returns the readings. Readings
// that fail are skipped.
func sampleMemory(ctx context.Context, c *client, pprof string, interval time.Duration, stop <-chan struct{}) <-chan []memSample {
	out := make(chan []memSample, 1)
	go func() {
		var samples []memSample
		start := time.Now()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		read := func() {
			if m, err := c.memory(ctx, pprof); err == nil {
				samples = append(samples, memSample{time.Since(start), m})
			}
		}
		for {
			read()
			select {
			case <-stop:
				read()
				out <- samples
				return
			case <-ctx.Done():
				out <- samples
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// reportSoak adds what the samples say about growth: each series' value
// after the warm-up (the first tenth of the run), at the end, its maximum,
// and the slope of a least-squares line through the readings after the
// warm-up, per 10 minutes. A leak shows as a slope that is large against
// the level; flat memory under churn as one near zero.
func reportSoak(rep *Report, samples []memSample) {
	if len(samples) < 3 {
		rep.note("too few memory readings (%d) to judge growth: run longer or sample more often", len(samples))
		return
	}
	end := samples[len(samples)-1].at
	var after []memSample
	for _, s := range samples {
		if s.at >= end/10 {
			after = append(after, s)
		}
	}
	rep.count("memory_samples", int64(len(samples)))
	for _, series := range []struct{ name, key string }{
		{"goroutines", "go_goroutines"},
		{"heap_inuse_mib", "go_memstats_heap_inuse_bytes"},
		{"rss_mib", "process_resident_memory_bytes"},
	} {
		scale := 1.0
		if series.name != "goroutines" {
			scale = 1 << 20
		}
		v := func(s memSample) float64 { return s.m[series.key] / scale }
		peak := math.Inf(-1)
		for _, s := range after {
			peak = max(peak, v(s))
		}
		rep.Gauges = append(rep.Gauges,
			Gauge{series.name + "_after_warmup", v(after[0])},
			Gauge{series.name + "_at_end", v(after[len(after)-1])},
			Gauge{series.name + "_max", peak},
			Gauge{series.name + "_slope_per_10min", slope(after, v) * 600},
		)
	}
}

// slope fits v over time (per second) by least squares.
func slope(samples []memSample, v func(memSample) float64) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, s := range samples {
		x, y := s.at.Seconds(), v(s)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}
