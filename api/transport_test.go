package api_test

import (
	"crypto/tls"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/api/nginxtest"
	"github.com/parleychat/parley/store/bolt"
)

// TestTLSServesHTTP2AndSecureCookies: with a certificate the server speaks
// HTTPS and HTTP/2, and session cookies are Secure.
func TestTLSServesHTTP2AndSecureCookies(t *testing.T) {
	certFile, keyFile, pool := nginxtest.WriteCert(t, t.TempDir())
	s := mustStartAuthServerWithoutAdmin(t, func(srv *api.Server) { srv.TLSCert, srv.TLSKey = certFile, keyFile })
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("URL: got %s, want https", s.URL())
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	body := `{"token":"` + setupToken + `","name":"root","password":"rootpassword"}`
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/api/setup", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.ProtoMajor != 2 {
		t.Fatalf("got %d over %s, want 201 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || !cookies[0].Secure || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie: got %+v, want Secure, HttpOnly, SameSite=Lax", cookies)
	}
}

// TestTLSNeedsBothFiles: half a TLS configuration fails at Open.
func TestTLSNeedsBothFiles(t *testing.T) {
	certFile, _, _ := nginxtest.WriteCert(t, t.TempDir())
	db := bolt.NewDB(filepath.Join(t.TempDir(), "parley.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := api.NewServer(db)
	srv.Addr, srv.Logger, srv.TLSCert = "127.0.0.1:0", quietLogger(), certFile
	if err := srv.Open(); err == nil {
		srv.Close()
		t.Fatal("Open with a certificate and no key succeeded")
	}
}

// TestBehindProxy: X-Forwarded-For decides the client address only when
// the peer is a trusted proxy.
func TestBehindProxy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		// want: the status of a second login attempt from another
		// forwarded address, once the first used up its address's limit
		want int
	}{
		{"trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, http.StatusUnauthorized},
		{"no proxy trusted", nil, http.StatusTooManyRequests},
		{"another proxy trusted", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustStartAuthServerWithoutAdmin(t, func(srv *api.Server) {
				srv.TrustedProxies, srv.Limits.LoginPerMinuteIP = tc.trusted, 1
			})
			login := `{"name":"nobody","password":"whatever1"}`
			if got, _ := s.status(t, "POST", "/api/login", login, "X-Forwarded-For", "203.0.113.7"); got != http.StatusUnauthorized {
				t.Fatalf("first: got %d, want 401", got)
			}
			if got, _ := s.status(t, "POST", "/api/login", login, "X-Forwarded-For", "203.0.113.8, 127.0.0.1"); got != tc.want {
				t.Fatalf("second: got %d, want %d", got, tc.want)
			}
		})
	}
}

// TestSecureCookieBehindTLSProxy: a trusted proxy's X-Forwarded-Proto:
// https makes cookies Secure; anyone else's does not.
func TestSecureCookieBehindTLSProxy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		want    bool
	}{
		{"trusted", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, true},
		{"untrusted", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustStartAuthServerWithoutAdmin(t, func(srv *api.Server) { srv.TrustedProxies = tc.trusted })
			resp := s.call(t, http.MethodPost, "/api/setup", map[string]string{"token": setupToken, "name": "root", "password": "rootpassword"}, "X-Forwarded-Proto", "https")
			cookies := (&http.Response{Header: resp.header}).Cookies()
			if len(cookies) != 1 || cookies[0].Secure != tc.want {
				t.Fatalf("cookies %+v: want Secure %v", cookies, tc.want)
			}
		})
	}
}

// TestCORS: only listed origins get CORS headers, and may post
// cross-origin with credentials.
func TestCORS(t *testing.T) {
	s := mustStartAuthServer(t, func(srv *api.Server) { srv.CORSOrigins = []string{"https://shop.example"} })
	s.addUser(t, "alice")
	cookie := s.login(t, "alice", "alice-password", false)
	for _, tc := range []struct {
		origin    string
		allowed   bool
		postWant  int
		preflight string
	}{
		{"https://shop.example", true, http.StatusCreated, "POST"},
		{"https://evil.example", false, http.StatusForbidden, ""},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			resp := s.do(t, http.MethodOptions, "/api/rooms/a/messages", "", nil,
				"Origin", tc.origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
			if got := resp.header.Get("Access-Control-Allow-Origin"); (got == tc.origin) != tc.allowed {
				t.Fatalf("preflight Allow-Origin: got %q", got)
			}
			if got := resp.header.Get("Access-Control-Allow-Methods"); tc.allowed && !strings.Contains(got, tc.preflight) {
				t.Fatalf("preflight Allow-Methods: got %q", got)
			}
			resp = s.do(t, http.MethodPost, "/api/rooms/a/messages", "application/json", []byte(`{"text":"from the shop"}`),
				append([]string{"Origin", tc.origin, "Sec-Fetch-Site", "cross-site"}, cookie...)...)
			if resp.status != tc.postWant {
				t.Fatalf("cross-origin post: got %d %s, want %d", resp.status, resp.body, tc.postWant)
			}
			if got := resp.header.Get("Access-Control-Allow-Credentials"); (got == "true") != tc.allowed {
				t.Fatalf("Allow-Credentials: got %q", got)
			}
		})
	}
}
