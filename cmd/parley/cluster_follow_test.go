package main

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// follower is a subscriber of room r that moves between a cluster's nodes:
// it starts on one, and after every hop events drops its stream and
// resumes on the next node with Last-Event-ID. A node that refuses or
// fails (killed, or not ready) is skipped for the next.
type follower struct {
	mu  sync.Mutex
	got []sseEvent
}

// follow starts a follower on nodes[start] until ctx ends, and returns
// once its first stream is open.
func follow(ctx context.Context, nodes []clusterClient, start, hop int) *follower {
	f := &follower{}
	live := make(chan struct{})
	var once sync.Once
	go func() {
		for node := start; ctx.Err() == nil; node++ {
			sctx, cancel := context.WithCancel(ctx)
			ch, err := nodes[node%len(nodes)].stream(sctx, "r", f.last())
			if err != nil {
				cancel()
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			once.Do(func() { close(live) })
			for n := 0; n < hop; n++ {
				ev, ok := <-ch
				if !ok {
					break
				}
				f.mu.Lock()
				f.got = append(f.got, ev)
				f.mu.Unlock()
			}
			cancel()
		}
	}()
	// Subscribed before anything is posted: a stream that starts without
	// Last-Event-ID gets what is posted after it, not before.
	select {
	case <-live:
	case <-ctx.Done():
	}
	return f
}

func (f *follower) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) == 0 {
		return ""
	}
	return f.got[len(f.got)-1].id
}

// check waits until the follower has len(ids) events and fails unless
// they are exactly ids, in order, once each.
func (f *follower) check(tb testing.TB, name string, ids []string) {
	tb.Helper()
	var got []string
	// Generous: a follower that lost its node waits out the node's
	// restart, or a new NATS leader, then replays from its last id.
	waitLonger(3, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		got = got[:0]
		for _, ev := range f.got {
			got = append(got, ev.id)
		}
		return len(got) >= len(ids)
	})
	if !slices.Equal(got, ids) {
		tb.Fatalf("follower %s got %d events, want the %d stored, once each and in order:\ngot  %v\nwant %v", name, len(got), len(ids), got, ids)
	}
}

// waitLonger is waitFor with n times its patience.
func waitLonger(n int, cond func() bool) bool {
	for range n - 1 {
		if waitFor(cond) {
			return true
		}
	}
	return waitFor(cond)
}
