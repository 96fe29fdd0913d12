package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// idleConfig describes the idle scenario.
type idleConfig struct {
	room    string
	streams int
	hold    time.Duration // how long the streams stay open before the second reading
	pprof   string        // the server's -pprof-addr as a URL, to force a GC before each reading
}

// runIdle measures what an idle stream costs the server: it reads the
// server's memory from /metrics, opens streams that receive nothing but
// heartbeats, holds them, reads again, and divides the difference by the
// number of streams. Streams the server closes meanwhile are a problem.
func runIdle(ctx context.Context, c *client, cfg idleConfig) (*Report, error) {
	rep := &Report{Scenario: "idle", Server: c.base, Params: []Param{
		{"room", cfg.room}, {"streams", fmt.Sprint(cfg.streams)}, {"hold", cfg.hold.String()},
		{"gc", fmt.Sprint(cfg.pprof != "")},
	}}
	before, err := c.memory(ctx, cfg.pprof)
	if err != nil {
		return nil, err
	}
	if cfg.pprof == "" {
		rep.note("no -pprof: the heap figures include garbage not yet collected")
	}

	var (
		connect     Histogram
		opened      atomic.Int64
		failed      atomic.Int64
		disconnects atomic.Int64
		closing     atomic.Bool
		mu          sync.Mutex
		streams     []*stream
		wg          sync.WaitGroup
		lastErr     atomic.Pointer[string]
	)
	start := time.Now()
	dialing := make(chan struct{}, 64) // be gentle with the listen backlog
	for range cfg.streams {
		wg.Go(func() {
			dialing <- struct{}{}
			t0 := time.Now()
			st, err := c.openStream(ctx, "/api/rooms/"+cfg.room+"/events", "", 512)
			<-dialing
			if err != nil {
				failed.Add(1)
				msg := err.Error()
				lastErr.Store(&msg)
				return
			}
			connect.Record(time.Since(t0))
			opened.Add(1)
			mu.Lock()
			streams = append(streams, st)
			mu.Unlock()
			for {
				if _, err := st.sse.Next(); err != nil {
					if !closing.Load() && ctx.Err() == nil {
						disconnects.Add(1)
					}
					return
				}
			}
		})
	}
	waitUntil(ctx, 10*time.Minute, func() bool { return opened.Load()+failed.Load() == int64(cfg.streams) })
	openTime := time.Since(start)
	select {
	case <-time.After(cfg.hold):
	case <-ctx.Done():
	}
	after, err := c.memory(ctx, cfg.pprof)
	closing.Store(true)
	mu.Lock()
	for _, st := range streams {
		st.Close()
	}
	mu.Unlock()
	wg.Wait()
	if err != nil {
		return nil, err
	}

	n := opened.Load()
	rep.Elapsed = time.Since(start)
	rep.count("opened", n)
	rep.count("failed", failed.Load())
	rep.count("disconnects", disconnects.Load())
	rep.problemIf(failed.Load(), "streams could not be opened")
	rep.problemIf(disconnects.Load(), "idle streams closed by the server")
	if s := lastErr.Load(); s != nil {
		rep.note("last error: %s", *s)
	}
	if open, ok := after["parley_streams_open"]; ok && int64(open-before["parley_streams_open"]) != n {
		rep.problem("server counts %v more open streams, want %d", open-before["parley_streams_open"], n)
	}
	for _, s := range memorySeries {
		rep.count(s+"_before", int64(before[s]))
		rep.count(s+"_after", int64(after[s]))
	}
	if n > 0 {
		perStream := func(s string) float64 { return (after[s] - before[s]) / float64(n) / 1024 }
		rep.Gauges = append(rep.Gauges,
			Gauge{"rss_kib_per_stream", perStream("process_resident_memory_bytes")},
			Gauge{"heap_inuse_kib_per_stream", perStream("go_memstats_heap_inuse_bytes")},
			Gauge{"stack_inuse_kib_per_stream", perStream("go_memstats_stack_inuse_bytes")},
			Gauge{"goroutines_per_stream", perStream("go_goroutines") * 1024},
		)
	}
	rep.rate("opens_per_s", n, openTime)
	rep.latency("connect", &connect)
	return rep, ctx.Err()
}
