package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// runNATS runs one NATS server from the configuration file conf until the
// process is killed.
func runNATS(conf string) {
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	o.NoSigs = true
	s, err := server.NewServer(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s.Start()
	s.WaitForShutdown()
	os.Exit(0)
}

// natsProcs is a three-server JetStream cluster of child processes, each
// with sync_interval: always, so a server can be SIGKILLed.
type natsProcs struct {
	tb    testing.TB
	confs []string
	urls  []string
	cmds  []*exec.Cmd
}

func startNATSProcs(tb testing.TB) *natsProcs {
	tb.Helper()
	var ports []int
	var ls []net.Listener
	for range 6 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
	}
	p := &natsProcs{tb: tb, cmds: make([]*exec.Cmd, 3)}
	dir := tb.TempDir()
	for i := range 3 {
		conf := filepath.Join(dir, fmt.Sprintf("nats-%d.conf", i+1))
		body := fmt.Sprintf(`server_name: nats-%d
listen: 127.0.0.1:%d
jetstream { store_dir: %q, sync_interval: always }
cluster { name: parley, listen: 127.0.0.1:%d, routes: [%s] }
`, i+1, ports[i], filepath.Join(dir, fmt.Sprintf("store-%d", i+1)), ports[3+i], strings.Join(routes, ", "))
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			tb.Fatal(err)
		}
		p.confs = append(p.confs, conf)
		p.urls = append(p.urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	for i := range 3 {
		p.start(i)
	}
	tb.Cleanup(func() {
		for i := range 3 {
			p.kill(i)
		}
	})
	for _, u := range p.urls {
		if !waitFor(func() bool {
			nc, err := nats.Connect(u)
			if err == nil {
				nc.Close()
			}
			return err == nil
		}) {
			tb.Fatalf("NATS server %s did not start", u)
		}
	}
	return p
}

func (p *natsProcs) start(i int) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "PARLEY_TEST_NATS="+p.confs[i])
	if err := cmd.Start(); err != nil {
		p.tb.Fatal(err)
	}
	p.cmds[i] = cmd
}

// kill SIGKILLs server i.
func (p *natsProcs) kill(i int) {
	if cmd := p.cmds[i]; cmd != nil {
		cmd.Process.Kill()
		cmd.Wait()
		p.cmds[i] = nil
	}
}

// streamLeader returns the index of the server leading stream, asking
// the cluster until it names one.
func (p *natsProcs) streamLeader(stream string) int {
	p.tb.Helper()
	nc, err := nats.Connect(strings.Join(p.urls, ","))
	if err != nil {
		p.tb.Fatal(err)
	}
	defer nc.Close()
	js, _ := natsjs.New(nc)
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := js.Stream(ctx, stream)
		if err == nil {
			var info *natsjs.StreamInfo
			if info, err = s.Info(ctx); err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
				cancel()
				var i int
				fmt.Sscanf(info.Cluster.Leader, "nats-%d", &i)
				return i - 1
			}
		}
		cancel()
		time.Sleep(100 * time.Millisecond)
	}
	p.tb.Fatal("no stream leader")
	return -1
}
