package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store/bolt"
	"github.com/parleychat/parley/stream"
)

// clock is a settable clock for expiries.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// setupToken is the setup token of test servers with access control.
const setupToken = "setup-for-tests"

// authServer is a test server with access control on and an admin, root,
// whose bearer header is admin.
type authServer struct {
	*testServer
	clock *clock
	admin []string // header pairs: Authorization: Bearer ...
}

// mustStartAuthServer starts a server with -auth on and cheap password
// hashing, and creates the admin root.
func mustStartAuthServer(tb testing.TB, configure ...func(*api.Server)) *authServer {
	tb.Helper()
	as := mustStartAuthServerWithoutAdmin(tb, configure...)
	as.mustCall(tb, http.StatusCreated, "POST", "/api/setup", map[string]any{"token": setupToken, "name": "root", "password": "rootpassword"})
	as.admin = as.login(tb, "root", "rootpassword", true)
	return as
}

// mustStartAuthServerWithoutAdmin is mustStartAuthServer before the setup.
func mustStartAuthServerWithoutAdmin(tb testing.TB, configure ...func(*api.Server)) *authServer {
	tb.Helper()
	c := &clock{t: time.Now().UTC()}
	db := bolt.NewDB(filepath.Join(tb.TempDir(), "parley.db"))
	db.Logger = quietLogger()
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	s := mustStartServerOn(tb, db, append([]func(*api.Server){func(srv *api.Server) {
		srv.Accounts, srv.SetupToken, srv.Now = db, setupToken, c.Now
		srv.PasswordTime, srv.PasswordMemoryKiB = 1, 64
	}}, configure...)...)
	return &authServer{testServer: s, clock: c}
}

// mustCall sends body as JSON with header pairs, fails unless want is the
// status, and decodes the answer into a map.
func (s *authServer) mustCall(tb testing.TB, want int, method, path string, body any, header ...string) map[string]any {
	tb.Helper()
	resp := s.call(tb, method, path, body, header...)
	if resp.status != want {
		tb.Fatalf("%s %s: got %d %s, want %d", method, path, resp.status, resp.body, want)
	}
	var m map[string]any
	json.Unmarshal(resp.body, &m)
	return m
}

func (s *authServer) call(tb testing.TB, method, path string, body any, header ...string) response {
	tb.Helper()
	var b []byte
	ct := ""
	if body != nil {
		b, _ = json.Marshal(body)
		ct = "application/json"
	}
	return s.do(tb, method, path, ct, b, header...)
}

// step is one request of a sequence and the status it must get.
type step struct {
	name         string
	method, path string
	body         any // sent as JSON
	header       []string
	want         int
}

// mustSteps sends each step in turn, failing at the first that gets
// another status: later steps build on earlier ones.
func (s *authServer) mustSteps(tb testing.TB, steps []step) {
	tb.Helper()
	for _, st := range steps {
		if resp := s.call(tb, st.method, st.path, st.body, st.header...); resp.status != st.want {
			tb.Fatalf("%s: got %d %s, want %d", st.name, resp.status, resp.body, st.want)
		}
	}
}

// login returns the header pairs of a new credential of name: a bearer
// token, or the session cookie of a password sign-in.
func (s *authServer) login(tb testing.TB, name, password string, token bool) []string {
	tb.Helper()
	if token {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/api/tokens", nil)
		req.SetBasicAuth(name, password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		defer resp.Body.Close()
		var t struct {
			Token string `json:"token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&t); err != nil || resp.StatusCode != http.StatusCreated {
			tb.Fatalf("token for %s: %d %v", name, resp.StatusCode, err)
		}
		return []string{"Authorization", "Bearer " + t.Token}
	}
	resp := s.call(tb, http.MethodPost, "/api/login", map[string]string{"name": name, "password": password})
	if resp.status != http.StatusOK {
		tb.Fatalf("login %s: got %d %s", name, resp.status, resp.body)
	}
	return []string{"Cookie", sessionOf(tb, resp.header)}
}

// sessionOf returns the "parley_session=..." pair a response set.
func sessionOf(tb testing.TB, h http.Header) string {
	tb.Helper()
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == "parley_session" && c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	tb.Fatalf("no session cookie in %v", h)
	return ""
}

// addUser creates a member and returns a token header for them.
func (s *authServer) addUser(tb testing.TB, name string) []string {
	tb.Helper()
	s.mustCall(tb, http.StatusCreated, "POST", "/api/users", map[string]string{"name": name, "password": name + "-password"}, s.admin...)
	return s.login(tb, name, name+"-password", true)
}

// guest redeems a new invite to room and returns the guest's cookie header.
func (s *authServer) guest(tb testing.TB, room, name string) []string {
	tb.Helper()
	inv := s.mustCall(tb, http.StatusCreated, "POST", "/api/rooms/"+room+"/invites", nil, s.admin...)
	resp := s.call(tb, http.MethodPost, "/api/join/"+inv["code"].(string), map[string]string{"name": name})
	if resp.status != http.StatusOK {
		tb.Fatalf("join: got %d %s", resp.status, resp.body)
	}
	return []string{"Cookie", sessionOf(tb, resp.header)}
}

// status sends a request and returns its status and, for answers that are
// not streams, the body; streams are closed at once.
func (s *authServer) status(tb testing.TB, method, path string, body string, header ...string) (int, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, s.URL()+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp.StatusCode, ""
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// mustEnd fails unless the stream ends, without another record, within 10 s.
func mustEnd(tb testing.TB, r *stream.Reader, what string) {
	tb.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := nextLogged(r)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			tb.Fatalf("%s: got an event, want the stream to end", what)
		}
	case <-time.After(10 * time.Second):
		tb.Fatalf("%s: still open after 10 s", what)
	}
}
