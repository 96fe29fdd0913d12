package main

// A small copy of api's nginx runner (api/nginx_test.go), for cluster nodes,
// which are child processes of this package's tests: test helpers cannot
// be shared across packages without a package of their own.

import (
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
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	// nginxSite is the site docs/deploy.md shows verbatim (api's
	// TestNginxSiteIsDocumented checks it).
	nginxSite = "../../api/testdata/nginx-site.conf"
	// clusterUpstream replaces the site's upstream for a cluster; docs/deploy.md
	// shows it verbatim too (TestClusterUpstreamIsDocumented).
	clusterUpstream = "testdata/nginx-cluster-upstream.conf"
)

func TestClusterUpstreamIsDocumented(t *testing.T) {
	up, err := os.ReadFile(clusterUpstream)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```nginx\n"+string(up)+"```\n") {
		t.Fatalf("docs/deploy.md does not show %s verbatim in an nginx block", clusterUpstream)
	}
}

// nginxProxy is a running nginx in front of a cluster's nodes.
type nginxProxy struct {
	url     string
	pool    *x509.CertPool // trusts nginx's certificate
	retries atomic.Int64   // posts retried (see post)
}

// client returns a new client of the proxy: a connection of its own (HTTP/2,
// as a browser's), like a separate person.
func (px *nginxProxy) client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: px.pool},
		ForceAttemptHTTP2: true,
	}}
}

// mustStartClusterNginx runs nginx as one foreground process in a temporary
// prefix, with the documented site whose upstream is the documented cluster
// upstream of nodes (host:port, three of them, as in the document). It
// skips the test if nginx is not installed, except on CI, where that is a
// failure.
func mustStartClusterNginx(tb testing.TB, nodes []string) *nginxProxy {
	tb.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin, err = exec.LookPath("/usr/sbin/nginx") // Debian's, off a user's PATH
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("nginx is not installed (CI must install it): %v", err)
		}
		tb.Skipf("nginx is not installed, so the cluster proxy test cannot run (apt-get install nginx): %v", err)
	}
	site := clusterSite(tb, nodes)
	dir := tb.TempDir()
	certFile, keyFile, pool := writeTestCert(tb, dir)
	for attempt := 0; ; attempt++ {
		port := freePort(tb)
		conf := site
		for _, r := range []struct{ old, new string }{
			{"    listen 443 ssl http2;\n", "    listen 127.0.0.1:" + port + " ssl http2;\n"},
			{"    listen [::]:443 ssl http2;\n", ""},
			{"/etc/letsencrypt/live/chat.example.org/fullchain.pem", certFile},
			{"/etc/letsencrypt/live/chat.example.org/privkey.pem", keyFile},
		} {
			conf = replaceOnce(tb, conf, r.old, r.new)
		}
		main := "events {\n    worker_connections 256;\n}\nhttp {\n    access_log off;\n" + conf + "}\n"
		confFile := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confFile, []byte(main), 0o600); err != nil {
			tb.Fatal(err)
		}
		// One process (so one round robin), no daemon, every path in dir.
		global := fmt.Sprintf("daemon off; master_process off; pid %s; error_log stderr;", filepath.Join(dir, "nginx.pid"))
		cmd := exec.Command(bin, "-e", "stderr", "-p", dir, "-c", confFile, "-g", global)
		stderr := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		px := &nginxProxy{url: "https://127.0.0.1:" + port, pool: pool}
		err := px.waitReady(exited)
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

// clusterSite is the documented site with the documented cluster upstream,
// its servers replaced by nodes.
func clusterSite(tb testing.TB, nodes []string) string {
	tb.Helper()
	site, err := os.ReadFile(nginxSite)
	if err != nil {
		tb.Fatal(err)
	}
	up, err := os.ReadFile(clusterUpstream)
	if err != nil {
		tb.Fatal(err)
	}
	upstream := string(up)
	for i, n := range nodes {
		upstream = replaceOnce(tb, upstream, fmt.Sprintf("    server 10.0.0.%d:8080 ", 11+i), "    server "+n+" ")
	}
	if strings.Contains(upstream, "10.0.0.") {
		tb.Fatalf("%s has more servers than the %d nodes: update this test", clusterUpstream, len(nodes))
	}
	start := strings.Index(string(site), "upstream parley {\n")
	end := strings.Index(string(site), "\n}\n")
	if start < 0 || end < start {
		tb.Fatalf("%s no longer has an upstream parley block: update this test", nginxSite)
	}
	return string(site[:start]) + upstream + string(site[end+len("\n}\n"):])
}

// replaceOnce replaces old, which must occur exactly once in s, by new.
func replaceOnce(tb testing.TB, s, old, new string) string {
	tb.Helper()
	if strings.Count(s, old) != 1 {
		tb.Fatalf("the nginx configuration no longer has exactly one %q: update this test", old)
	}
	return strings.Replace(s, old, new, 1)
}

// freePort returns a loopback port that was free a moment ago.
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

// waitReady polls /healthz through the proxy until it answers 200 over
// HTTP/2, nginx exits, or patience runs out.
func (px *nginxProxy) waitReady(exited chan error) error {
	client := px.client()
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(patience)
	for {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("nginx exited: %v", err)
		default:
		}
		resp, err := client.Get(px.url + "/healthz")
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

// writeTestCert writes a self-signed certificate for 127.0.0.1 and returns
// its files and a pool that trusts it.
func writeTestCert(tb testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "parley cluster test"},
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
