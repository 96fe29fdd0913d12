package main

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parleychat/parley/api/nginxtest"
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
	return (&nginxtest.Proxy{URL: px.url, Pool: px.pool}).Client()
}

// mustStartClusterNginx runs nginx (api/nginxtest) with the documented
// site whose upstream is the documented cluster upstream of nodes
// (host:port, three of them, as in the document). It skips the test if
// nginx is not installed, except on CI, where that is a failure.
func mustStartClusterNginx(tb testing.TB, nodes []string) *nginxProxy {
	tb.Helper()
	n := nginxtest.Start(tb, clusterSite(tb, nodes), patience)
	return &nginxProxy{url: n.URL, pool: n.Pool}
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
		upstream = nginxtest.ReplaceOnce(tb, upstream, fmt.Sprintf("    server 10.0.0.%d:8080 ", 11+i), "    server "+n+" ")
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
