// Command parley-bench drives a running Parley server over HTTP and reports
// throughput and latency percentiles (p50/p90/p99/max), as a table or, with
// -json, as JSON for scripts. It also serves the same API with nothing behind
// it (noop), the yardstick Parley's figures are divided by.
//
//	parley-bench noop -addr 127.0.0.1:8081
//	parley-bench append -writers 64 -duration 10s -room bench
//	parley-bench fanout -subscribers 1000 -rate 200 -duration 10s
//	parley-bench rooms -rooms 200 -per-room 3 -rate 500 -duration 10s
//	parley-bench reconnect -clients 200 -writers 8 -duration 10s
//	parley-bench replay -events 100000
//	parley-bench idle -streams 10000 -pprof http://127.0.0.1:6060
//	parley-bench storm -clients 10000 -events 100
//	parley-bench export -events 1000000
//	parley-bench disk -dir /var/lib/parley
//	parley-bench all
//
// Every scenario takes -server (default http://127.0.0.1:8080, the only host
// it connects to) and -json. For a server behind TLS and access control
// (nginx in front of a cluster with -auth on): -server https://host,
// -ca FILE to trust a certificate the system does not (or -insecure for a
// self-signed one, on a bench only), and -token (default $PARLEY_TOKEN),
// sent as a bearer token on every request and stream; messages are then
// posted as the token's user. HTTPS is HTTP/1.1, as plain http is. Messages carry "<run>:<seq>:<sent ns>" as their
// text, so subscribers measure publish-to-receive latency and check delivery
// without decoding JSON, and ignore anything else in the room. The checks:
//
//   - fanout, rooms: every subscriber receives every acknowledged message of
//     its room exactly once, ids strictly increasing; a stream the server
//     closes is resumed with Last-Event-ID and counted as a disconnect.
//   - reconnect: clients also drop their streams at random moments; the
//     room's history (GET .../messages?after=) must hold every acknowledged
//     message, and every client must have received exactly that history.
//   - replay: one client resuming from 00000000000000000000000000 receives
//     all seeded events, once each, in order.
//   - storm: every client, reconnecting at the same moment after the same
//     cursor, receives every event posted meanwhile, once each, in order.
//   - idle: no idle stream is closed by the server, and the server counts
//     them all in parley_streams_open.
//   - export: the export has at least every acknowledged event.
//
// idle and export read the server's memory from its /metrics, so they need
// Parley rather than noop. With -pprof, idle asks the server's profiler for
// a garbage collection before each reading.
//
// Latencies: post runs until a POST is acknowledged and publish_to_receive
// until a subscriber reads the event, both from when the message was due.
// fanout, rooms, reconnect and all's fanout are open loops paced by -rate:
// each message is due at its tick on the schedule whether or not a publisher
// is free, so when the server falls behind, the wait for a publisher counts
// (no coordinated omission); post_service is the same POSTs timed from their
// send, the queueing left out. append (alone and in all), disk, and the
// seeding in replay, storm and export are closed loops: each writer sends
// when its previous message is answered, there is no schedule, and each
// request is timed from its send. connect is dial to response headers;
// resume_first_event is a reconnect to its first replayed event, counted
// when acknowledged messages were waiting.
//
// disk needs no server: it times fdatasync and raw bbolt group commits from
// concurrent writers in a scratch file in -dir, the storage limit on this
// machine (put -dir on the server's file system).
//
// all runs append and fanout against noop and then -server, then disk in
// -disk-dir, and prints the ratios server/noop and server/disk. noop runs
// as a child process by default (-noop process), so it has its own Go
// scheduler as Parley does; -noop inprocess serves it from the load tool
// itself, which on two cores starves its handlers behind the subscribers'
// goroutines.
//
// The exit status is 1 if a scenario could not run or a check failed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr}
	if err := m.Run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "parley-bench:", err)
		os.Exit(1)
	}
}

// Main is the program, separate from os so end-to-end tests can drive it.
type Main struct {
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (PARLEY_TOKEN); nil is os.Getenv.
	Getenv func(string) string
}

func (m *Main) getenv(key string) string {
	if m.Getenv == nil {
		return os.Getenv(key)
	}
	return m.Getenv(key)
}

