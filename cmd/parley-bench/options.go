package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// options holds every scenario's flags; register binds the ones a scenario uses.
type options struct {
	server      string
	access      access // -ca, -insecure, -token
	json        bool
	timeout     time.Duration // per request
	duration    time.Duration
	drain       time.Duration
	seed        uint64
	room        string
	writers     int
	publishers  int
	subscribers int
	rooms       int
	perRoom     int
	clients     int
	rate        float64
	max         int
	events      int
	catchUp     time.Duration
	dropMin     time.Duration
	dropMax     time.Duration
	noopAddr    string
	noopMode    string
	streams     int
	hold        time.Duration
	pprof       string
	sample      time.Duration
	diskDir     string
	size        int
	probes      int
}

func (o *options) register(fs *flag.FlagSet, name string) {
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	disk := func(dirFlag string) {
		fs.StringVar(&o.diskDir, dirFlag, ".", "`directory` for the disk scenario's scratch files: put it on the server's file system")
		fs.IntVar(&o.size, "size", 160, "disk: bytes per event (a short chat message as Parley stores it)")
		fs.IntVar(&o.probes, "probes", 200, "disk: fdatasync probes before the group commits")
	}
	if name == "disk" {
		fs.IntVar(&o.writers, "writers", 64, "concurrent writers, each waiting for its commit")
		fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to append")
		disk("dir")
		return
	}
	fs.StringVar(&o.server, "server", "http://127.0.0.1:8080", "base `URL` of the server to load (http or https)")
	fs.StringVar(&o.access.caFile, "ca", "", "https: PEM `file` of the certificate (or its CA) to trust besides the system's")
	fs.BoolVar(&o.access.insecure, "insecure", false, "https: do not check the server's certificate (self-signed, on a bench only)")
	fs.StringVar(&o.access.token, "token", "", "access `token` sent as \"Authorization: Bearer\" (default $PARLEY_TOKEN): for a server with -auth on; messages are then posted as the token's user")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "timeout of one request")
	switch name {
	case "replay", "storm", "export":
	case "idle":
		fs.StringVar(&o.room, "room", "idle", "room the streams follow")
	default:
		fs.StringVar(&o.room, "room", "bench", "room (for rooms: name prefix)")
	}
	dur := func() { fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to publish") }
	rate := func(def float64) {
		fs.Float64Var(&o.rate, "rate", def, "messages per second, in total, on a fixed schedule: latencies run from each message's tick")
	}
	drain := func() {
		fs.DurationVar(&o.drain, "drain", 10*time.Second, "how long to wait for deliveries after publishing")
		fs.IntVar(&o.publishers, "publishers", 8, "concurrent publisher connections")
	}
	switch name {
	case "append":
		fs.IntVar(&o.writers, "writers", 64, "concurrent keep-alive writers, each sending when answered (a closed loop: each POST timed from its send)")
		fs.IntVar(&o.max, "max", 10_000_000, "appends at most")
		dur()
	case "fanout":
		fs.IntVar(&o.subscribers, "subscribers", 1000, "subscribers in the room")
		rate(200)
		dur()
		drain()
	case "rooms":
		fs.IntVar(&o.rooms, "rooms", 200, "rooms, named <room>-0, <room>-1, ...")
		fs.IntVar(&o.perRoom, "per-room", 3, "subscribers per room")
		rate(500)
		dur()
		drain()
	case "reconnect":
		fs.IntVar(&o.clients, "clients", 200, "clients dropping and resuming streams")
		fs.IntVar(&o.writers, "writers", 8, "concurrent writers")
		fs.DurationVar(&o.dropMin, "drop-min", 50*time.Millisecond, "shortest life of a stream before the client drops it")
		fs.DurationVar(&o.dropMax, "drop-max", time.Second, "longest life of a stream before the client drops it")
		fs.Uint64Var(&o.seed, "seed", 1, "seed for the drop times")
		fs.DurationVar(&o.sample, "sample", 0, "read the server's memory this often while publishing, to see growth (a soak test with a long -duration; 0: off)")
		fs.StringVar(&o.pprof, "pprof", "", "with -sample: the server's -pprof-addr as a `URL`, to force a GC before each reading")
		rate(200)
		dur()
		fs.DurationVar(&o.drain, "drain", 10*time.Second, "how long to wait for deliveries after publishing")
	case "replay":
		fs.StringVar(&o.room, "room", "", "room to seed; default a fresh replay-<run> room")
		fs.IntVar(&o.events, "events", 100_000, "events to seed and replay")
		fs.IntVar(&o.writers, "writers", 16, "concurrent writers while seeding")
		fs.DurationVar(&o.catchUp, "catch-up-timeout", 2*time.Minute, "time limit for seeding, and again for catching up")
	case "idle":
		fs.IntVar(&o.streams, "streams", 10_000, "idle streams to open")
		fs.DurationVar(&o.hold, "hold", 5*time.Second, "how long to hold them open before reading the server's memory again")
		fs.StringVar(&o.pprof, "pprof", "", "the server's -pprof-addr as a `URL` (http://127.0.0.1:6060), to force a GC before each reading")
	case "storm":
		fs.StringVar(&o.room, "room", "", "room; default a fresh storm-<run> room")
		fs.IntVar(&o.clients, "clients", 10_000, "clients reconnecting at once")
		fs.IntVar(&o.events, "events", 100, "events posted while they are away")
		fs.IntVar(&o.writers, "writers", 16, "concurrent writers while seeding")
		fs.DurationVar(&o.catchUp, "catch-up-timeout", time.Minute, "time limit for seeding, and again for catching up")
	case "export":
		fs.StringVar(&o.room, "room", "", "room; default a fresh export-<run> room")
		fs.IntVar(&o.events, "events", 1_000_000, "events to seed first (0: export -room as it is)")
		fs.IntVar(&o.writers, "writers", 64, "concurrent writers while seeding")
		fs.DurationVar(&o.catchUp, "catch-up-timeout", 10*time.Minute, "time limit for seeding, and again for the export")
		fs.DurationVar(&o.sample, "sample", 100*time.Millisecond, "how often to read the server's heap during the export")
	case "all":
		fs.IntVar(&o.writers, "writers", 64, "append: concurrent keep-alive writers")
		fs.IntVar(&o.max, "max", 10_000_000, "append: appends at most")
		fs.IntVar(&o.subscribers, "subscribers", 1000, "fanout: subscribers in the room")
		fs.StringVar(&o.noopAddr, "noop-addr", "127.0.0.1:0", "listen address of the no-op server")
		fs.StringVar(&o.noopMode, "noop", "process", "run the no-op server as a child `process` or inprocess")
		rate(200)
		dur()
		drain()
		disk("disk-dir")
	}
}

