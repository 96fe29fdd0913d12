package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/store/jetstream/natstest"
	"github.com/parleychat/parley/stream"
)

// TestClusterBehindNginx: three NATS servers, three Parley nodes in cluster
// mode sharing one history, and a real nginx in front running the
// documented site with the documented cluster upstream (round robin).
// Every request goes through nginx:
//   - a token made through one request works on the next, which another
//     node serves (the nodes' request logs say which);
//   - several clients post at once while the node an event stream is on is
//     SIGKILLed: the stream, reconnected through nginx with Last-Event-ID,
//     lands on another node and gets exactly what it missed, and what it
//     got in all is every event once, in the one order every node stores;
//     posts cut by the kill are retried with their client ids and stored
//     once.
func TestClusterBehindNginx(t *testing.T) {
	c := natstest.Start(t, 3)
	names := []string{"node-a", "node-b", "node-c"}
	var nodes []*child
	var hosts []string
	for _, name := range names {
		n := startLoggingClusterNode(t, c, name)
		nodes = append(nodes, n)
		hosts = append(hosts, strings.TrimPrefix(n.url, "http://"))
	}
	px := mustStartClusterNginx(t, hosts)

	tok := checkTokensAcrossNodes(t, px, nodes)

	// A stream through nginx, live before anything is posted.
	first := px.openStream(t, tok, "r", "")
	first.waitLive(t)

	const writers, each = 4, 40
	var (
		mu    sync.Mutex
		acked = map[string]string{} // client id → event id
		wg    sync.WaitGroup
	)
	t.Cleanup(wg.Wait) // before the nodes stop, should the test fail early
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := px.client() // a person of its own, on a connection of its own
			defer client.CloseIdleConnections()
			for j := range each {
				cid := fmt.Sprintf("w%d-%d", w, j)
				id, err := px.post(client, tok, "r", "writer "+cid, cid)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[cid] = id
				mu.Unlock()
			}
		}()
	}

	// Cut the stream: SIGKILL the node it is on.
	got := first.take(t, 40)
	victim := slices.Index(names, first.node())
	if victim < 0 {
		t.Fatalf("the stream's connection %q names no node of %v", first.hello.Connection, names)
	}
	nodes[victim].cmd.Process.Kill()
	<-nodes[victim].exited
	nodes[victim].exited <- nil // for the cleanup
	got = append(got, first.rest(t)...)

	// While it is away, one more post: the resumed stream must bring it.
	client := px.client()
	defer client.CloseIdleConnections()
	away, err := px.post(client, tok, "r", "while the stream was away", "away")
	if err != nil {
		t.Fatal(err)
	}
	last := got[len(got)-1].ID
	second := px.openStream(t, tok, "r", last)
	if second.node() == names[victim] {
		t.Fatalf("the stream resumed on %s, which was killed", names[victim])
	}
	if second.hello.ResumedFrom != last {
		t.Fatalf("resumed stream's hello: got resumed_from %q, want %q", second.hello.ResumedFrom, last)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := writers*each + 1
	got = append(got, second.take(t, total-len(got))...)
	t.Logf("stream on %s cut after %d events, resumed on %s; %d posts retried", names[victim], len(got)-len(second.taken), second.node(), px.retries.Load())

	// Every surviving node stores the same history, byte for byte: the one
	// order.
	var export []byte
	for i, n := range nodes {
		if i == victim {
			continue
		}
		e := (clusterClient{t, n.url, tok}).waitExport("r", total)
		if export != nil && !bytes.Equal(e, export) {
			t.Fatalf("exports of the surviving nodes differ:\n%s\n%s", export, e)
		}
		export = e
	}
	ids := exportIDsOf(t, export)
	if len(ids) != total {
		t.Fatalf("export has %d events, want %d (a retried post stored twice?)", len(ids), total)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("export ids not strictly increasing at %d: %s after %s", i, ids[i], ids[i-1])
		}
	}
	stored := map[string]bool{}
	for _, id := range ids {
		stored[id] = true
	}
	acked["away"] = away
	for cid, id := range acked {
		if !stored[id] {
			t.Fatalf("post %s acknowledged as %s is not stored", cid, id)
		}
	}
	// The stream across the cut: every event once, in that order, each
	// byte for byte as stored.
	for i, e := range got {
		if e.ID != ids[i] {
			t.Fatalf("stream event %d: got %s, want %s (a gap or a duplicate across the resume)", i, e.ID, ids[i])
		}
		if !bytes.Contains(export, []byte(e.Data)) {
			t.Fatalf("streamed event %s is not byte for byte in the export: %s", e.ID, e.Data)
		}
	}
}

