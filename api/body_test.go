package api_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
)

// slowClient is a raw connection that sends a request's headers and then
// its body a little at a time, as the clients that held connections open
// for ever did.
type slowClient struct {
	conn net.Conn
	stop chan struct{}
	done sync.WaitGroup
}

// startSlowClient sends method path with the header lines (Host:
// 127.0.0.1 unless they have one) and a Content-Length of size, then first, then one more byte every gap until
// the server stops reading or stop. With gap 0 it sends nothing after
// first.
func startSlowClient(tb testing.TB, url, method, path string, header []string, size int, first string, gap time.Duration) *slowClient {
	tb.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		tb.Fatal(err)
	}
	c := &slowClient{conn: conn, stop: make(chan struct{})}
	tb.Cleanup(c.close)
	if !slices.ContainsFunc(header, func(h string) bool { return strings.HasPrefix(h, "Host:") }) {
		header = append(header, "Host: 127.0.0.1")
	}
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nContent-Length: %d\r\n%s\r\n\r\n%s", method, path, size, strings.Join(header, "\r\n"), first)
	if _, err := io.WriteString(conn, head); err != nil {
		tb.Fatal(err)
	}
	if gap <= 0 {
		return c
	}
	c.done.Go(func() {
		tick := time.NewTicker(gap)
		defer tick.Stop()
		for range size - len(first) {
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte("x")); err != nil {
				return // the server has hung up
			}
		}
	})
	return c
}

func (c *slowClient) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.conn.Close()
	c.done.Wait()
}

// answer reads the server's answer and then waits for the server to close
// the connection, failing unless both happen within a generous deadline.
func (c *slowClient) answer(tb testing.TB) *http.Response {
	tb.Helper()
	c.conn.SetReadDeadline(time.Now().Add(45 * time.Second))
	br := bufio.NewReader(c.conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		tb.Fatalf("no answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("reading the answer: %v", err)
	}
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	// A client still sending when the server closes may see a reset
	// instead of the end: both are the server hanging up.
	if n, err := br.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		tb.Fatalf("after the answer: got %d bytes, %v; want the server to close the connection", n, err)
	}
	return resp
}

// TestSlowBodiesAreCutOff: clients that send a body a byte at a time are
// answered 408 and disconnected once the body timeout passes, and the
// server keeps answering everyone else meanwhile.
func TestSlowBodiesAreCutOff(t *testing.T) {
	s := mustStartAuthServer(t, func(srv *api.Server) { srv.BodyTimeout = 2 * time.Second })
	s.addUser(t, "alice")
	var slow []*slowClient
	for range 20 {
		slow = append(slow, startSlowClient(t, s.URL(), "POST", "/api/login", []string{"Content-Type: application/json"}, 200, `{"name":"alice",`, 200*time.Millisecond))
	}
	if got, body := s.status(t, "GET", "/healthz", ""); got != http.StatusOK {
		t.Fatalf("healthz beside slow clients: got %d %s", got, body)
	}
	s.login(t, "alice", "alice-password", false)
	for i, c := range slow {
		resp := c.answer(t)
		if resp.StatusCode != http.StatusRequestTimeout {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("slow client %d: got %d %s, want 408", i, resp.StatusCode, b)
		}
	}
	if got, body := s.status(t, "GET", "/healthz", ""); got != http.StatusOK {
		t.Fatalf("healthz after: got %d %s", got, body)
	}
}

// TestErrorsBeforeTheBodyDoNotWaitForIt: an answer that needs none of the
// body (no credentials, no permission, over a limit, a host not served, a
// content type refused) comes at once and closes the connection, while
// the client still holds back most of a body it may never send. The body
// timeout is long, so it cannot be what ends these.
func TestErrorsBeforeTheBodyDoNotWaitForIt(t *testing.T) {
	long := func(srv *api.Server) { srv.BodyTimeout = 10 * time.Minute }
	s := mustStartAuthServer(t, long, func(srv *api.Server) { srv.Limits.LoginPerMinuteIP = 3 })
	alice := s.addUser(t, "alice") // the setup and two tokens: every sign-in attempt
	open := mustStartServer(t, long)
	js := "Content-Type: application/json"
	for _, tc := range []struct {
		name   string
		url    string
		method string
		path   string
		header []string
		want   int
	}{
		{"401 without credentials", s.URL(), "POST", "/api/rooms/a/messages", []string{js}, http.StatusUnauthorized},
		{"403 for a member", s.URL(), "PUT", "/api/rooms/a/settings", []string{js, alice[0] + ": " + alice[1]}, http.StatusForbidden},
		{"429 over the sign-in limit", s.URL(), "POST", "/api/login", []string{js}, http.StatusTooManyRequests},
		{"421 for a host not served", open.URL(), "POST", "/api/rooms/a/messages", []string{js, "Host: rebind.example"}, http.StatusMisdirectedRequest},
		{"415 for another content type", open.URL(), "POST", "/api/rooms/a/messages", []string{"Content-Type: text/plain"}, http.StatusUnsupportedMediaType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := startSlowClient(t, tc.url, tc.method, tc.path, tc.header, 100_000, `{"te`, 0)
			if resp := c.answer(t); resp.StatusCode != tc.want {
				t.Fatalf("got %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

// TestImportBodyHasItsOwnTimeout: an import's body may take longer than
// other bodies (ImportBodyTimeout), and the deadline ends with the body:
// an import read in time is stored.
func TestImportBodyHasItsOwnTimeout(t *testing.T) {
	src := mustStartServer(t)
	for i := range 5 {
		src.post(t, "r", map[string]string{"author": "ann", "text": fmt.Sprint("line ", i)}, http.StatusCreated)
	}
	export := src.do(t, "GET", "/api/rooms/r/export", "", nil).body

	s := mustStartServer(t, func(srv *api.Server) { srv.BodyTimeout, srv.ImportBodyTimeout = time.Second, 2*time.Minute })
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/rooms/r/import HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/jsonl\r\nContent-Length: %d\r\n\r\n", len(export))
	// Five pieces, well over a second apart in all: slower than BodyTimeout.
	piece := len(export)/5 + 1
	for off := 0; off < len(export); off += piece {
		time.Sleep(400 * time.Millisecond) // pacing the client, not waiting for the server
		if _, err := conn.Write(export[off:min(off+piece, len(export))]); err != nil {
			t.Fatalf("the server stopped reading the import: %v", err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(45 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"imported":5`) {
		t.Fatalf("slow import: got %d %s, want 200 with 5 imported", resp.StatusCode, body)
	}
}

// TestStalledImportIs408: an import body that stops arriving is cut off at
// the import's own bound and answered 408, like any other slow body.
func TestStalledImportIs408(t *testing.T) {
	s := mustStartServer(t, func(srv *api.Server) { srv.ImportBodyTimeout = time.Second })
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /api/rooms/r/import HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/jsonl\r\nContent-Length: 1000\r\n\r\n{\"id\":")
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "took longer than") {
		t.Fatalf("stalled import: got %d %s, want 408 saying the body was too slow", resp.StatusCode, body)
	}
}
