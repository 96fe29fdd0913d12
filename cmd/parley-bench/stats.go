package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram bucket layout: values below 2*subCount ns are exact; above that
// each power of two is split into subCount buckets, so a recorded value is
// known to within 1/subCount (1.6%), as in HdrHistogram. Values from 2^40 ns
// (about 18 minutes) up share the last bucket; Max stays exact.
const (
	subBits    = 6
	subCount   = 1 << subBits
	maxShift   = 40 - subBits - 1
	numBuckets = (maxShift + 2) << subBits
)

// Histogram records latencies in fixed log-linear buckets, so memory and the
// cost of Record do not grow with the number of samples. Record is safe for
// concurrent use (a few atomic operations, no locks); read the results with
// Summary once recording has stopped.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	minInv atomic.Int64 // MaxInt64 minus the smallest sample, so the zero value means none
	max    atomic.Int64
}

// Record adds one sample; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	raise(&h.minInv, math.MaxInt64-v)
	raise(&h.max, v)
}

// raise sets a to v if v is larger.
func raise(a *atomic.Int64, v int64) {
	for {
		m := a.Load()
		if v <= m || a.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count returns the number of samples recorded so far.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Quantile returns the nearest-rank q-quantile (0 < q <= 1): the midpoint of
// the bucket holding the ceil(q*n)-th smallest sample, kept within the
// smallest and largest samples.
// It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	bottom, top := math.MaxInt64-h.minInv.Load(), h.max.Load()
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			low, width := bucketRange(i)
			return time.Duration(min(max(low+(width-1)/2, bottom), top))
		}
	}
	return time.Duration(top)
}

// Summary is the usual digest of a latency distribution.
type Summary struct {
	Count uint64
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
	Max   time.Duration
}

// Summary digests what has been recorded so far.
func (h *Histogram) Summary() Summary {
	return Summary{
		Count: h.n.Load(),
		P50:   h.Quantile(0.50),
		P90:   h.Quantile(0.90),
		P99:   h.Quantile(0.99),
		Max:   time.Duration(h.max.Load()),
	}
}

// bucketOf maps a non-negative value to its bucket index.
func bucketOf(v int64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits - 1
	if shift > maxShift {
		return numBuckets - 1
	}
	return (shift+1)<<subBits + int(v>>shift) - subCount
}

// bucketRange returns the smallest value of bucket i and how many values it holds.
func bucketRange(i int) (low, width int64) {
	if i < 2*subCount {
		return int64(i), 1
	}
	shift := i>>subBits - 1
	sub := int64(i&(subCount-1) + subCount)
	return sub << shift, 1 << shift
}