// startLoggingClusterNode is startClusterNode with every request logged
// (-log-level debug), so a test can tell which node served a request.
func startLoggingClusterNode(tb testing.TB, c *natstest.Cluster, name string) *child {
	tb.Helper()
	return startBinary(tb, os.Args[0], []string{"PARLEY_TEST_CHILD=1", "PARLEY_ADMIN_PASSWORD=" + clusterPassword},
		"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(tb.TempDir(), name+".db"), "-auth", "on", "-limits=false",
		"-cluster", strings.Join(c.URLs(), ","), "-node", name, "-log-level", "debug")
}

// checkTokensAcrossNodes creates tokens through nginx and uses each on the
// very next request, which round robin hands to another node; it returns
// the last token. A made-up token is refused, so the check can fail.
func checkTokensAcrossNodes(t *testing.T, px *nginxProxy, nodes []*child) string {
	t.Helper()
	client := px.client()
	defer client.CloseIdleConnections()
	const made, used = "method=POST route=/api/tokens status=201", "method=GET route=/api/me status=200"
	var tok string
	crossed := 0
	for range 2 * len(nodes) {
		before := countLogs(nodes, made)
		req, _ := http.NewRequest(http.MethodPost, px.url+"/api/tokens", nil)
		req.SetBasicAuth("admin", clusterPassword)
		status, body := doRequest(t, client, req)
		var created struct{ Token string }
		if status != http.StatusCreated || json.Unmarshal(body, &created) != nil {
			t.Fatalf("create a token through nginx: got %d %s, want 201", status, body)
		}
		tok = created.Token
		maker := servedBy(t, nodes, made, before)

		before = countLogs(nodes, used)
		req, _ = http.NewRequest(http.MethodGet, px.url+"/api/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if status, body := doRequest(t, client, req); status != http.StatusOK || !bytes.Contains(body, []byte(`"admin"`)) {
			t.Fatalf("a token made through nginx, on the next request: got %d %s, want 200 and admin", status, body)
		}
		if servedBy(t, nodes, used, before) != maker {
			crossed++
		}
	}
	if crossed == 0 {
		t.Fatal("every token was used on the node that made it: nginx is not spreading requests")
	}
	req, _ := http.NewRequest(http.MethodGet, px.url+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok+"x")
	if status, body := doRequest(t, client, req); status != http.StatusUnauthorized {
		t.Fatalf("a made-up token through nginx: got %d %s, want 401", status, body)
	}
	t.Logf("%d of %d tokens were used first on another node than the one that made them", crossed, 2*len(nodes))
	return tok
}

// countLogs counts line in each node's log.
func countLogs(nodes []*child, line string) []int {
	n := make([]int, len(nodes))
	for i, c := range nodes {
		n[i] = strings.Count(c.stderr.String(), line)
	}
	return n
}

// servedBy waits until exactly one node has logged line once more than
// before, and returns it. (A node logs a request after answering it.)
func servedBy(t *testing.T, nodes []*child, line string, before []int) int {
	t.Helper()
	node := -1
	if !waitFor(func() bool {
		node = -1
		for i, n := range countLogs(nodes, line) {
			if n > before[i] {
				if node >= 0 {
					return false
				}
				node = i
			}
		}
		return node >= 0
	}) {
		t.Fatalf("no single node logged %q", line)
	}
	return node
}

