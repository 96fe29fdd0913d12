package jetstream_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
	"github.com/parleychat/parley/store/jetstream/natstest"
)

// BenchmarkClusterAppend appends messages from concurrent writers to a
// cluster node (a 3-server JetStream cluster in this process, fsync on
// every write, R3) and, as the baseline, to a single bbolt file, and
// reports appends per second and the latency percentiles of one append.
// Every append is acknowledged only once durable: on a quorum of NATS
// servers and applied on the node, or fsynced in the file.
func BenchmarkClusterAppend(b *testing.B) {
	c := natstest.Start(b, 3)
	for _, writers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("cluster/writers=%d", writers), func(b *testing.B) {
			benchAppend(b, openNode(b, c, newPrefix(), "bench", nil), writers)
		})
		b.Run(fmt.Sprintf("bbolt/writers=%d", writers), func(b *testing.B) {
			db := bolt.NewDB(filepath.Join(b.TempDir(), "single.db"))
			if err := db.Open(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			benchAppend(b, db, writers)
		})
	}
}

func benchAppend(b *testing.B, l store.Log, writers int) {
	var (
		mu   sync.Mutex
		lats []time.Duration
		wg   sync.WaitGroup
		next = make(chan int, writers)
	)
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := range next {
				t0 := time.Now()
				e := store.Event{Room: fmt.Sprintf("r%d", w%4), Type: store.TypeMessage, Author: "bench", Text: fmt.Sprintf("message %d", i)}
				if _, _, err := l.Append(context.Background(), e); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lats)
	if len(lats) == 0 {
		return
	}
	b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "appends/s")
	b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkCatchUp measures how fast a node on an empty replica applies a
// stream of 5,000 events (64 writers put them there first), in events per
// second of the whole rebuild: Open, consumer, applies, fsyncs.
func BenchmarkCatchUp(b *testing.B) {
	const events = 5000
	c := natstest.Start(b, 3)
	prefix := newPrefix()
	src := openNode(b, c, prefix, "src", nil)
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < events; i += 64 {
				if _, _, err := src.Append(context.Background(), store.Event{Room: "r", Type: store.TypeMessage, Author: "x", Text: fmt.Sprint(i)}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		openNode(b, c, prefix, fmt.Sprintf("fresh%d", i), nil)
	}
	b.ReportMetric(float64(events*b.N)/time.Since(start).Seconds(), "events/s")
}
