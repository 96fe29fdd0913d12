package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestCheckLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:6060", true},
		{"127.0.0.2:0", true},
		{"[::1]:6060", true},
		{"localhost:6060", true},
		{":6060", false},
		{"0.0.0.0:6060", false},
		{"[::]:6060", false},
		{"192.0.2.1:6060", false},
		{"example.org:6060", false},
		{"127.0.0.1", false},
	} {
		if err := checkLoopback(tc.addr); (err == nil) != tc.ok {
			t.Errorf("checkLoopback(%q): got %v, want ok %v", tc.addr, err, tc.ok)
		}
	}
}

var pprofRE = regexp.MustCompile(`msg="pprof listening" url=(\S+)`)

func TestServePprof(t *testing.T) {
	c := startChild(t, "serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "p.db"), "-pprof-addr", "127.0.0.1:0")
	m := pprofRE.FindStringSubmatch(c.stderr.String()) // logged before "parley listening"
	if m == nil {
		t.Fatalf("no pprof URL logged:\n%s", c.stderr)
	}
	client := &http.Client{Timeout: patience}
	resp, err := client.Get(m[1] + "cmdline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %scmdline: got %d, want 200", m[1], resp.StatusCode)
	}
	// Profiles are not on the API's listener.
	resp, err = client.Get(c.url + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /debug/pprof/cmdline on the API: got %d, want 404", resp.StatusCode)
	}
}

func TestServeRefusesPublicPprof(t *testing.T) {
	var stderr bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr, Getenv: func(string) string { return "" }}
	db := filepath.Join(t.TempDir(), "p.db")
	err := m.Run(context.Background(), []string{"serve", "-addr", "127.0.0.1:0", "-db", db, "-pprof-addr", "0.0.0.0:6060"})
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("got %v, want an error naming the loopback rule", err)
	}
}
