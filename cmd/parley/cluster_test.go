package main

import (
	"bufio"
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
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley/store/jetstream/natstest"
)

// clusterPassword is the admin password of the test clusters' nodes.
const clusterPassword = "cluster-test-pw"

// startClusterNode runs "parley serve -cluster" as a child process on a
// replica of its own (or db, if set) and waits until it listens: it
// listens once its replica has caught up with the stream.
func startClusterNode(tb testing.TB, c *natstest.Cluster, name, db string) *child {
	tb.Helper()
	if db == "" {
		db = filepath.Join(tb.TempDir(), name+".db")
	}
	return startBinary(tb, os.Args[0], []string{"PARLEY_TEST_CHILD=1", "PARLEY_ADMIN_PASSWORD=" + clusterPassword},
		"serve", "-addr", "127.0.0.1:0", "-db", db, "-auth", "on", "-limits=false",
		"-cluster", strings.Join(c.URLs(), ","), "-node", name)
}

// clusterClient is an admin's token on one node of a cluster.
type clusterClient struct {
	tb    testing.TB
	url   string
	token string
}

// newToken creates an admin token through url with the password.
func newToken(tb testing.TB, url string) string {
	tb.Helper()
	tok, status := tokenFor(tb, url, "admin", clusterPassword)
	if status != http.StatusCreated {
		tb.Fatalf("create token through %s: status %d", url, status)
	}
	return tok
}

// tokenFor creates a token for name through url, signing in with
// password, and returns it with the status of the request.
func tokenFor(tb testing.TB, url, name, password string) (string, int) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/api/tokens", nil)
	req.SetBasicAuth(name, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		Token string `json:"token"`
	}
	if resp.StatusCode == http.StatusCreated && json.NewDecoder(resp.Body).Decode(&tok) != nil {
		tb.Fatalf("create token through %s: undecodable answer", url)
	}
	return tok.Token, resp.StatusCode
}

// do sends a request and returns the status and body.
func (cc clusterClient) do(method, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, cc.url+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+cc.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// post posts text with a client id, retrying (same client id) until the
// node answers 201 or 200, and returns the status and event id.
func (cc clusterClient) post(room, text, cid string) (int, string, error) {
	body := fmt.Sprintf(`{"text":%q,"client_id":%q}`, text, cid)
	deadline := time.Now().Add(patience)
	for {
		status, b, err := cc.do(http.MethodPost, "/api/rooms/"+room+"/messages", body)
		if err == nil && (status == http.StatusCreated || status == http.StatusOK) {
			var e struct {
				ID string `json:"id"`
			}
			err = json.Unmarshal(b, &e)
			return status, e.ID, err
		}
		if err != nil {
			return 0, "", err // the node is gone
		}
		if status != http.StatusServiceUnavailable {
			return status, "", fmt.Errorf("post: status %d: %s", status, b)
		}
		if time.Now().After(deadline) {
			return status, "", fmt.Errorf("post not confirmed: %v %d %s", err, status, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// export returns a room's export through the node, as bytes.
func (cc clusterClient) export(room string) []byte {
	cc.tb.Helper()
	status, b, err := cc.do(http.MethodGet, "/api/rooms/"+room+"/export", "")
	if err != nil || status != http.StatusOK {
		cc.tb.Fatalf("export from %s: %d %v", cc.url, status, err)
	}
	return b
}

// waitExport waits until the node's export of room has n lines and
// returns it.
func (cc clusterClient) waitExport(room string, n int) []byte {
	cc.tb.Helper()
	var b []byte
	if !waitFor(func() bool { b = cc.export(room); return bytes.Count(b, []byte("\n")) >= n }) {
		cc.tb.Fatalf("export from %s: %d lines, want %d", cc.url, bytes.Count(b, []byte("\n")), n)
	}
	return b
}

// sseEvent is one event of a stream: its id and data.
type sseEvent struct{ id, data string }

// stream opens a room's event stream, resuming after lastID if set, and
// sends every event with an id to the returned channel until ctx ends.
func (cc clusterClient) stream(ctx context.Context, room, lastID string) (<-chan sseEvent, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cc.url+"/api/rooms/"+room+"/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+cc.token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("stream: status %d", resp.StatusCode)
	}
	ch := make(chan sseEvent, 1024)
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			case line == "":
				if ev.id != "" {
					select {
					case ch <- ev:
					case <-ctx.Done():
						return
					}
				}
				ev = sseEvent{}
			}
		}
	}()
	return ch, nil
}

// take reads n events from ch.
func take(tb testing.TB, ch <-chan sseEvent, n int) []sseEvent {
	tb.Helper()
	var got []sseEvent
	timeout := time.After(patience)
	for len(got) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				tb.Fatalf("stream ended after %d of %d events", len(got), n)
			}
			got = append(got, ev)
		case <-timeout:
			tb.Fatalf("got %d of %d events", len(got), n)
		}
	}
	return got
}

