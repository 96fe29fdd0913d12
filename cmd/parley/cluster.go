package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/parleychat/parley/store/bolt"
	"github.com/parleychat/parley/store/jetstream"
	"github.com/parleychat/parley/stream/natsrelay"
)

// clusterFlags are the flags of cluster mode (docs/cluster.md), shared by
// serve and cluster status.
type clusterFlags struct {
	urls                   *string
	user, creds            *string
	tlsCA, tlsCert, tlsKey *string
	node                   *string
	replicas               *int
	stream                 *string
}

func (m *Main) addClusterFlags(fs *flag.FlagSet, withNode bool) *clusterFlags {
	c := &clusterFlags{
		urls:    fs.String("cluster", "", "cluster mode: comma-separated NATS JetStream servers, like nats://10.0.0.1:4222,nats://10.0.0.2:4222 (-db is then this node's replica)"),
		user:    fs.String("cluster-user", "", "NATS user name; the password comes from PARLEY_CLUSTER_PASSWORD"),
		creds:   fs.String("cluster-creds", "", "NATS credentials file (JWT and nkey) instead of -cluster-user"),
		tlsCA:   fs.String("cluster-tls-ca", "", "CA certificate (PEM) that NATS servers' certificates must chain to"),
		tlsCert: fs.String("cluster-tls-cert", "", "client certificate (PEM) for NATS; needs -cluster-tls-key"),
		tlsKey:  fs.String("cluster-tls-key", "", "private key (PEM) of -cluster-tls-cert"),
		stream:  fs.String("cluster-stream", "PARLEY", "name of the cluster's stream (its gap stream and node bucket are named after it)"),
	}
	if withNode {
		c.node = fs.String("node", defaultNode(), "this node's name in the cluster: unique per node, 1 to 63 of a-z, 0-9 and '-' (default: the host name)")
		c.replicas = fs.Int("cluster-replicas", 3, "replicas of the streams when this node creates them; below 3 a warning at every start")
	}
	return c
}

// defaultNode is the host name made a valid node name: lower case, other
// characters than a-z, 0-9 and '-' turned into '-'.
func defaultNode() string {
	host, _ := os.Hostname()
	b := []byte(strings.ToLower(host))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	name := strings.TrimLeft(string(b), "-")
	if len(name) > 63 {
		name = name[:63]
	}
	if name == "" {
		name = "parley"
	}
	return name
}

