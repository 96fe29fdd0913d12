//go:build linux

package api

import (
	"runtime"
	"syscall"
	"testing"
)

// niceOf is the nice value of the calling thread (the raw getpriority
// system call answers 20 - nice).
func niceOf(tb testing.TB) int {
	tb.Helper()
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		tb.Fatal(err)
	}
	return 20 - p
}

// TestThumbnailThreadPriority: a thumbnail worker runs at the lowest
// priority, and only its own thread does.
func TestThumbnailThreadPriority(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := niceOf(t)
	got := make(chan int)
	go func() {
		if err := lowerThreadPriority(); err != nil {
			t.Error(err)
		}
		got <- niceOf(t)
	}()
	if n := <-got; n != thumbNice {
		t.Errorf("worker thread: got nice %d, want %d", n, thumbNice)
	}
	if n := niceOf(t); n != before {
		t.Errorf("another thread: got nice %d, want %d (unchanged)", n, before)
	}
}
