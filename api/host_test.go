package api_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/parleychat/parley/api"
)

// withHost sends a request to s with the Host header host.
func withHost(tb testing.TB, s *testServer, method, path, host, body string) response {
	tb.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Host = host
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestHostCheckWithoutAuth: a server without access control answers only
// the names it is known by, so a page that rebinds its own name to the
// server (DNS rebinding) can neither post nor download a backup.
func TestHostCheckWithoutAuth(t *testing.T) {
	s := mustStartServer(t, func(srv *api.Server) { srv.AllowedHosts = []string{"chat.lan"} })
	_, port, _ := strings.Cut(strings.TrimPrefix(s.URL(), "http://"), ":")
	post := `{"author":"mallory","text":"rebound"}`
	for _, tc := range []struct {
		method, path, host, body string
		want                     int
	}{
		{"POST", "/api/rooms/general/messages", "rebind.example:" + port, post, http.StatusMisdirectedRequest},
		{"GET", "/api/admin/backup", "rebind.example:" + port, "", http.StatusMisdirectedRequest},
		{"GET", "/api/rooms", "rebind.example", "", http.StatusMisdirectedRequest},
		{"GET", "/", "rebind.example:" + port, "", http.StatusMisdirectedRequest},
		{"GET", "/api/rooms", "localhost.rebind.example:" + port, "", http.StatusMisdirectedRequest},
		{"GET", "/api/rooms", "127.0.0.1.nip.io:" + port, "", http.StatusMisdirectedRequest},
		{"GET", "/api/rooms", "localhost:" + port, "", http.StatusOK},
		{"GET", "/api/rooms", "LocalHost:" + port, "", http.StatusOK},
		{"GET", "/api/rooms", "app.localhost:" + port, "", http.StatusOK},
		{"GET", "/api/rooms", "127.0.0.1:" + port, "", http.StatusOK},
		{"GET", "/api/rooms", "[::1]:" + port, "", http.StatusOK},
		{"GET", "/api/rooms", "192.0.2.7:" + port, "", http.StatusOK},
		{"GET", "/api/rooms", "chat.lan:" + port, "", http.StatusOK},
		{"GET", "/api/rooms", "CHAT.LAN", "", http.StatusOK},
		{"GET", "/healthz", "rebind.example:" + port, "", http.StatusOK},
		{"GET", "/readyz", "parley-svc", "", http.StatusOK},
	} {
		resp := withHost(t, s, tc.method, tc.path, tc.host, tc.body)
		if resp.status != tc.want {
			t.Errorf("%s %s with Host %s: got %d %s, want %d", tc.method, tc.path, tc.host, resp.status, resp.body, tc.want)
			continue
		}
		if tc.want == http.StatusMisdirectedRequest {
			if msg := resp.errorMessage(t); !strings.Contains(msg, "-allowed-hosts") {
				t.Errorf("%s %s with Host %s: got %q, want it to name -allowed-hosts", tc.method, tc.path, tc.host, msg)
			}
		}
	}
	if resp := s.do(t, "GET", "/api/rooms", "", nil); !bytes.Equal(resp.body, []byte("{\"rooms\":[]}\n")) {
		t.Fatalf("a refused post was stored: %s", resp.body)
	}

	t.Run("any host", func(t *testing.T) {
		s := mustStartServer(t, func(srv *api.Server) { srv.AllowedHosts = []string{"*"} })
		if resp := withHost(t, s, "GET", "/api/rooms", "rebind.example", ""); resp.status != http.StatusOK {
			t.Fatalf("got %d %s, want 200", resp.status, resp.body)
		}
	})
	t.Run("access control on", func(t *testing.T) {
		s := mustStartAuthServer(t)
		if resp := withHost(t, s.testServer, "GET", "/api/rooms", "chat.example.org", ""); resp.status != http.StatusUnauthorized {
			t.Fatalf("got %d %s, want 401: with access control every name is answered", resp.status, resp.body)
		}
	})
}
