package main

import (
	"context"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// TestServeSetsTheGCTargetUnlessGOGCIsSet: -gc-percent applies, and a GOGC
// environment variable wins over it.
func TestServeSetsTheGCTargetUnlessGOGCIsSet(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int
	}{
		{"flag applies", nil, 250},
		{"GOGC wins", map[string]string{"GOGC": "100"}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			ctx, cancel := context.WithCancel(context.Background())
			stderr := &syncBuffer{}
			m := &Main{Stdin: strings.NewReader(""), Stdout: stderr, Stderr: stderr, Getenv: func(k string) string { return tc.env[k] }}
			done := make(chan error, 1)
			go func() {
				done <- m.Run(ctx, []string{"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "p.db"), "-gc-percent", "250"})
			}()
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "parley listening"); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("serve did not start:\n%s", stderr)
				}
			}
			got := debug.SetGCPercent(100)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("GC percent: got %d, want %d", got, tc.want)
			}
		})
	}
}
