package main

import (
	"context"
	"net/http"
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
			if !waitFor(func() bool { return strings.Contains(stderr.String(), "parley listening") }) {
				t.Fatalf("serve did not start:\n%s", stderr)
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

// TestServeAccessControlMode: without -auth, only a loopback address runs
// open; -auth none elsewhere runs open with a warning; -auth on prints a
// setup token unless PARLEY_ADMIN_PASSWORD creates the admin.
func TestServeAccessControlMode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // serve fails at once with this
		want    []string
		notWant []string
	}{
		{name: "loopback is open by default", args: []string{"-addr", "127.0.0.1:0"}, want: []string{"auth=none"}, notWant: []string{"ACCESS CONTROL IS OFF"}},
		{name: "all interfaces need -auth", args: []string{"-addr", "0.0.0.0:0"}, wantErr: "refusing to listen on 0.0.0.0:0 without access control"},
		{name: "an open server on purpose", args: []string{"-addr", "0.0.0.0:0", "-auth", "none"}, want: []string{"ACCESS CONTROL IS OFF", "auth=none"}},
		{name: "unknown mode", args: []string{"-auth", "maybe"}, wantErr: "-auth must be on or none"},
		{name: "bad proxy", args: []string{"-behind-proxy", "nginx"}, wantErr: "neither an address nor a CIDR prefix"},
		{name: "invites that never expire", args: []string{"-max-invite-ttl", "0"}, wantErr: "-max-invite-ttl must be positive"},
		{name: "negative body timeout", args: []string{"-body-timeout", "-1s"}, wantErr: "-body-timeout and -import-body-timeout must be 0"},
		{name: "setup token", args: []string{"-addr", "127.0.0.1:0", "-auth", "on"}, want: []string{"auth=on", "one-time setup token", "-setup-token setup_"}},
		{name: "admin from the environment", args: []string{"-addr", "127.0.0.1:0", "-auth", "on"}, env: map[string]string{"PARLEY_ADMIN_PASSWORD": "from-the-env"},
			want: []string{"created the admin user admin"}, notWant: []string{"setup token", "from-the-env"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stderr := &syncBuffer{}
			m := &Main{Stdin: strings.NewReader(""), Stdout: stderr, Stderr: stderr, Getenv: func(k string) string { return tc.env[k] }}
			done := make(chan error, 1)
			go func() {
				done <- m.Run(ctx, append([]string{"serve", "-db", filepath.Join(t.TempDir(), "p.db")}, tc.args...))
			}()
			if tc.wantErr != "" {
				select {
				case err := <-done:
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
					}
				case <-time.After(patience):
					t.Fatal("serve did not fail")
				}
				return
			}
			if !waitFor(func() bool { return strings.Contains(stderr.String(), "parley listening") }) {
				t.Fatalf("serve did not start:\n%s", stderr)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, stderr)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(stderr.String(), w) {
					t.Errorf("output has %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestServeAllowedHosts: without -auth the server answers only localhost,
// IP addresses and the names of -allowed-hosts (DNS rebinding).
func TestServeAllowedHosts(t *testing.T) {
	url, _ := mustServe(t, map[string]string{}, "-allowed-hosts", "chat.lan, parley.internal")
	for _, tc := range []struct {
		host string
		want int
	}{
		{"chat.lan", http.StatusOK},
		{"parley.internal:8080", http.StatusOK},
		{"localhost", http.StatusOK},
		{"rebind.example", http.StatusMisdirectedRequest},
	} {
		req, _ := http.NewRequest(http.MethodGet, url+"/api/rooms", nil)
		req.Host = tc.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Host %s: got %d, want %d", tc.host, resp.StatusCode, tc.want)
		}
	}
}