const usage = `usage: parley-bench <scenario> [flags]

scenarios:
  noop       serve Parley's API with nothing behind it (the yardstick)
  append     concurrent writers POSTing messages
  fanout     many subscribers in one room, a paced publisher
  rooms      many rooms with a few subscribers each
  reconnect  clients dropping and resuming streams while writers post
  replay     one client catching up on a seeded room
  idle       many idle streams: the server's memory per stream (Parley only)
  storm      many clients reconnecting at once with the same Last-Event-ID
  export     seed a room and download it as JSON lines, watching the heap
  disk       fdatasync and raw bbolt group commits here (the storage limit)
  all        append and fanout against noop and the server, and disk, with ratios

latencies:
  open loop, paced by -rate (fanout, rooms, reconnect, all's fanout): from each
    message's scheduled send time, so a server that falls behind is charged for
    the queue it causes; post_service times the same POSTs from their send
  closed loop, each writer sending when answered (append, all's append, disk,
    seeding in replay, storm and export): each request from its send

run "parley-bench <scenario> -h" for its flags`

// Run parses args (a scenario and its flags), runs it and writes the report.
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "--help" {
		fmt.Fprintln(m.Stderr, usage)
		return flag.ErrHelp
	}
	if err := raiseFileLimit(); err != nil {
		fmt.Fprintln(m.Stderr, "parley-bench: warning:", err)
	}
	name, args := args[0], args[1:]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	var o options
	var run func(context.Context, *client) (any, error)
	switch name {
	case "noop":
		return m.runNoop(ctx, fs, args)
	case "append", "fanout", "rooms", "reconnect", "replay", "idle", "storm", "export", "all", "disk":
		o.register(fs, name)
		run = o.scenario(name, m)
	default:
		return fmt.Errorf("unknown scenario %q\n%s", name, usage)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", name, fs.Args())
	}
	if o.access.token == "" {
		o.access.token = m.getenv("PARLEY_TOKEN")
	}
	if err := o.validate(name); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var c *client // disk needs no server
	if name != "disk" {
		var err error
		if c, err = newClient(o.server, o.writers+o.publishers+16, o.timeout, o.access); err != nil {
			return err
		}
		defer c.close()
		if err := c.health(ctx); err != nil {
			return err
		}
	}
	out, err := run(ctx, c)
	if out == nil {
		return err
	}
	if werr := m.write(out, o.json); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	return failures(out)
}

// write prints a report (or the all scenario's comparison) as a table or JSON.
func (m *Main) write(out any, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	switch v := out.(type) {
	case *Report:
		return v.WriteTable(m.Stdout)
	case *comparison:
		return v.WriteTable(m.Stdout)
	}
	return fmt.Errorf("cannot print %T", out)
}

// failures turns failed checks into the error that sets the exit status.
func failures(out any) error {
	var reports []*Report
	switch v := out.(type) {
	case *Report:
		reports = []*Report{v}
	case *comparison:
		reports = v.reports()
	}
	var msgs []string
	for _, r := range reports {
		for _, p := range r.Problems {
			msgs = append(msgs, r.Scenario+": "+p)
		}
	}
	if len(msgs) > 0 {
		return fmt.Errorf("checks failed: %s", strings.Join(msgs, "; "))
	}
	return nil
}

// runNoop serves the no-op server until ctx is done.
func (m *Main) runNoop(ctx context.Context, fs *flag.FlagSet, args []string) error {
	s := NewNoopServer()
	fs.StringVar(&s.Addr, "addr", s.Addr, "listen `address`")
	fs.IntVar(&s.Keep, "keep", s.Keep, "events kept in memory per room")
	fs.DurationVar(&s.Heartbeat, "heartbeat", s.Heartbeat, "heartbeat interval on idle streams")
	child := fs.Bool("child", false, "exit when standard input closes (how the all scenario runs it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *child {
		// The parent holds our stdin open; if it dies, so do we.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}
	if err := s.Open(); err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(m.Stderr, "parley-bench: no-op server listening on %s\n", s.URL())
	<-ctx.Done()
	return s.Close()
}

// positive checks a flag whose zero value would mean "forever".
func positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("-%s must be positive", name)
	}
	return nil
}