// exportIDsOf returns the ids of an export's lines.
func exportIDsOf(tb testing.TB, export []byte) []string {
	tb.Helper()
	var ids []string
	for line := range bytes.Lines(export) {
		var e struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// TestClusterOneOrderAndResumeAnywhere: two Parley nodes on a three-server
// JetStream cluster. Posts go through both at once while a subscriber on
// node A drops and resumes on node B with Last-Event-ID: it gets every
// event exactly once, in the one order both nodes store, with the same
// ids and bytes; so do four more subscribers, two starting on each node,
// that move between the nodes every 7, 11, 19 and 29 events. A token made
// through A works through B at once.
func TestClusterOneOrderAndResumeAnywhere(t *testing.T) {
	c := natstest.Start(t, 3)
	a := startClusterNode(t, c, "a", "")
	b := startClusterNode(t, c, "b", "")
	tok := newToken(t, a.url)
	ca := clusterClient{t, a.url, tok}
	cb := clusterClient{t, b.url, tok} // made on A, used on B at once
	if status, body, err := cb.do(http.MethodGet, "/api/me", ""); err != nil || status != http.StatusOK {
		t.Fatalf("token made on A, used on B: %d %s %v", status, body, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, err := ca.stream(ctx, "r", "")
	if err != nil {
		t.Fatal(err)
	}
	// Subscribers on every node, each moving to the other node again and
	// again at its own pace.
	fctx, fcancel := context.WithCancel(context.Background())
	defer fcancel()
	nodes := []clusterClient{ca, cb}
	followers := []*follower{follow(fctx, nodes, 0, 7), follow(fctx, nodes, 1, 11), follow(fctx, nodes, 0, 19), follow(fctx, nodes, 1, 29)}
	const each = 40
	var wg sync.WaitGroup
	for i, cc := range []clusterClient{ca, cb} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				if _, _, err := cc.post("r", fmt.Sprintf("node %d post %d", i, j), fmt.Sprintf("n%d-%d", i, j)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// Drop from A after 25 events, resume on B from the last one seen.
	got := take(t, first, 25)
	cancel()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	second, err := cb.stream(ctx2, "r", got[len(got)-1].id)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, take(t, second, 2*each-25)...)
	wg.Wait()

	exportA, exportB := ca.waitExport("r", 2*each), cb.waitExport("r", 2*each)
	if !bytes.Equal(exportA, exportB) {
		t.Fatalf("exports differ:\nA:\n%s\nB:\n%s", exportA, exportB)
	}
	ids := exportIDsOf(t, exportA)
	if !slices.IsSorted(ids) {
		t.Fatalf("export ids not increasing: %v", ids)
	}
	var streamed []string
	for _, ev := range got {
		streamed = append(streamed, ev.id)
		if !strings.Contains(string(exportA), ev.data) {
			t.Fatalf("streamed event %s is not byte for byte in the export: %s", ev.id, ev.data)
		}
	}
	if !slices.Equal(streamed, ids) {
		t.Fatalf("streamed across the resume:\n%v\nwant every event once, in order:\n%v", streamed, ids)
	}
	for i, f := range followers {
		f.check(t, fmt.Sprint(i), ids)
	}
}

// TestClusterChangesAcrossNodes: a client id used through A answers a
// retry through B with the original; an edit through B of a message posted
// through A; a delete through A erases the text from B's replica file and
// from every NATS server's stream files, and a node started on an empty
// replica afterwards rebuilds the same history.
func TestClusterChangesAcrossNodes(t *testing.T) {
	c := natstest.Start(t, 3)
	a := startClusterNode(t, c, "a", "")
	bDB := filepath.Join(t.TempDir(), "b.db")
	b := startClusterNode(t, c, "b", bDB)
	tok := newToken(t, a.url)
	ca, cb := clusterClient{t, a.url, tok}, clusterClient{t, b.url, tok}

	status, id, err := ca.post("r", "first", "k1")
	if err != nil || status != http.StatusCreated {
		t.Fatalf("post through A: %d %v", status, err)
	}
	status, again, err := cb.post("r", "first", "k1")
	if err != nil || status != http.StatusOK || again != id {
		t.Fatalf("retry through B: %d %s %v, want 200 and %s", status, again, err, id)
	}

	if status, body, err := cb.do(http.MethodPatch, "/api/rooms/r/messages/"+id, `{"text":"first, edited"}`); err != nil || status != http.StatusCreated {
		t.Fatalf("edit through B: %d %s %v", status, body, err)
	}
	if !waitFor(func() bool {
		_, body, _ := ca.do(http.MethodGet, "/api/rooms/r/messages", "")
		return bytes.Contains(body, []byte("first, edited"))
	}) {
		t.Fatal("the edit through B never showed through A")
	}

	secret := fmt.Sprintf("SECRET-%d", time.Now().UnixNano())
	_, sid, err := cb.post("r", "the "+secret+" text", "k2")
	if err != nil {
		t.Fatal(err)
	}
	if status, body, err := ca.do(http.MethodDelete, "/api/rooms/r/messages/"+sid, ""); err != nil || status != http.StatusCreated {
		t.Fatalf("delete through A: %d %s %v", status, body, err)
	}
	if !waitFor(func() bool {
		_, body, _ := cb.do(http.MethodGet, "/api/rooms/r/messages", "")
		return !bytes.Contains(body, []byte(secret)) && bytes.Contains(body, []byte(`"deleted_at"`))
	}) {
		t.Fatal("the delete through A never showed through B")
	}
	// Gone from B's replica file (its scrubber erases stale pages in the
	// background) and from every server's stream blocks.
	if !waitFor(func() bool { return !fileHas(bDB, secret) }) {
		t.Fatal("the deleted text is still in node B's replica file")
	}
	for i := range 3 {
		dir := filepath.Join(c.StoreDir(i), "jetstream", "$G", "streams", "PARLEY")
		if !waitFor(func() bool { return !treeHas(dir, secret) }) {
			t.Fatalf("the deleted text is still in NATS server %d's stream files", i+1)
		}
	}

	// A fresh node rebuilds from the stream, meeting the erased sequence
	// as a gap: the same history, byte for byte.
	want := ca.export("r")
	n := startClusterNode(t, c, "c", "")
	if got := (clusterClient{t, n.url, tok}).export("r"); !bytes.Equal(got, want) {
		t.Fatalf("rebuilt node's export:\n%s\nwant:\n%s", got, want)
	}
}

// fileHas reports whether the file at path contains s.
func fileHas(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Contains(b, []byte(s))
}

// treeHas reports whether any file under dir contains s.
func treeHas(dir, s string) bool {
	found := false
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && fileHas(path, s) {
			found = true
		}
		return nil
	})
	return found
}

// TestClusterSurvivesKills: writers post through two nodes while the
// stream's leader among the NATS servers is killed, then a Parley node is
// killed (SIGKILL): every acknowledged post is kept, posts go on through
// the other node with a quorum, and the killed node restarted on its
// replica catches up to the same history.
func TestClusterSurvivesKills(t *testing.T) {
	c := natstest.Start(t, 3)
	aDB := filepath.Join(t.TempDir(), "a.db")
	a := startClusterNode(t, c, "a", aDB)
	b := startClusterNode(t, c, "b", "")
	tok := newToken(t, a.url)
	ca, cb := clusterClient{t, a.url, tok}, clusterClient{t, b.url, tok}

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		count atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	write := func(cc clusterClient, w int) {
		defer wg.Done()
		for j := 0; !stop.Load(); j++ {
			_, id, err := cc.post("r", fmt.Sprintf("w%d-%d", w, j), fmt.Sprintf("w%d-%d", w, j))
			if err != nil {
				return // this writer's node is gone
			}
			mu.Lock()
			acked[id] = true
			mu.Unlock()
			count.Add(1)
		}
	}
	for w := range 4 {
		wg.Add(1)
		go write([]clusterClient{ca, cb}[w%2], w)
	}
	if !waitFor(func() bool { return count.Load() >= 50 }) {
		t.Fatal("writers did not get going")
	}
	leader := c.StreamLeader("PARLEY")
	if leader < 0 {
		t.Fatal("no stream leader")
	}
	c.Kill(leader)
	after := count.Load()
	if !waitFor(func() bool { return count.Load() >= after+50 }) {
		t.Fatalf("posts did not go on with a quorum after killing NATS server %d", leader+1)
	}
	a.cmd.Process.Kill()
	<-a.exited
	a.exited <- nil // for the cleanup
	after = count.Load()
	if !waitFor(func() bool { return count.Load() >= after+50 }) {
		t.Fatal("posts did not go on through node B after node A was killed")
	}
	stop.Store(true)
	wg.Wait()
	c.Restart(leader)

	mu.Lock()
	total := len(acked)
	mu.Unlock()
	exportB := cb.waitExport("r", total)
	have := map[string]bool{}
	for _, id := range exportIDsOf(t, exportB) {
		have[id] = true
	}
	for id := range acked {
		if !have[id] {
			t.Fatalf("acknowledged event %s is missing after the kills", id)
		}
	}
	// Node A, restarted on its replica, applies what it missed.
	a2 := clusterClient{t, startClusterNode(t, c, "a", aDB).url, tok}
	var exportA []byte
	if !waitFor(func() bool { exportA, exportB = a2.export("r"), cb.export("r"); return bytes.Equal(exportA, exportB) }) {
		t.Fatalf("restarted node A's export differs from B's (%d and %d bytes)", len(exportA), len(exportB))
	}
}

// TestClusterStatusAndReplicaWarning: cluster status shows the stream,
// its servers and each node's applied sequence; a node whose stream has
// fewer than three replicas warns at start, and status warns too.
func TestClusterStatusAndReplicaWarning(t *testing.T) {
	c := natstest.Start(t, 3)
	n := startBinary(t, os.Args[0], []string{"PARLEY_TEST_CHILD=1", "PARLEY_ADMIN_PASSWORD=" + clusterPassword},
		"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "a.db"), "-auth", "on",
		"-cluster", strings.Join(c.URLs(), ","), "-node", "node-a", "-cluster-replicas", "1", "-cluster-stream", "SMALL")
	if !strings.Contains(n.stderr.String(), "the cluster stream is not replicated") {
		t.Fatalf("no warning for a stream of one replica:\n%s", n.stderr)
	}
	cc := clusterClient{t, n.url, newToken(t, n.url)}
	if _, _, err := cc.post("r", "hello", "h1"); err != nil {
		t.Fatal(err)
	}
	// serve gives the node's cluster gauges to /metrics.
	if !waitFor(func() bool {
		status, body, err := cc.do(http.MethodGet, "/metrics", "")
		return err == nil && status == http.StatusOK && strings.Contains(string(body), "\nparley_cluster_ready 1\n") &&
			strings.Contains(string(body), "\nparley_cluster_lag 0\n")
	}) {
		t.Fatal("the node's /metrics never said parley_cluster_ready 1 and parley_cluster_lag 0")
	}
	var out string
	if !waitFor(func() bool {
		stdout := &syncBuffer{}
		m := &Main{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stdout, Getenv: func(string) string { return "" }}
		err := m.Run(context.Background(), []string{"cluster", "status", "-cluster", strings.Join(c.URLs(), ","), "-cluster-stream", "SMALL"})
		out = stdout.String()
		return err == nil && strings.Contains(out, "node-a") && strings.Contains(out, "R1") && strings.Contains(out, "has 1 replica(s)") && strings.Contains(out, " yes ")
	}) {
		t.Fatalf("cluster status:\n%s", out)
	}
	for _, want := range []string{"stream SMALL", "leader nats-", "node-a", "yes"} {
		if !strings.Contains(out, want) {
			t.Fatalf("cluster status lacks %q:\n%s", want, out)
		}
	}
}

// TestClusterRevokeThroughBEndsStreamOnA: a token revoked through node B
// ends the stream it holds open on node A.
func TestClusterRevokeThroughBEndsStreamOnA(t *testing.T) {
	c := natstest.Start(t, 3)
	a := startClusterNode(t, c, "a", "")
	b := startClusterNode(t, c, "b", "")
	admin := clusterClient{t, b.url, newToken(t, a.url)}
	status, body, err := (clusterClient{t, a.url, admin.token}).do(http.MethodPost, "/api/tokens", `{"label":"doomed"}`)
	var doomed struct{ ID, Token string }
	if err != nil || status != http.StatusCreated || json.Unmarshal(body, &doomed) != nil {
		t.Fatalf("second token: %d %s %v", status, body, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := (clusterClient{t, a.url, doomed.Token}).stream(ctx, "r", "")
	if err != nil {
		t.Fatal(err)
	}
	if status, body, err := admin.do(http.MethodDelete, "/api/tokens/"+doomed.ID, ""); err != nil || status != http.StatusNoContent && status != http.StatusOK {
		t.Fatalf("revoke through B: %d %s %v", status, body, err)
	}
	select {
	case _, open := <-drain(events):
		if open {
			t.Fatal("unreachable")
		}
	case <-time.After(patience):
		t.Fatal("the revoked token's stream on A is still open")
	}
}

// drain discards ch's events and closes the returned channel when ch ends.
func drain(ch <-chan sseEvent) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	return done
}

// TestClusterSurvivesNATSLeaderSIGKILL: three NATS server processes with
// sync_interval: always; the stream leader is SIGKILLed while writers post
// through two Parley nodes. Posts go on once a new leader is elected (they
// are retried with their client ids), and every acknowledged post is in
// both nodes' histories, once; subscribers that move between the nodes
// through the kill catch up with every event, once, in order.
func TestClusterSurvivesNATSLeaderSIGKILL(t *testing.T) {
	p := startNATSProcs(t)
	start := func(name string) *child {
		c := startBinary(t, os.Args[0], []string{"PARLEY_TEST_CHILD=1", "PARLEY_ADMIN_PASSWORD=" + clusterPassword},
			"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), name+".db"), "-auth", "on", "-limits=false",
			"-cluster", strings.Join(p.urls, ","), "-node", name)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("node %s:\n%s", name, c.stderr)
			}
		})
		return c
	}
	a, b := start("a"), start("b")
	tok := newToken(t, a.url)
	ca, cb := clusterClient{t, a.url, tok}, clusterClient{t, b.url, tok}
	// Subscribers on both nodes, moving between them, through the kill;
	// subscribed before anything is posted.
	fctx, fcancel := context.WithCancel(context.Background())
	defer fcancel()
	followers := []*follower{follow(fctx, []clusterClient{ca, cb}, 0, 23), follow(fctx, []clusterClient{ca, cb}, 1, 31)}
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		count atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc := []clusterClient{ca, cb}[w%2]
			for j := 0; !stop.Load(); j++ {
				_, id, err := cc.post("r", fmt.Sprintf("w%d-%d", w, j), fmt.Sprintf("w%d-%d", w, j))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
				count.Add(1)
			}
		}()
	}
	if !waitFor(func() bool { return count.Load() >= 100 }) {
		t.Fatal("writers did not get going")
	}
	leader := p.streamLeader("PARLEY")
	p.kill(leader)
	after := count.Load()
	if !waitFor(func() bool { return count.Load() >= after+100 }) {
		t.Fatalf("posts did not go on after SIGKILL of the stream leader nats-%d", leader+1)
	}
	stop.Store(true)
	wg.Wait()
	p.start(leader)

	mu.Lock()
	total := len(acked)
	mu.Unlock()
	for _, cc := range []clusterClient{ca, cb} {
		export := cc.waitExport("r", total)
		texts := map[string]bool{}
		for line := range bytes.Lines(export) {
			var e struct{ Text string }
			if err := json.Unmarshal(line, &e); err != nil || texts[e.Text] {
				t.Fatalf("post %q stored twice (or unreadable: %v)", e.Text, err)
			}
			texts[e.Text] = true
		}
		seen := map[string]bool{}
		for _, id := range exportIDsOf(t, export) {
			seen[id] = true
		}
		for id := range acked {
			if !seen[id] {
				t.Fatalf("acknowledged post %s lost on %s", id, cc.url)
			}
		}
	}
	ids := exportIDsOf(t, ca.waitExport("r", total))
	for i, f := range followers {
		f.check(t, fmt.Sprint(i), ids)
	}
}

