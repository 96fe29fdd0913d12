package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// exactQuantile is the nearest-rank quantile of sorted samples.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(float64(len(sorted))*q + 0.999999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		want    Summary // exact values; the histogram may be off by 1/64
	}{
		{"empty", nil, Summary{}},
		{"one", []time.Duration{5 * time.Millisecond}, Summary{1, 5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond}},
		{"small exact", seq(1, 100, 1), Summary{100, 50, 90, 99, 100}},
		{"microseconds", seq(1000, 100000, 1000), Summary{100, 50000, 90000, 99000, 100000}},
		{"negative is zero", []time.Duration{-5, 0}, Summary{2, 0, 0, 0, 0}},
		{"outlier", append(seq(1, 99, 1), time.Hour), Summary{100, 50, 90, 99, time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			for _, s := range tt.samples {
				h.Record(s)
			}
			got := h.Summary()
			if got.Count != tt.want.Count || got.Max != tt.want.Max {
				t.Fatalf("got count %d max %v, want %d %v", got.Count, got.Max, tt.want.Count, tt.want.Max)
			}
			for _, c := range []struct{ got, want time.Duration }{{got.P50, tt.want.P50}, {got.P90, tt.want.P90}, {got.P99, tt.want.P99}} {
				if !near(c.got, c.want) {
					t.Errorf("got %v, want %v (within 1/64)", c.got, c.want)
				}
			}
		})
	}
}

func TestHistogramRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	samples := make([]time.Duration, 20000)
	for i := range samples {
		samples[i] = time.Duration(rng.ExpFloat64() * float64(2*time.Millisecond))
		h.Record(samples[i])
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		if got, want := h.Quantile(q), exactQuantile(samples, q); !near(got, want) {
			t.Errorf("q%v: got %v, want %v (within 1/64)", q, got, want)
		}
	}
}

func TestBucketLayout(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 1 << 20, 1<<40 - 1, 1 << 40, 1 << 62} {
		i := bucketOf(v)
		if i < prev || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d, want ascending below %d", v, i, prev, numBuckets)
		}
		if low, width := bucketRange(i); v < 1<<40 && (v < low || v >= low+width) {
			t.Fatalf("bucketOf(%d) = %d holding [%d,%d)", v, i, low, low+width)
		}
		prev = i
	}
}

func seq(from, to, step time.Duration) []time.Duration {
	var out []time.Duration
	for d := from; d <= to; d += step {
		out = append(out, d)
	}
	return out
}

func near(got, want time.Duration) bool {
	diff := got - want
	if diff < 0 {
		diff = -diff
	}
	return diff <= want/subCount+1
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(1)
		for pb.Next() {
			h.Record(d)
			d = d*7%time.Second + 1
		}
	})
}
