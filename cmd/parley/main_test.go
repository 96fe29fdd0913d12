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
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the parley binary: tests run
// themselves as a child process with PARLEY_TEST_CHILD=1 to prove what
// happens when the process is killed.
func TestMain(m *testing.M) {
	if os.Getenv("PARLEY_TEST_CHILD") == "1" {
		main()
		os.Exit(0)
	}
	if conf := os.Getenv("PARLEY_TEST_NATS"); conf != "" {
		runNATS(conf) // a NATS server process, for crash tests of cluster mode
	}
	os.Exit(m.Run())
}

// patience bounds every wait in these tests: long enough for a machine busy
// with other work, short of hanging the suite. The tests wait for what they
// need and never assert how quickly it came.
const patience = time.Minute

// waitFor polls cond until it holds and reports whether it did within
// patience.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(patience); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// child is a parley process.
type child struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	exited chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

var listeningRE = regexp.MustCompile(`msg="parley listening" url=(\S+)`)

// startChild runs "parley ARGS..." and, for serve, waits for its URL.
func startChild(tb testing.TB, args ...string) *child {
	tb.Helper()
	return startBinary(tb, os.Args[0], []string{"PARLEY_TEST_CHILD=1"}, args...)
}

// startBinary runs the parley binary bin with ARGS and env added to the
// environment and, for serve, waits for its URL.
func startBinary(tb testing.TB, bin string, env []string, args ...string) *child {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	c := &child{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(c.stderr, pw)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { c.exited <- cmd.Wait(); pw.Close() }()
	tb.Cleanup(func() { cmd.Process.Kill(); <-c.exited })
	if args[0] != "serve" {
		return c
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case c.url = <-found:
	case err := <-c.exited:
		c.exited <- err // for the cleanup
		tb.Fatalf("parley exited: %v\n%s", err, c.stderr)
	case <-time.After(patience):
		tb.Fatalf("parley did not start:\n%s", c.stderr)
	}
	return c
}

func (c *child) wait(tb testing.TB) error {
	tb.Helper()
	select {
	case err := <-c.exited:
		c.exited <- err // for the cleanup
		return err
	case <-time.After(patience):
		tb.Fatalf("parley did not exit:\n%s", c.stderr)
		return nil
	}
}

func postJSON(client *http.Client, url, room, text string) (string, error) {
	body := fmt.Sprintf(`{"author":"crash","text":%q}`, text)
	resp, err := client.Post(url+"/api/rooms/"+room+"/messages", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var e struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		return "", err
	}
	return e.ID, nil
}

func exportIDs(tb testing.TB, url, room string) []string {
	tb.Helper()
	resp, err := http.Get(url + "/api/rooms/" + room + "/export")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var ids []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// TestKillLosesNoAcknowledgedEvent kills the server with SIGKILL while 16
// writers are posting: after a restart every acknowledged event is there,
// ids still increase, and new ids sort after the old ones.
func TestKillLosesNoAcknowledgedEvent(t *testing.T) {
	db := filepath.Join(t.TempDir(), "parley.db")
	c := startChild(t, "serve", "-addr", "127.0.0.1:0", "-db", db)

	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: patience}
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				id, err := postJSON(client, c.url, "crash", fmt.Sprintf("w%d-%d", w, i))
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}(w)
	}
	// Kill it in the middle of the load: after 300 acknowledgements, or
	// whatever a busy machine managed by then (at least one, checked below).
	waitFor(func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 300
	})
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.wait(t)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged before the kill")
	}

	c = startChild(t, "serve", "-addr", "127.0.0.1:0", "-db", db)
	stored := exportIDs(t, c.url, "crash")
	have := map[string]bool{}
	for i, id := range stored {
		if i > 0 && id <= stored[i-1] {
			t.Fatalf("ids out of order after restart: %s after %s", id, stored[i-1])
		}
		have[id] = true
	}
	for _, id := range acked {
		if !have[id] {
			t.Fatalf("acknowledged event %s lost in the crash (%d acked, %d stored)", id, len(acked), len(stored))
		}
	}
	next, err := postJSON(client, c.url, "crash", "after restart")
	if err != nil || next <= stored[len(stored)-1] {
		t.Fatalf("first id after restart %s (%v) not above %s", next, err, stored[len(stored)-1])
	}
	t.Logf("%d acknowledged before SIGKILL, %d stored", len(acked), len(stored))
}

// TestTermShutsDownCleanly sends SIGTERM with a stream open: the stream
// ends, the process exits 0 and releases the db for the next start.
func TestTermShutsDownCleanly(t *testing.T) {
	db := filepath.Join(t.TempDir(), "parley.db")
	c := startChild(t, "serve", "-addr", "127.0.0.1:0", "-db", db)
	if _, err := postJSON(http.DefaultClient, c.url, "a", "before"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(c.url + "/api/rooms/a/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	c.cmd.Process.Signal(syscall.SIGTERM)
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
	if err := c.wait(t); err != nil {
		t.Fatalf("exit: %v\n%s", err, c.stderr)
	}
	if !strings.Contains(c.stderr.String(), "msg=stopped") {
		t.Fatalf("no clean stop in the log:\n%s", c.stderr)
	}
	c = startChild(t, "serve", "-addr", "127.0.0.1:0", "-db", db)
	if ids := exportIDs(t, c.url, "a"); len(ids) != 1 {
		t.Fatalf("after restart: %d events, want 1", len(ids))
	}
}

// TestSecondServerOnSameDBFailsClearly: the second process exits with a
// clear error instead of hanging (it gives up after the store's lock
// timeout, seconds; patience only catches a hang).
func TestSecondServerOnSameDBFailsClearly(t *testing.T) {
	db := filepath.Join(t.TempDir(), "parley.db")
	startChild(t, "serve", "-addr", "127.0.0.1:0", "-db", db)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	second := exec.CommandContext(ctx, os.Args[0], "serve", "-addr", "127.0.0.1:0", "-db", db)
	second.Env = append(os.Environ(), "PARLEY_TEST_CHILD=1")
	out, err := second.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("second server: got %v (%v), want it to fail rather than hang\n%s", err, ctx.Err(), out)
	}
	if !strings.Contains(string(out), "locked by another process") {
		t.Fatalf("unclear error:\n%s", out)
	}
}

func TestServeFlagsAndEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad env value", []string{"serve"}, map[string]string{"PARLEY_HEARTBEAT": "soon"}, `PARLEY_HEARTBEAT="soon"`},
		{"bad log level", []string{"serve", "-log-level", "loud"}, nil, "log-level"},
		{"stray argument", []string{"serve", "extra"}, nil, "no arguments"},
		{"unknown command", []string{"frobnicate"}, nil, "unknown command"},
		{"bad ICE server", []string{"serve", "-ice-servers", "https://stun.example.org"}, nil, "-ice-servers"},
		{"negative presence grace", []string{"serve", "-presence-grace", "-1s"}, nil, "-presence-grace"},
		{"busy address from env", []string{"serve", "-db", filepath.Join(t.TempDir(), "x.db")}, map[string]string{"PARLEY_ADDR": "256.0.0.1:1"}, "listen on 256.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr, Getenv: func(k string) string { return tc.env[k] }}
			err := m.Run(context.Background(), tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
