package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// metrics fetches the server's /metrics and returns each unlabelled series
// (process_resident_memory_bytes, go_memstats_heap_inuse_bytes, ...) by name.
func (c *client) metrics(ctx context.Context) (map[string]float64, error) {
	req, err := c.request(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return nil, err
	}
	b, err := c.do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s/metrics: %w", c.base, err)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			m[name] = v
		}
	}
	return m, nil
}

// memorySeries are the figures idle and export read from /metrics.
var memorySeries = []string{"process_resident_memory_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_goroutines"}

// memory scrapes the memory figures, first asking the server's profiler (if
// given) for a garbage collection, so the heap holds only live objects.
func (c *client) memory(ctx context.Context, pprof string) (map[string]float64, error) {
	if pprof != "" {
		// The heap profile with gc=1 runs a collection first.
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, pprof+"/debug/pprof/heap?gc=1", nil)
		if err != nil {
			return nil, err
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, fmt.Errorf("force a GC through %s: %w", pprof, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	m, err := c.metrics(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range memorySeries {
		if _, ok := m[s]; !ok {
			return nil, fmt.Errorf("%s/metrics has no %s (is it Parley?)", c.base, s)
		}
	}
	return m, nil
}
