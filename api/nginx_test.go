package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/api/nginxtest"
	"github.com/parleychat/parley/store"
)

// siteConf is the nginx site docs/deploy.md documents, verbatim.
const siteConf = "testdata/nginx-site.conf"

func TestNginxSiteIsDocumented(t *testing.T) {
	site, err := os.ReadFile(siteConf)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```nginx\n"+string(site)+"```\n") {
		t.Fatalf("docs/deploy.md does not show %s verbatim in an nginx block", siteConf)
	}
}

// TestBehindNginx runs a real nginx with the documented site in front of a
// real server and checks that streams work through it: events arrive at
// once, Last-Event-ID resumes, and heartbeats keep an idle stream open past
// nginx's read timeout.
func TestBehindNginx(t *testing.T) {
	const (
		heartbeat   = 250 * time.Millisecond
		readTimeout = 5 * time.Second
	)
	s := mustStartServer(t, func(srv *api.Server) { srv.Heartbeat = heartbeat })
	px := mustStartNginx(t, strings.TrimPrefix(s.URL(), "http://"), readTimeout)

	t.Run("live", func(t *testing.T) {
		events, stop := px.openStream(t, "/api/rooms/live/events", "")
		defer stop()
		// A buffering proxy holds a small event until its buffer (KiBs)
		// fills, that is indefinitely: heartbeats add a few bytes a
		// second. An unbuffered one passes it on, however slowly the
		// machine runs, so waiting long is no weaker a test.
		e := px.post(t, "live", "hello")
		if got := nextEvent(t, events, time.Minute); got.ID != e.ID.String() {
			t.Fatalf("got event %s, want %s (is the proxy buffering?)", got.ID, e.ID)
		}
	})

	t.Run("private", func(t *testing.T) {
		for _, path := range []string{"/metrics", "/api/admin/backup"} {
			resp, err := px.client.Get(px.url + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s through nginx: got %d, want 404", path, resp.StatusCode)
			}
		}
	})

	t.Run("resume", func(t *testing.T) {
		first := px.post(t, "resume", "1")
		second := px.post(t, "resume", "2")
		third := px.post(t, "resume", "3")
		events, stop := px.openStream(t, "/api/rooms/resume/events", first.ID.String())
		defer stop()
		for _, want := range []store.Event{second, third} {
			if got := nextEvent(t, events, time.Minute); got.ID != want.ID.String() {
				t.Fatalf("resumed after %s: got %s, want %s", first.ID, got.ID, want.ID)
			}
		}
	})

	t.Run("idle", func(t *testing.T) {
		events, stop := px.openStream(t, "/api/rooms/idle/events", "")
		defer stop()
		// Stay idle for twice nginx's read timeout: only heartbeats come,
		// and the same stream still carries the next event.
		start := time.Now()
		for time.Since(start) < 2*readTimeout {
			if f := nextFrame(t, events, time.Minute); !f.heartbeat {
				t.Fatalf("idle stream: got event %s, want heartbeats only", f.ID)
			}
		}
		e := px.post(t, "idle", "after a long silence")
		if got := nextEvent(t, events, time.Minute); got.ID != e.ID.String() {
			t.Fatalf("got %s, want %s", got.ID, e.ID)
		}
	})
}

// proxy is a running nginx and a client that trusts its certificate.
type proxy struct {
	url    string
	client *http.Client
}

// mustStartNginx runs nginx (api/nginxtest) with the documented site
// proxying to upstream, its read timeout readTimeout. It skips the test if
// nginx is not installed, except on CI, where that is a failure.
func mustStartNginx(tb testing.TB, upstream string, readTimeout time.Duration) *proxy {
	tb.Helper()
	site, err := os.ReadFile(siteConf)
	if err != nil {
		tb.Fatal(err)
	}
	conf := nginxtest.ReplaceOnce(tb, string(site), "    server 127.0.0.1:8080;\n", "    server "+upstream+";\n")
	conf = nginxtest.ReplaceOnce(tb, conf, "        proxy_read_timeout 1m;\n", fmt.Sprintf("        proxy_read_timeout %dms;\n", readTimeout.Milliseconds()))
	n := nginxtest.Start(tb, conf, time.Minute)
	px := &proxy{url: n.URL, client: n.Client()}
	tb.Cleanup(px.client.CloseIdleConnections)
	return px
}

// post sends a message through the proxy and returns the stored event.
func (px *proxy) post(tb testing.TB, room, text string) store.Event {
	tb.Helper()
	body, _ := json.Marshal(map[string]string{"author": "nginx", "text": text})
	resp, err := px.client.Post(px.url+"/api/rooms/"+room+"/messages", "application/json", strings.NewReader(string(body)))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("POST through nginx: got %d %s, want 201", resp.StatusCode, b)
	}
	var e store.Event
	if err := json.Unmarshal(b, &e); err != nil {
		tb.Fatal(err)
	}
	return e
}

// frame is one thing read off a stream: an event, or a heartbeat comment.
type frame struct {
	heartbeat bool
	ID, Data  string
	err       error
}

// openStream opens a stream through the proxy and reads its frames into the
// returned channel until stop.
func (px *proxy) openStream(tb testing.TB, path, lastEventID string) (<-chan frame, func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, px.url+path, nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := px.client.Do(req)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		resp.Body.Close()
		tb.Fatalf("GET %s through nginx: got %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	frames := make(chan frame, 64)
	go func() {
		defer close(frames)
		br := bufio.NewReader(resp.Body)
		var f frame
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				frames <- frame{err: err}
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case strings.HasPrefix(line, ":"):
				frames <- frame{heartbeat: true}
			case strings.HasPrefix(line, "id: "):
				f.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				f.Data = strings.TrimPrefix(line, "data: ")
			case line == "" && f.Data != "":
				if f.ID != "" { // not a marker or an ephemeral event
					frames <- f
				}
				f = frame{}
			}
		}
	}()
	return frames, func() {
		cancel()
		resp.Body.Close()
		for range frames { // let the reader finish
		}
	}
}

// nextFrame returns the next frame within the timeout, failing on an error
// (the stream ended).
func nextFrame(tb testing.TB, frames <-chan frame, timeout time.Duration) frame {
	tb.Helper()
	select {
	case f, ok := <-frames:
		if !ok {
			tb.Fatal("stream through nginx ended")
		}
		if f.err != nil {
			tb.Fatalf("stream through nginx ended: %v", f.err)
		}
		return f
	case <-time.After(timeout):
		tb.Fatalf("nothing on the stream for %v", timeout)
	}
	return frame{}
}

// nextEvent returns the next event, skipping heartbeats.
func nextEvent(tb testing.TB, frames <-chan frame, timeout time.Duration) frame {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f := nextFrame(tb, frames, time.Until(deadline))
		if !f.heartbeat {
			return f
		}
	}
}
