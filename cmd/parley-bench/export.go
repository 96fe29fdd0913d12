package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// exportConfig describes the export scenario.
type exportConfig struct {
	room    string
	events  int // to seed first; 0 exports the room as it is
	writers int
	timeout time.Duration // for seeding, and again for the export
	sample  time.Duration // how often to read the server's heap during the export
}

// runExport seeds a room, then downloads it with GET .../export and counts
// its lines, reading the server's heap from /metrics all along: an export
// that holds the room in memory shows as a heap growing with its size.
func runExport(ctx context.Context, c *client, cfg exportConfig) (*Report, error) {
	rep := &Report{Scenario: "export", Server: c.base, Params: []Param{
		{"room", cfg.room}, {"events", fmt.Sprint(cfg.events)}, {"writers", fmt.Sprint(cfg.writers)},
	}}
	var acked int64 = -1
	if cfg.events > 0 {
		tag := newRunTag()
		pub := newPublisher(c, tag, []string{cfg.room}, 0, cfg.writers, cfg.events)
		pub.run(ctx, cfg.timeout)
		pub.addTo(rep)
		rep.rate("seed_appends_per_s", pub.ackedTotal(), pub.elapsed)
		pub.addLatencies(rep)
		acked = pub.ackedTotal()
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	before, err := c.memory(ctx, "")
	if err != nil {
		return nil, err
	}

	// Sample the heap while the export runs.
	var (
		mu      sync.Mutex
		peak    float64
		samples int64
	)
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(cfg.sample)
		defer tick.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-tick.C:
			}
			m, err := c.metrics(sampleCtx)
			if err != nil {
				continue
			}
			mu.Lock()
			peak = max(peak, m["go_memstats_heap_inuse_bytes"])
			samples++
			mu.Unlock()
		}
	})

	exportCtx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	start := time.Now()
	lines, bytes, err := c.export(exportCtx, cfg.room)
	took := time.Since(start)
	stopSampling()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	rep.Elapsed = took
	rep.count("exported", lines)
	rep.count("bytes", bytes)
	rep.count("heap_samples", samples)
	rep.count("heap_inuse_before", int64(before["go_memstats_heap_inuse_bytes"]))
	rep.count("heap_inuse_peak", int64(peak))
	if acked >= 0 && lines < acked {
		rep.problem("exported %d events, want at least the %d acknowledged", lines, acked)
	}
	rep.rate("export_events_per_s", lines, took)
	rep.rate("export_mib_per_s", bytes>>20, took)
	rep.Gauges = append(rep.Gauges, Gauge{"heap_growth_mib", (peak - before["go_memstats_heap_inuse_bytes"]) / (1 << 20)})
	return rep, ctx.Err()
}

// export downloads a room's export and returns its lines and bytes.
func (c *client) export(ctx context.Context, room string) (lines, n int64, err error) {
	req, err := c.request(ctx, http.MethodGet, "/api/rooms/"+room+"/export", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("export %s: %w", room, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, &statusError{Code: resp.StatusCode}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines++
		n += int64(len(sc.Bytes())) + 1
	}
	if err := sc.Err(); err != nil {
		return lines, n, fmt.Errorf("export %s: %w", room, err)
	}
	return lines, n, nil
}