// need lists flag checks as name, ok pairs.
type need struct {
	flag string
	ok   bool
}

func (o *options) validate(name string) error {
	if name == "disk" {
		return o.validateDisk(nil, "dir")
	}
	room := o.room
	if name == "rooms" {
		room = fmt.Sprintf("%s-%d", o.room, max(o.rooms-1, 0))
	}
	freshRoom := name == "replay" || name == "storm" || name == "export" && o.events > 0
	checks := []need{{"timeout", o.timeout > 0}, {"room", room == "" && freshRoom || validRoom(room)},
		{"token", !strings.ContainsAny(o.access.token, "\r\n ")}}
	switch name {
	case "append":
		checks = append(checks, need{"writers", o.writers > 0}, need{"max", o.max > 0}, need{"duration", o.duration > 0})
	case "fanout", "rooms", "reconnect", "all":
		checks = append(checks, need{"rate", o.rate > 0}, need{"duration", o.duration > 0}, need{"drain", o.drain >= 0},
			need{"rate", o.rate*o.duration.Seconds() < 1e8})
	}
	switch name {
	case "fanout", "all":
		checks = append(checks, need{"subscribers", o.subscribers > 0}, need{"publishers", o.publishers > 0})
	case "rooms":
		checks = append(checks, need{"rooms", o.rooms > 0}, need{"per-room", o.perRoom > 0}, need{"publishers", o.publishers > 0})
	case "reconnect":
		checks = append(checks, need{"clients", o.clients > 0}, need{"writers", o.writers > 0},
			need{"drop-min", o.dropMin > 0}, need{"drop-max", o.dropMax >= o.dropMin},
			need{"sample", o.sample >= 0}, need{"pprof", o.pprof == "" || sameHost(o.pprof, o.server)})
	case "replay":
		checks = append(checks, need{"events", o.events > 0}, need{"writers", o.writers > 0}, need{"catch-up-timeout", o.catchUp > 0})
	case "idle":
		checks = append(checks, need{"streams", o.streams > 0}, need{"hold", o.hold >= 0},
			need{"pprof", o.pprof == "" || sameHost(o.pprof, o.server)})
	case "storm":
		checks = append(checks, need{"clients", o.clients > 0}, need{"events", o.events > 0},
			need{"writers", o.writers > 0}, need{"catch-up-timeout", o.catchUp > 0})
	case "export":
		checks = append(checks, need{"events", o.events >= 0}, need{"writers", o.writers > 0},
			need{"catch-up-timeout", o.catchUp > 0}, need{"sample", o.sample > 0})
	}
	if name == "all" {
		checks = append(checks, need{"writers", o.writers > 0}, need{"max", o.max > 0},
			need{"noop", o.noopMode == "process" || o.noopMode == "inprocess"})
		return o.validateDisk(checks, "disk-dir")
	}
	return failed(checks)
}

