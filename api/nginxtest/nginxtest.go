// Package nginxtest runs a real nginx for tests: one foreground process in
// a temporary prefix, serving TLS with a throwaway certificate on a free
// loopback port. Parley's deploy tests (api, and cmd/parley's cluster
// tests) put the documented site behind it.
package nginxtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proxy is a running nginx.
type Proxy struct {
	URL      string         // https://127.0.0.1:PORT
	Pool     *x509.CertPool // trusts its certificate
	CertFile string         // its certificate (self-signed: its own CA), PEM
}

// Client returns a new client of the proxy: a connection of its own
// (HTTP/2, as a browser's).
func (px *Proxy) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: px.Pool},
		ForceAttemptHTTP2: true,
	}}
}

// Start runs nginx with site, the documented site's text: Start points
// its listen lines at a free loopback port and its certificate paths at a
// throwaway certificate, and waits, up to patience, until GET /healthz
// answers 200 over HTTP/2 through it. It skips the test if nginx is not
// installed, except on CI (CI=true), where that is a failure. nginx stops
// with the test.
func Start(tb testing.TB, site string, patience time.Duration) *Proxy {
	tb.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin, err = exec.LookPath("/usr/sbin/nginx") // Debian's, off a user's PATH
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("nginx is not installed (CI must install it): %v", err)
		}
		tb.Skipf("nginx is not installed, so the proxy test cannot run (apt-get install nginx): %v", err)
	}
	dir := tb.TempDir()
	certFile, keyFile, pool := WriteCert(tb, dir)
	for attempt := 0; ; attempt++ {
		port := FreePort(tb)
		conf := site
		for _, r := range []struct{ old, new string }{
			{"    listen 443 ssl http2;\n", "    listen 127.0.0.1:" + port + " ssl http2;\n"},
			{"    listen [::]:443 ssl http2;\n", ""},
			{"/etc/letsencrypt/live/chat.example.org/fullchain.pem", certFile},
			{"/etc/letsencrypt/live/chat.example.org/privkey.pem", keyFile},
		} {
			conf = ReplaceOnce(tb, conf, r.old, r.new)
		}
		main := "events {\n    worker_connections 256;\n}\nhttp {\n    access_log off;\n" + conf + "}\n"
		confFile := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confFile, []byte(main), 0o600); err != nil {
			tb.Fatal(err)
		}
		// One process (so one round robin), no daemon, no worker to switch
		// to another user, and every path inside dir.
		global := fmt.Sprintf("daemon off; master_process off; pid %s; error_log stderr;", filepath.Join(dir, "nginx.pid"))
		cmd := exec.Command(bin, "-e", "stderr", "-p", dir, "-c", confFile, "-g", global)
		stderr := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		px := &Proxy{URL: "https://127.0.0.1:" + port, Pool: pool, CertFile: certFile}
		err := px.waitReady(exited, patience)
		if err == nil {
			tb.Cleanup(func() {
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
// HTTP/2, nginx exits, or patience runs out.
func (px *Proxy) waitReady(exited chan error, patience time.Duration) error {
	client := px.Client()
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(patience)
	for {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("nginx exited: %v", err)
		default:
		}
		resp, err := client.Get(px.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.ProtoMajor == 2 {
				return nil
			}
			err = fmt.Errorf("GET /healthz: %d over %s", resp.StatusCode, resp.Proto)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ReplaceOnce replaces old, which must occur exactly once in s, by new.
func ReplaceOnce(tb testing.TB, s, old, new string) string {
	tb.Helper()
	if strings.Count(s, old) != 1 {
		tb.Fatalf("the nginx configuration no longer has exactly one %q: update this test", old)
	}
	return strings.Replace(s, old, new, 1)
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// WriteCert writes a self-signed certificate for 127.0.0.1 into dir and
// returns its files and a pool that trusts it.
func WriteCert(tb testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
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

// lockedBuffer is nginx's output, written by the process's copier and
// read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