// doRequest sends req and returns the status and body.
func doRequest(t *testing.T, client *http.Client, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// post posts text with client id cid through nginx, retrying with the same
// client id while nginx answers that the node it chose failed (502, 504)
// or the node is not ready (503), and returns the event's id.
func (px *nginxProxy) post(client *http.Client, tok, room, text, cid string) (string, error) {
	body := fmt.Sprintf(`{"text":%q,"client_id":%q}`, text, cid)
	var last string
	for deadline := time.Now().Add(patience); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodPost, px.url+"/api/rooms/"+room+"/messages", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			px.retries.Add(1)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			last = err.Error()
			px.retries.Add(1)
		case resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK:
			var e struct{ ID string }
			if err := json.Unmarshal(b, &e); err != nil || e.ID == "" {
				return "", fmt.Errorf("post %s: %d %s", cid, resp.StatusCode, b)
			}
			return e.ID, nil
		case resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout:
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			px.retries.Add(1)
		default:
			return "", fmt.Errorf("post %s through nginx: %d %s", cid, resp.StatusCode, b)
		}
	}
	return "", fmt.Errorf("post %s through nginx not confirmed: %s", cid, last)
}

// proxiedStream is an event stream opened through nginx.
type proxiedStream struct {
	hello struct {
		Connection  string `json:"connection"`
		ResumedFrom string `json:"resumed_from"`
	}
	events chan stream.Event // what follows the hello; closed when the stream ends
	taken  []stream.Event    // the events with ids take and rest returned
}

// openStream opens room's stream through nginx with tok, resuming after
// lastID if set, and reads its hello.
func (px *nginxProxy) openStream(t *testing.T, tok, room, lastID string) *proxiedStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	client := px.client()
	t.Cleanup(func() { cancel(); client.CloseIdleConnections() })
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, px.url+"/api/rooms/"+room+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET the stream of %s through nginx: got %d", room, resp.StatusCode)
	}
	s := &proxiedStream{events: make(chan stream.Event, 1<<12)}
	go func() {
		defer resp.Body.Close()
		defer close(s.events)
		r := stream.NewReader(resp.Body, 1<<20)
		for {
			e, err := r.Next()
			if err != nil {
				return
			}
			select {
			case s.events <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case h, ok := <-s.events:
		if !ok || h.Type != "hello" || json.Unmarshal([]byte(h.Data), &s.hello) != nil {
			t.Fatalf("first event through nginx: got %+v, want a hello", h)
		}
	case <-time.After(patience):
		t.Fatal("no hello through nginx")
	}
	return s
}

// node names the node the stream is on: its connection id less the
// counter.
func (s *proxiedStream) node() string {
	return s.hello.Connection[:max(strings.LastIndexByte(s.hello.Connection, '-'), 0)]
}

// waitLive reads up to the live marker: the stream is subscribed.
func (s *proxiedStream) waitLive(t *testing.T) {
	t.Helper()
	for {
		select {
		case e, ok := <-s.events:
			switch {
			case !ok:
				t.Fatal("the stream ended before it was live")
			case !e.NoID:
				t.Fatalf("an event %s before the live marker of a new room's stream", e.ID)
			case e.Type == "live":
				return
			}
		case <-time.After(patience):
			t.Fatal("the stream never went live")
		}
	}
}

// take returns the next n events with ids.
func (s *proxiedStream) take(t *testing.T, n int) []stream.Event {
	t.Helper()
	var got []stream.Event
	timeout := time.After(patience)
	for len(got) < n {
		select {
		case e, ok := <-s.events:
			if !ok {
				t.Fatalf("the stream ended after %d of %d events", len(got), n)
			}
			if !e.NoID {
				got = append(got, e)
			}
		case <-timeout:
			t.Fatalf("the stream brought %d of %d events", len(got), n)
		}
	}
	s.taken = append(s.taken, got...)
	return got
}

// rest returns the events with ids until the stream ends.
func (s *proxiedStream) rest(t *testing.T) []stream.Event {
	t.Helper()
	var got []stream.Event
	timeout := time.After(patience)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				s.taken = append(s.taken, got...)
				return got
			}
			if !e.NoID {
				got = append(got, e)
			}
		case <-timeout:
			t.Fatal("the stream through nginx did not end when its node was killed")
		}
	}
}