// TestClusterPresenceAcrossNodes: serve -cluster wires the live relay: a
// stream open on node A shows in the room's presence on node B, under a
// connection id of node A.
func TestClusterPresenceAcrossNodes(t *testing.T) {
	c := natstest.Start(t, 3)
	a := startClusterNode(t, c, "node-a", "")
	b := startClusterNode(t, c, "node-b", "")
	tok := newToken(t, a.url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := (clusterClient{t, a.url, tok}).stream(ctx, "r", ""); err != nil {
		t.Fatal(err)
	}
	var body []byte
	if !waitFor(func() bool {
		_, body, _ = (clusterClient{t, b.url, tok}).do(http.MethodGet, "/api/rooms/r/presence", "")
		return bytes.Contains(body, []byte(`"name":"admin"`)) && bytes.Contains(body, []byte(`"node-a-`))
	}) {
		t.Fatalf("presence on B never showed the stream on A: %s", body)
	}
}

// TestClusterAccessHoldsAcrossNodesAtOnce: changes made through node A
// hold through node B on the next request: a new user signs in, a new
// password works, a member added to a private room reads it. Ten rounds:
// B has usually applied a change before the request comes, so one round
// seldom meets the node behind.
func TestClusterAccessHoldsAcrossNodesAtOnce(t *testing.T) {
	c := natstest.Start(t, 3)
	a := startClusterNode(t, c, "a", "")
	b := startClusterNode(t, c, "b", "")
	ca := clusterClient{t, a.url, newToken(t, a.url)}
	must := func(cc clusterClient, method, path, body string) {
		t.Helper()
		if status, got, err := cc.do(method, path, body); err != nil || status/100 != 2 {
			t.Fatalf("%s %s through %s: %d %s %v", method, path, cc.url, status, got, err)
		}
	}
	for i := range 10 {
		name, room := fmt.Sprintf("mia%d", i), fmt.Sprintf("secret%d", i)
		must(ca, http.MethodPost, "/api/users", `{"name":"`+name+`","password":"first password 1","role":"member"}`)
		tok, status := tokenFor(t, b.url, name, "first password 1")
		if status != http.StatusCreated {
			t.Fatalf("round %d: a user added through A, signing in through B: %d", i, status)
		}
		must(ca, http.MethodPut, "/api/users/"+name+"/password", `{"password":"second password 2"}`)
		if _, status := tokenFor(t, b.url, name, "second password 2"); status != http.StatusCreated {
			t.Fatalf("round %d: a password set through A, signing in with it through B: %d", i, status)
		}
		must(ca, http.MethodPut, "/api/rooms/"+room+"/access", `{"private":true}`)
		must(ca, http.MethodPut, "/api/rooms/"+room+"/members/"+name, "")
		if status, got, err := (clusterClient{t, b.url, tok}).do(http.MethodGet, "/api/rooms/"+room+"/messages", ""); err != nil || status != http.StatusOK {
			t.Fatalf("round %d: a member added through A, reading the room through B: %d %s %v", i, status, got, err)
		}
	}
}