// validateDisk adds the disk scenario's checks to checks and runs them all;
// dirFlag is the name of the flag that holds its directory.
func (o *options) validateDisk(checks []need, dirFlag string) error {
	checks = append(checks, need{"writers", o.writers > 0}, need{"duration", o.duration > 0},
		need{"size", o.size > 0}, need{"probes", o.probes >= 0})
	if err := failed(checks); err != nil {
		return err
	}
	if err := checkDir(o.diskDir); err != nil {
		return fmt.Errorf("bad value for -%s: %w", dirFlag, err)
	}
	return nil
}

// failed returns an error naming the first check that did not pass.
func failed(checks []need) error {
	for _, c := range checks {
		if !c.ok {
			return fmt.Errorf("bad value for -%s", c.flag)
		}
	}
	return nil
}

// fanout is the configuration of the fanout scenario.
func (o *options) fanout() fanoutConfig {
	return fanoutConfig{rooms: []string{o.room}, perRoom: o.subscribers, rate: o.rate,
		duration: o.duration, publishers: o.publishers, drain: o.drain}
}

func (o *options) diskConfig() diskConfig {
	return diskConfig{dir: o.diskDir, writers: o.writers, duration: o.duration, size: o.size, probes: o.probes}
}

func (o *options) appendConfig() appendConfig {
	return appendConfig{room: o.room, writers: o.writers, duration: o.duration, max: o.max}
}

// scenario returns the function that runs the named scenario.
func (o *options) scenario(name string, m *Main) func(context.Context, *client) (any, error) {
	// Results are returned as any so that a nil *Report stays a nil interface.
	wrap := func(r *Report, err error) (any, error) {
		if r == nil {
			return nil, err
		}
		return r, err
	}
	switch name {
	case "append":
		return func(ctx context.Context, c *client) (any, error) { return wrap(runAppend(ctx, c, o.appendConfig())) }
	case "fanout":
		return func(ctx context.Context, c *client) (any, error) {
			return wrap(runFanout(ctx, c, "fanout", o.fanout()))
		}
	case "rooms":
		return func(ctx context.Context, c *client) (any, error) {
			cfg := o.fanout()
			cfg.rooms, cfg.perRoom = make([]string, o.rooms), o.perRoom
			for i := range cfg.rooms {
				cfg.rooms[i] = fmt.Sprintf("%s-%d", o.room, i)
			}
			return wrap(runFanout(ctx, c, "rooms", cfg))
		}
	case "reconnect":
		return func(ctx context.Context, c *client) (any, error) {
			return wrap(runReconnect(ctx, c, fanoutConfig{
				rooms: []string{o.room}, perRoom: o.clients, rate: o.rate, duration: o.duration,
				publishers: o.writers, drain: o.drain, seed: o.seed, dropMin: o.dropMin, dropMax: o.dropMax,
				sample: o.sample, pprof: strings.TrimSuffix(o.pprof, "/"),
			}))
		}
	case "replay":
		return func(ctx context.Context, c *client) (any, error) {
			room := o.room
			if room == "" {
				room = "replay-" + newRunTag().tag
			}
			return wrap(runReplay(ctx, c, replayConfig{room: room, events: o.events, writers: o.writers, timeout: o.catchUp}))
		}
	case "idle":
		return func(ctx context.Context, c *client) (any, error) {
			return wrap(runIdle(ctx, c, idleConfig{room: o.room, streams: o.streams, hold: o.hold, pprof: strings.TrimSuffix(o.pprof, "/")}))
		}
	case "storm":
		return func(ctx context.Context, c *client) (any, error) {
			room := o.room
			if room == "" {
				room = "storm-" + newRunTag().tag
			}
			return wrap(runStorm(ctx, c, stormConfig{room: room, clients: o.clients, events: o.events, writers: o.writers, timeout: o.catchUp}))
		}
	case "export":
		return func(ctx context.Context, c *client) (any, error) {
			room := o.room
			if room == "" {
				room = "export-" + newRunTag().tag
			}
			return wrap(runExport(ctx, c, exportConfig{room: room, events: o.events, writers: o.writers, timeout: o.catchUp, sample: o.sample}))
		}
	case "disk":
		return func(ctx context.Context, _ *client) (any, error) { return wrap(runDisk(ctx, o.diskConfig())) }
	case "all":
		return func(ctx context.Context, c *client) (any, error) {
			cmp, err := runAll(ctx, c, o, m)
			if cmp == nil {
				return nil, err
			}
			return cmp, err
		}
	}
	return func(context.Context, *client) (any, error) { return nil, errors.New("no such scenario") }
}

// sameHost reports whether u is an http URL on the same host as server (the
// port may differ): the load tool talks to no other machine.
func sameHost(u, server string) bool {
	a, err := url.Parse(u)
	if err != nil || a.Scheme != "http" || a.Hostname() == "" {
		return false
	}
	b, err := url.Parse(server)
	return err == nil && a.Hostname() == b.Hostname()
}
