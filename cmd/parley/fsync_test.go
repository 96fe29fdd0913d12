package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// "Acknowledged only after fsync" cannot be seen by killing the process:
// the page cache outlives it. So this test stops a commit right before each
// of bbolt's two fsyncs and checks that, while it waits there, the POST is
// not answered and no stream has the event; once the fsync runs, both are.
//
// bbolt marks those points with gofail failpoints (comments in its tx.go
// that gofail turns into code). The test copies bbolt's module from the
// module cache, enables the failpoints in the copy with gofail (a tool of
// this module, see go.mod), builds parley against a copy of go.mod that
// replaces bbolt with it (go build -modfile: the module cache cannot be
// overlaid), and drives the failpoints over gofail's HTTP endpoint. Nothing
// in the repository changes; a bbolt upgrade that drops the failpoints
// fails the test, it never passes vacuously.

// fsyncFailpoints are bbolt's failpoints right before the fsync of a
// commit's data pages and of its meta page, the commit point.
var fsyncFailpoints = []string{"beforeSyncDataPages", "beforeSyncMetaPage"}

func TestAckOnlyAfterFsync(t *testing.T) {
	if testing.Short() {
		t.Skip("builds parley with bbolt's failpoints enabled")
	}
	bin := buildWithFailpoints(t)
	fp := failpoints{base: "http://" + freeAddr(t)}
	db := filepath.Join(t.TempDir(), "parley.db")
	c := startBinary(t, bin, []string{"GOFAIL_HTTP=" + strings.TrimPrefix(fp.base, "http://")}, "serve", "-addr", "127.0.0.1:0", "-db", db)
	list := fp.call(t, http.MethodGet, "/", "")
	for _, name := range fsyncFailpoints {
		if !strings.Contains(list, name+"=") {
			t.Fatalf("failpoint %s is not in the build (it has %q): has bbolt moved it?", name, list)
		}
	}
	ids := openEventStream(t, c.url+"/api/rooms/fsync/events")
	for _, name := range fsyncFailpoints {
		t.Run(name, func(t *testing.T) {
			// The sleep must outlast noticing that a commit is in it; on a
			// machine too busy for that, try again with a longer one.
			for sleep := 4 * time.Second; !probeFsync(t, c.url, fp, name, sleep, ids); sleep *= 2 {
				if sleep >= 32*time.Second {
					t.Fatalf("could not see a commit waiting at %s within a %v sleep", name, sleep)
				}
			}
		})
	}
}

// probeFsync posts while commits sleep at failpoint name. It fails t if the
// POST is answered, or its event streamed, while the commit is held there,
// and reports false if it could not look in time.
func probeFsync(t *testing.T, url string, fp failpoints, name string, sleep time.Duration, ids <-chan string) bool {
	fp.call(t, http.MethodPut, "/"+name, fmt.Sprintf("sleep(%d)", sleep.Milliseconds()))
	sent := time.Now()
	answered := make(chan string, 1)
	go func() {
		id, err := postJSON(&http.Client{Timeout: 2 * time.Minute}, url, "fsync", "held at "+name)
		if err != nil {
			id = "error: " + err.Error()
		}
		answered <- id
	}()
	for fp.count(t, name) == 0 {
		select {
		case id := <-answered:
			t.Fatalf("answered %s before any commit reached %s: it is not on the commit path", id, name)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Since(sent) > time.Minute {
			t.Fatalf("no commit reached %s in a minute", name)
		}
	}
	// The commit sleeps until at least sent+sleep: look until well before.
	held := time.Until(sent.Add(sleep * 3 / 4))
	if held > 0 {
		select {
		case id := <-answered:
			t.Fatalf("POST answered (%s) while its commit waits before the fsync at %s", id, name)
		case id := <-ids:
			t.Fatalf("event %s streamed while its commit waits before the fsync at %s", id, name)
		case <-time.After(held):
		}
	}
	fp.call(t, http.MethodDelete, "/"+name, "")
	var id string
	select {
	case id = <-answered:
	case <-time.After(2 * time.Minute):
		t.Fatalf("POST not answered after the fsync at %s", name)
	}
	if strings.HasPrefix(id, "error") {
		t.Fatalf("POST after the fsync at %s: %s", name, id)
	}
	select {
	case got := <-ids:
		if got != id {
			t.Fatalf("streamed %s, want %s", got, id)
		}
	case <-time.After(time.Minute):
		t.Fatalf("event %s not streamed after the fsync at %s", id, name)
	}
	return held > 0
}

// buildWithFailpoints builds this package with bbolt's failpoints enabled
// and returns the binary.
func buildWithFailpoints(t *testing.T) string {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	run := func(args ...string) string {
		out, err := exec.Command(goBin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	dir := t.TempDir()
	// gofail names the package after its directory: keep it "bbolt".
	bbolt := filepath.Join(dir, "bbolt")
	copyTree(t, run("list", "-m", "-f", "{{.Dir}}", "go.etcd.io/bbolt"), bbolt)
	run("tool", "gofail", "enable", bbolt)
	// The module cache cannot be overlaid: build against a copy of go.mod
	// that replaces bbolt with the copy.
	mod := run("env", "GOMOD")
	gomod, err := os.ReadFile(mod)
	if err != nil {
		t.Fatal(err)
	}
	gosum, err := os.ReadFile(strings.TrimSuffix(mod, ".mod") + ".sum")
	if err != nil {
		t.Fatal(err)
	}
	gomod = append(gomod, "\nreplace go.etcd.io/bbolt => "+bbolt+"\n"...)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), gomod, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), gosum, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "parley-failpoints")
	run("build", "-modfile", filepath.Join(dir, "go.mod"), "-o", bin, ".")
	return bin
}

// copyTree copies the Go sources and module files under src to dst,
// writable (the module cache is read-only).
func copyTree(t *testing.T, src, dst string) {
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !strings.HasSuffix(path, ".go") && d.Name() != "go.mod" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

// failpoints drives gofail's HTTP endpoint in the child.
type failpoints struct{ base string }

func (f failpoints) call(t *testing.T, method, path, body string) string {
	t.Helper()
	var resp *http.Response
	var err error
	// The endpoint may still be starting with the child: retry a while.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		req, _ := http.NewRequest(method, f.base+path, strings.NewReader(body))
		if resp, err = http.DefaultClient.Do(req); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("gofail %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("gofail %s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return string(b)
}

// count returns how often failpoint name fired since it was enabled.
func (f failpoints) count(t *testing.T, name string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(f.call(t, http.MethodGet, "/"+name+"/count", "")))
	if err != nil {
		t.Fatalf("gofail count of %s: %v", name, err)
	}
	return n
}

// freeAddr returns a loopback address nothing listens on (for gofail's
// endpoint, which takes an address, not a listener).
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// openEventStream follows url and sends each event's id; it returns once
// the stream is subscribed (its retry: line has come).
func openEventStream(t *testing.T, url string) <-chan string {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	ids, ready := make(chan string, 16), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, "retry:"):
				close(ready)
			case strings.HasPrefix(line, "id: "):
				ids <- strings.TrimPrefix(line, "id: ")
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(time.Minute):
		t.Fatal("event stream did not start")
	}
	return ids
}