// relay connects the live relay (presence, typing, call signals between
// nodes, over core NATS: never stored) for this node.
func (c *clusterFlags) relay(m *Main, logger *slog.Logger) (*natsrelay.Relay, error) {
	opts, err := c.options(m)
	if err != nil {
		return nil, err
	}
	r, err := natsrelay.Dial(strings.Join(splitList(*c.urls), ","), *c.node, opts...)
	if err != nil {
		return nil, err
	}
	_, _, _, prefix := c.names()
	r.Prefix, r.Logger = prefix+".live", logger
	if err := r.Open(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// on reports whether cluster mode was asked for.
func (c *clusterFlags) on() bool { return *c.urls != "" }

// options turns the credential and TLS flags into NATS options.
func (c *clusterFlags) options(m *Main) ([]nats.Option, error) {
	var opts []nats.Option
	if *c.user != "" && *c.creds != "" {
		return nil, errors.New("-cluster-user and -cluster-creds exclude each other")
	}
	if *c.user != "" {
		opts = append(opts, nats.UserInfo(*c.user, m.Getenv("PARLEY_CLUSTER_PASSWORD")))
	}
	if *c.creds != "" {
		opts = append(opts, nats.UserCredentials(*c.creds))
	}
	if (*c.tlsCert == "") != (*c.tlsKey == "") {
		return nil, errors.New("-cluster-tls-cert and -cluster-tls-key go together")
	}
	if *c.tlsCert != "" {
		opts = append(opts, nats.ClientCert(*c.tlsCert, *c.tlsKey))
	}
	if *c.tlsCA != "" {
		opts = append(opts, nats.RootCAs(*c.tlsCA))
	}
	return opts, nil
}

// names are the stream, gap stream and node bucket of -cluster-stream.
func (c *clusterFlags) names() (stream, gaps, nodes, prefix string) {
	s := *c.stream
	if s == "PARLEY" {
		return "PARLEY", "PARLEY_GAPS", "parley_nodes", "parley"
	}
	low := strings.ToLower(s)
	return s, s + "_GAPS", low + "_nodes", low
}

// open opens db as this node's replica of the cluster and waits until it
// has caught up with the stream, so the node listens only once its reads
// are current.
// onAccounts is called after account changes from any node were applied.
func (c *clusterFlags) open(ctx context.Context, m *Main, db *bolt.DB, logger *slog.Logger, onAccounts func()) (*jetstream.Log, error) {
	if err := natsrelay.ValidNode(*c.node); err != nil {
		return nil, fmt.Errorf("-node: %v", err)
	}
	opts, err := c.options(m)
	if err != nil {
		return nil, err
	}
	l := jetstream.New(db, splitList(*c.urls))
	l.Options, l.Node, l.Replicas, l.Logger = opts, *c.node, *c.replicas, logger
	l.OnAccountsChanged = onAccounts
	l.Stream, l.GapStream, l.NodeBucket, l.Prefix = c.names()
	l.FileBucket = l.Prefix + "_files"
	if err := l.Open(); err != nil {
		return nil, err
	}
	logger.Info("catching up with the cluster", "node", l.Node, "stream", l.Stream, "applied", l.AppliedSeq())
	if err := l.WaitCaughtUp(ctx); err != nil {
		l.Close()
		return nil, fmt.Errorf("catching up with the cluster: %w", err)
	}
	return l, nil
}

const clusterHelp = `Usage:
  parley cluster status -cluster nats://HOST:4222,... [-json]

Shows the cluster's stream (replicas, leader, each NATS server's lag) and
every Parley node's applied sequence, lag and readiness, from their
heartbeats. It talks to NATS, not to a Parley node, so it works while nodes
are down.
`

// cluster runs the cluster sub-commands.
func (m *Main) cluster(ctx context.Context, args []string) error {
	return m.runSub(ctx, "cluster", clusterHelp, map[string]func(context.Context, []string) error{
		"status": m.clusterStatus,
	}, args)
}

func (m *Main) clusterStatus(ctx context.Context, args []string) error {
	fs := m.newFlagSet("cluster status", clusterHelp)
	cf := m.addClusterFlags(fs, false)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if !cf.on() {
		return errors.New("-cluster is required: the NATS servers")
	}
	opts, err := cf.options(m)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(strings.Join(splitList(*cf.urls), ","), append(opts, nats.Name("parley cluster status"))...)
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream, gaps, nodes, _ := cf.names()
	st, err := jetstream.ReadStatus(ctx, js, stream, gaps, nodes)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printStatus(m, st)
	return nil
}

func printStatus(m *Main, st jetstream.Status) {
	fmt.Fprintf(m.Stdout, "stream %s  R%d  leader %s  msgs %d  seq %d..%d  %d bytes\n", st.Stream, st.Replicas, st.Leader, st.Messages, st.FirstSeq, st.LastSeq, st.Bytes)
	for _, s := range st.Servers {
		state := "current"
		if !s.Current {
			state = "NOT CURRENT"
		}
		role := "replica"
		if s.Leader {
			role = "leader"
		}
		fmt.Fprintf(m.Stdout, "  %-10s %-8s %-12s lag %d\n", s.Name, role, state, s.Lag)
	}
	fmt.Fprintf(m.Stdout, "gap records %d\n\n", st.Gaps)
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "node\tapplied\tlag\tready\tseen")
	for _, n := range st.Nodes {
		ready := "yes"
		if !n.Ready {
			ready = "no: " + n.Reason
		}
		seen := time.Since(n.Seen).Round(100*time.Millisecond).String() + " ago"
		if n.Gone {
			seen += " (gone)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", n.Node, n.Applied, n.Lag, ready, seen)
	}
	tw.Flush()
	if len(st.Warnings) > 0 {
		fmt.Fprintln(m.Stdout, "\nwarnings:")
		for _, w := range st.Warnings {
			fmt.Fprintln(m.Stdout, "  "+w)
		}
	}
}
