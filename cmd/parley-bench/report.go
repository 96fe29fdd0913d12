package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is what one scenario measured. Its lists keep the order in which
// the table prints them; the JSON form turns each into an object keyed by name.
type Report struct {
	Scenario string
	Server   string
	Params   []Param
	Elapsed  time.Duration
	Counts   []Count
	Rates    []Rate
	Gauges   []Gauge
	Latency  []Latency
	Problems []string // verification failures; empty means the run checked out
	Notes    []string // things worth knowing that are not failures
}

// Param is one input of the run, as given on the command line.
type Param struct{ Name, Value string }

// Count is one tally, such as acknowledged appends or missing deliveries.
type Count struct {
	Name string
	N    int64
}

// Rate is a throughput figure per second.
type Rate struct {
	Name   string
	PerSec float64
}

// Gauge is a figure that is neither a count nor a rate, such as the memory
// one stream costs.
type Gauge struct {
	Name  string
	Value float64
}

// Latency is a named latency distribution.
type Latency struct {
	Name string
	Summary
}

func (r *Report) count(name string, n int64) { r.Counts = append(r.Counts, Count{name, n}) }

// rate records n events over d as a rate; nothing over no time is 0/s.
func (r *Report) rate(name string, n int64, d time.Duration) {
	perSec := 0.0
	if d > 0 {
		perSec = float64(n) / d.Seconds()
	}
	r.Rates = append(r.Rates, Rate{name, perSec})
}
func (r *Report) latency(name string, h *Histogram) {
	r.Latency = append(r.Latency, Latency{name, h.Summary()})
}
func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// problemIf records a problem when a count that should be zero is not.
func (r *Report) problemIf(n int64, what string) {
	if n != 0 {
		r.problem("%d %s", n, what)
	}
}

// Count returns the named count, or 0.
func (r *Report) Count(name string) int64 {
	for _, c := range r.Counts {
		if c.Name == name {
			return c.N
		}
	}
	return 0
}

// Rate returns the named rate, or 0.
func (r *Report) Rate(name string) float64 {
	for _, c := range r.Rates {
		if c.Name == name {
			return c.PerSec
		}
	}
	return 0
}

// LatencyOf returns the named latency summary, or a zero one.
func (r *Report) LatencyOf(name string) Summary {
	for _, l := range r.Latency {
		if l.Name == name {
			return l.Summary
		}
	}
	return Summary{}
}

type jsonLatency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

type jsonReport struct {
	Scenario  string                 `json:"scenario"`
	Server    string                 `json:"server"`
	OK        bool                   `json:"ok"`
	Params    map[string]string      `json:"params"`
	ElapsedS  float64                `json:"elapsed_s"`
	Counts    map[string]int64       `json:"counts"`
	Rates     map[string]float64     `json:"rates"`
	Gauges    map[string]float64     `json:"gauges,omitempty"`
	LatencyMS map[string]jsonLatency `json:"latency_ms"`
	Problems  []string               `json:"problems"`
	Notes     []string               `json:"notes,omitempty"`
}

// MarshalJSON writes the report for scripts: latencies in milliseconds,
// rates per second, and "ok" false when any verification failed.
func (r *Report) MarshalJSON() ([]byte, error) {
	j := jsonReport{
		Scenario: r.Scenario, Server: r.Server, OK: len(r.Problems) == 0,
		Params: map[string]string{}, ElapsedS: r.Elapsed.Seconds(),
		Counts: map[string]int64{}, Rates: map[string]float64{},
		LatencyMS: map[string]jsonLatency{}, Problems: append([]string{}, r.Problems...),
		Notes: r.Notes,
	}
	for _, p := range r.Params {
		j.Params[p.Name] = p.Value
	}
	for _, c := range r.Counts {
		j.Counts[c.Name] = c.N
	}
	for _, c := range r.Rates {
		j.Rates[c.Name] = c.PerSec
	}
	if len(r.Gauges) > 0 {
		j.Gauges = map[string]float64{}
		for _, g := range r.Gauges {
			j.Gauges[g.Name] = g.Value
		}
	}
	for _, l := range r.Latency {
		j.LatencyMS[l.Name] = jsonLatency{l.Count, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max)}
	}
	return json.Marshal(j)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// WriteTable prints the report for a person.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s against %s", r.Scenario, r.Server)
	for _, p := range r.Params {
		fmt.Fprintf(&b, "  %s=%s", p.Name, p.Value)
	}
	fmt.Fprintf(&b, "\n  elapsed %.2fs\n ", r.Elapsed.Seconds())
	for _, c := range r.Counts {
		fmt.Fprintf(&b, " %s %d", c.Name, c.N)
	}
	b.WriteString("\n ")
	for _, c := range r.Rates {
		fmt.Fprintf(&b, " %s %.1f", c.Name, c.PerSec)
	}
	b.WriteString("\n")
	if len(r.Gauges) > 0 {
		b.WriteString(" ")
		for _, g := range r.Gauges {
			fmt.Fprintf(&b, " %s %.2f", g.Name, g.Value)
		}
		b.WriteString("\n")
	}
	width := len("latency (ms)")
	for _, l := range r.Latency {
		width = max(width, len(l.Name))
	}
	fmt.Fprintf(&b, "  %-*s %9s %9s %9s %9s %9s\n", width, "latency (ms)", "count", "p50", "p90", "p99", "max")
	for _, l := range r.Latency {
		fmt.Fprintf(&b, "  %-*s %9d %9.3f %9.3f %9.3f %9.3f\n", width, l.Name, l.Count, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	if len(r.Problems) == 0 {
		b.WriteString("  verified: ok\n")
	} else {
		fmt.Fprintf(&b, "  verified: FAILED: %s\n", strings.Join(r.Problems, "; "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
