package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/api/nginxtest"
	"github.com/parleychat/parley/store/bolt"
)

// nginxSite is the site docs/deploy.md shows verbatim.
const nginxSite = "../../api/testdata/nginx-site.conf"

// guarded is a Parley with access control on behind the documented nginx
// site, as the cluster benchmark in docs/performance.md meets it.
type guarded struct {
	url    string // nginx's https URL
	caFile string // nginx's self-signed certificate
	token  string // an admin's access token
}

// mustStartGuardedParley starts a real Parley with -auth on and an admin,
// and real nginx in front of it with a self-signed certificate. It skips
// the test if nginx is not installed, except on CI.
func mustStartGuardedParley(tb testing.TB) guarded {
	tb.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := bolt.NewDB(filepath.Join(tb.TempDir(), "parley.db"))
	db.Logger = quiet
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	srv := api.NewServer(db)
	srv.Addr, srv.Logger = "127.0.0.1:0", quiet
	srv.Accounts, srv.SetupToken = db, "setup-for-tests"
	srv.PasswordTime, srv.PasswordMemoryKiB = 1, 64
	if err := srv.Open(); err != nil {
		db.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		srv.Close()
		db.Close()
	})
	setup, _ := json.Marshal(map[string]string{"token": "setup-for-tests", "name": "root", "password": "rootpassword"})
	resp, err := http.Post(srv.URL()+"/api/setup", "application/json", strings.NewReader(string(setup)))
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("setup: got %d, want 201", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/api/tokens", nil)
	req.SetBasicAuth("root", "rootpassword")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusCreated || tok.Token == "" {
		tb.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	site, err := os.ReadFile(nginxSite)
	if err != nil {
		tb.Fatal(err)
	}
	upstream := strings.TrimPrefix(srv.URL(), "http://")
	conf := nginxtest.ReplaceOnce(tb, string(site), "    server 127.0.0.1:8080;\n", "    server "+upstream+";\n")
	px := nginxtest.Start(tb, conf, time.Minute)
	return guarded{url: px.URL, caFile: px.CertFile, token: tok.Token}
}

// TestThroughNginxWithTLSAndToken: the bench drives a Parley with access
// control behind nginx over https, trusting nginx's certificate with -ca
// or not checking it with -insecure, with the token from -token or
// PARLEY_TOKEN on every request and stream: posts are acknowledged and
// every subscriber gets every one. Without the token, or without trusting
// the certificate, it cannot run.
func TestThroughNginxWithTLSAndToken(t *testing.T) {
	g := mustStartGuardedParley(t)
	t.Run("fanout with -ca and -token", func(t *testing.T) {
		r := mustRunJSON(t, "fanout", "-server", g.url, "-ca", g.caFile, "-token", g.token,
			"-subscribers", "5", "-publishers", "2", "-rate", "20", "-duration", "1s", "-drain", "1m")
		wantEveryAckedDelivered(t, r, 5)
	})
	t.Run("reconnect with -insecure and PARLEY_TOKEN", func(t *testing.T) {
		out, err := runMainEnv(t, map[string]string{"PARLEY_TOKEN": g.token}, "reconnect", "-server", g.url, "-insecure",
			"-clients", "5", "-writers", "2", "-rate", "20", "-duration", "1s", "-drop-min", "50ms", "-drop-max", "200ms",
			"-drain", "1m", "-json")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var r jsonReport
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if r.Counts["acked"] == 0 || r.Counts["acked_not_in_history"] != 0 {
			t.Fatalf("got counts %v, want acknowledged messages, all in the history", r.Counts)
		}
	})
	t.Run("append with -ca", func(t *testing.T) {
		r := mustRunJSON(t, "append", "-server", g.url, "-ca", g.caFile, "-token", g.token, "-writers", "2", "-duration", "1s")
		if r.Counts["acked"] == 0 || r.Counts["errors"] != 0 {
			t.Fatalf("got counts %v, want posts acknowledged, no errors", r.Counts)
		}
	})
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no token", []string{"append", "-server", g.url, "-ca", g.caFile, "-duration", "1s"}, "status 401"},
		{"wrong token", []string{"append", "-server", g.url, "-ca", g.caFile, "-token", "not-a-token", "-duration", "1s"}, "status 401"},
		{"certificate not trusted", []string{"append", "-server", g.url, "-token", g.token, "-duration", "1s"}, "certificate"},
		{"no token, streams", []string{"fanout", "-server", g.url, "-insecure", "-subscribers", "1", "-duration", "1s"}, "401"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runMain(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
