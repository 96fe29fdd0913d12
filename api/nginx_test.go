package api_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
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

// nginxPath finds nginx, which Debian keeps in /usr/sbin, off a user's PATH.
func nginxPath() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	return exec.LookPath("/usr/sbin/nginx")
}

// mustStartNginx runs nginx, as one foreground process in a temporary
// prefix, with the documented site proxying to upstream. It skips the test
// if nginx is not installed, except on CI, where that is a failure.
func mustStartNginx(tb testing.TB, upstream string, readTimeout time.Duration) *proxy {
	tb.Helper()
	bin, err := nginxPath()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("nginx is not installed (CI must install it): %v", err)
		}
		tb.Skipf("nginx is not installed, so the proxy test cannot run (apt-get install nginx): %v", err)
	}
	dir := tb.TempDir()
	certFile, keyFile, pool := mustWriteCert(tb, dir)
	site, err := os.ReadFile(siteConf)
	if err != nil {
		tb.Fatal(err)
	}

	for attempt := 0; ; attempt++ {
		port := freePort(tb)
		conf := string(site)
		for _, r := range []struct{ old, new string }{
			{"    server 127.0.0.1:8080;\n", "    server " + upstream + ";\n"},
			{"    listen 443 ssl http2;\n", "    listen 127.0.0.1:" + port + " ssl http2;\n"},
			{"    listen [::]:443 ssl http2;\n", ""},
			{"/etc/letsencrypt/live/chat.example.org/fullchain.pem", certFile},
			{"/etc/letsencrypt/live/chat.example.org/privkey.pem", keyFile},
			{"        proxy_read_timeout 1m;\n", fmt.Sprintf("        proxy_read_timeout %dms;\n", readTimeout.Milliseconds())},
		} {
			if strings.Count(conf, r.old) != 1 {
				tb.Fatalf("%s no longer has exactly one %q: update this test", siteConf, r.old)
			}
			conf = strings.Replace(conf, r.old, r.new, 1)
		}
		main := "events {\n    worker_connections 256;\n}\nhttp {\n    access_log off;\n" + conf + "}\n"
		confFile := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confFile, []byte(main), 0o600); err != nil {
			tb.Fatal(err)
		}
		// One process, no daemon, no worker to switch to another user, and
		// every path inside dir.
		global := fmt.Sprintf("daemon off; master_process off; pid %s; error_log stderr;", filepath.Join(dir, "nginx.pid"))
		cmd := exec.Command(bin, "-e", "stderr", "-p", dir, "-c", confFile, "-g", global)
		stderr := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()

		px := &proxy{url: "https://127.0.0.1:" + port, client: &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool},
			ForceAttemptHTTP2: true,
		}}}
		ready, err := px.waitReady(exited)
		if ready {
			tb.Cleanup(func() {
				px.client.CloseIdleConnections()
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					cmd.Process.Kill()
					<-exited
				}
			})
			return px
		}
		cmd.Process.Kill()
		<-exited
		if strings.Contains(stderr.String(), "Address already in use") && attempt < 3 {
			continue // someone took the port we picked
		}
		tb.Fatalf("nginx did not start: %v\n%s", err, stderr)
	}
}

// waitReady polls /healthz through the proxy until it answers 200 over
// HTTP/2, nginx exits, or a deadline passes.
func (px *proxy) waitReady(exited chan error) (bool, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case err := <-exited:
			exited <- err
			return false, fmt.Errorf("nginx exited: %v", err)
		default:
		}
		resp, err := px.client.Get(px.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.ProtoMajor == 2 {
				return true, nil
			}
			err = fmt.Errorf("GET /healthz: %d over %s", resp.StatusCode, resp.Proto)
		}
		if time.Now().After(deadline) {
			return false, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// mustWriteCert writes a self-signed certificate for 127.0.0.1 and returns
// its files and a pool that trusts it.
func mustWriteCert(tb testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "parley test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for file, block := range map[string]*pem.Block{
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
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
