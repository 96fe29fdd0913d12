package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/parleychat/parley/api"
)

func TestParseICEServers(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []api.ICEServer
		wantErr string
	}{
		{"", nil, ""},
		{"stun:stun.example.org:3478", []api.ICEServer{{URLs: []string{"stun:stun.example.org:3478"}}}, ""},
		{"stun:a.example, turn:alice:s3cret@b.example:3478?transport=tcp", []api.ICEServer{
			{URLs: []string{"stun:a.example"}},
			{URLs: []string{"turn:b.example:3478?transport=tcp"}, Username: "alice", Credential: "s3cret"},
		}, ""},
		{"TURNS:u%40x:p%3Aw@turn.example.org:5349", []api.ICEServer{{URLs: []string{"turns:turn.example.org:5349"}, Username: "u@x", Credential: "p:w"}}, ""},
		{"https://stun.example.org", nil, "scheme must be stun, stuns, turn or turns"},
		{"stun:", nil, "not a stun: or turn: URL"},
		{"stun:u:p@stun.example.org", nil, "a STUN URL has no credentials"},
		{"turn:turn.example.org", nil, "needs USER:CREDENTIAL@"},
		{"turn:alice@turn.example.org", nil, "credentials must be USER:CREDENTIAL@"},
		{"turn:alice:s3cret@", nil, "a host (and port) must follow"},
	} {
		got, err := parseICEServers(tc.in)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: got %v, want an error with %q", tc.in, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || !reflect.DeepEqual(got, tc.want)):
			t.Errorf("%q: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "s3cret"):
			t.Errorf("%q: the error shows the credential: %v", tc.in, err)
		}
	}
}

// TestServeServesICEServers: -ice-servers reaches clients in /api/config.
func TestServeServesICEServers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	m := &Main{Stdin: strings.NewReader(""), Stdout: stderr, Stderr: stderr, Getenv: func(string) string { return "" }}
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, []string{"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "p.db"),
			"-ice-servers", "stun:stun.example.org,turn:u:p@turn.example.org"})
	}()
	listening := regexp.MustCompile(`url=(http://\S+)`)
	if !waitFor(func() bool { return listening.MatchString(stderr.String()) }) {
		t.Fatalf("serve did not start:\n%s", stderr)
	}
	resp, err := http.Get(listening.FindStringSubmatch(stderr.String())[1] + "/api/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cfg struct {
		ICEServers []api.ICEServer `json:"ice_servers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	want := []api.ICEServer{{URLs: []string{"stun:stun.example.org"}}, {URLs: []string{"turn:turn.example.org"}, Username: "u", Credential: "p"}}
	if !reflect.DeepEqual(cfg.ICEServers, want) {
		t.Fatalf("ice_servers: got %+v, want %+v", cfg.ICEServers, want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
