package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
)

// defaultGCPercent lets the heap grow to five times what is live between
// collections. Parley's live heap is small and its garbage is per request,
// so Go's default of 100 collects very often: at 400, 64 writers get about
// 40 % more appends through on two cores, for a few MiB more memory.
const defaultGCPercent = 400

// serve runs the server until ctx ends (SIGINT or SIGTERM), then shuts down
// in order: stop accepting and end streams, finish appends in flight, close
// the db.
func (m *Main) serve(ctx context.Context, args []string) error {
	fs := m.newFlagSet("serve", "")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	dbPath := fs.String("db", "parley.db", "path of the database file (created if missing)")
	maxMsg := fs.Int("max-message-bytes", 16<<10, "largest message text accepted, in bytes")
	heartbeat := fs.Duration("heartbeat", 15*time.Second, "interval of keep-alive comments on idle streams")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	retainEvents := fs.Int("retain-events", 0, "rooms without their own retention keep at most this many newest events (0: all)")
	retainFor := fs.Duration("retain-for", 0, "rooms without their own retention keep events younger than this, like 720h (0: forever)")
	maxImport := fs.Int64("max-import-bytes", 1<<30, "largest import body accepted, in bytes")
	bodyTimeout := fs.Duration("body-timeout", 30*time.Second, "longest a request body may take to arrive, from the end of its headers; slower ones get 408 (0: no limit)")
	importBodyTimeout := fs.Duration("import-body-timeout", 30*time.Minute, "the same for the body of an import, which can be large (0: no limit)")
	gcPercent := fs.Int("gc-percent", defaultGCPercent, "garbage collector target, as GOGC (a GOGC environment variable wins)")
	pprofAddr := fs.String("pprof-addr", "", "serve net/http/pprof on this loopback address, like 127.0.0.1:6060 (default off)")
	shutdownDelay := fs.Duration("shutdown-delay", 0, "on SIGTERM, keep serving this long with /readyz answering 503 before shutting down")
	auth := fs.String("auth", "", "access control: on, or none (an open server; the default only on a loopback -addr)")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS (and HTTP/2) with this certificate file (PEM); needs -tls-key")
	tlsKey := fs.String("tls-key", "", "the private key file (PEM) of -tls-cert")
	behindProxy := fs.String("behind-proxy", "", "trust X-Forwarded-For/-Proto from these comma-separated proxy addresses or CIDR prefixes")
	corsOrigins := fs.String("cors-origins", "", "comma-separated origins, like https://shop.example, whose pages may call the API with credentials")
	allowedHosts := fs.String("allowed-hosts", "", "without -auth, comma-separated host names besides localhost and IP addresses that clients may use to reach the server, like chat.lan (* for any); others get 421")
	maxStreamRooms := fs.Int("max-stream-rooms", 100, "most rooms in one multi-room stream")
	iceServers := fs.String("ice-servers", "", "STUN and TURN servers for calls, comma-separated: stun:HOST:PORT, turn:USER:CREDENTIAL@HOST:PORT (default none: calls work on a LAN)")
	presenceGrace := fs.Duration("presence-grace", 5*time.Second, "how long a dropped stream still counts in presence, so a quick reconnect does not flap")
	maxInviteTTL := fs.Duration("max-invite-ttl", 30*24*time.Hour, "longest a guest invite may work; a longer expires_in is refused")
	cf := m.addClusterFlags(fs, true)
	limitsOn := fs.Bool("limits", true, "apply the rate and stream limits below (false: none, for benchmarks)")
	l := api.DefaultLimits
	fs.Float64Var(&l.PostPerSecond, "rate-post", l.PostPerSecond, "messages and changes per second per identity, bursts of 3x (0: no limit)")
	fs.Float64Var(&l.PostPerSecondIP, "rate-post-ip", l.PostPerSecondIP, "messages and changes per second per client IP (0: no limit)")
	fs.Float64Var(&l.LoginPerMinuteIP, "rate-login", l.LoginPerMinuteIP, "sign-in, setup, join, password-change and Basic-auth attempts per minute per client IP (0: no limit)")
	fs.Float64Var(&l.LoginPerMinute, "rate-login-user", l.LoginPerMinute, "sign-in attempts and password changes per minute per user name, from any address (0: no limit)")
	fs.Float64Var(&l.StreamsPerSecond, "rate-stream", l.StreamsPerSecond, "new streams per second per identity, bursts of 20 (0: no limit)")
	fs.Float64Var(&l.StreamsPerSecondIP, "rate-stream-ip", l.StreamsPerSecondIP, "new streams per second per client IP, bursts of 20 (0: no limit)")
	fs.IntVar(&l.MaxStreams, "max-streams", l.MaxStreams, "open streams per identity (0: no limit)")
	fs.IntVar(&l.MaxStreamsIP, "max-streams-ip", l.MaxStreamsIP, "open streams per client IP (0: no limit)")
	fs.Float64Var(&l.TypingPerSecond, "rate-typing", l.TypingPerSecond, "typing notices per second per identity, bursts of 5x (0: no limit)")
	fs.Float64Var(&l.SignalsPerSecond, "rate-signal", l.SignalsPerSecond, "call signals per second per identity, bursts of 5x (0: no limit)")
	files := addFileFlags(fs)
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	if !*limitsOn {
		l = api.Limits{}
	}
	if err := files.check(); err != nil {
		return err
	}
	if *bodyTimeout < 0 || *importBodyTimeout < 0 {
		return fmt.Errorf("-body-timeout and -import-body-timeout must be 0 (no limit) or more")
	}
	if *maxInviteTTL <= 0 {
		return fmt.Errorf("-max-invite-ttl must be positive, got %v", *maxInviteTTL)
	}
	proxies, err := parsePrefixes(*behindProxy)
	if err != nil {
		return fmt.Errorf("-behind-proxy: %v", err)
	}
	ice, err := parseICEServers(*iceServers)
	if err != nil {
		return fmt.Errorf("-ice-servers: %v", err)
	}
	if *presenceGrace < 0 {
		return fmt.Errorf("-presence-grace must not be negative, got %s", *presenceGrace)
	}
	authOn, err := authMode(*auth, *addr)
	if err != nil {
		return err
	}
	if m.Getenv("GOGC") == "" {
		debug.SetGCPercent(*gcPercent)
	}
	logger, err := m.newLogger(*logLevel, *logFormat)
	if err != nil {
		return err
	}
	if !authOn && !loopback(*addr) {
		logger.Warn("ACCESS CONTROL IS OFF on a non-loopback address: anyone who can reach " + *addr + " can read, post and administer everything (-auth none)")
	}

	db := bolt.NewDB(*dbPath)
	db.MaxTextBytes, db.Logger = *maxMsg, logger
	db.Retention = store.Retention{Events: *retainEvents, For: store.Duration(*retainFor)}
	db.UploadTTL = files.uploadTTL
	var (
		log       store.Store                = db
		accounts  store.Accounts             = db
		fileStore store.Files                = db // a cluster's: the object store behind a cache
		opened    atomic.Pointer[api.Server]      // for the cluster's account changes
		cluster   store.Cluster                   // nil on a single node
	)
	if cf.on() {
		cl, err := cf.open(ctx, m, db, logger, func() {
			if srv := opened.Load(); srv != nil {
				srv.AccessChanged()
			}
		})
		if err != nil {
			return err
		}
		defer cl.Close()
		log, accounts, fileStore, cluster = cl, cl, cl, cl
	} else {
		if err := db.Open(); err != nil {
			return err
		}
		defer db.Close()
	}

	srv := api.NewServer(log)
	if cf.on() {
		relay, err := cf.relay(m, logger)
		if err != nil {
			return err
		}
		defer relay.Close()
		srv.Node, srv.Relay, srv.Cluster = *cf.node, relay, cluster
	}
	files.apply(fileStore, srv, *limitsOn)
	srv.Addr, srv.MaxMessageBytes, srv.Heartbeat, srv.Logger = *addr, *maxMsg, *heartbeat, logger
	srv.DefaultRetention, srv.MaxImportBytes = db.Retention, *maxImport
	srv.BodyTimeout, srv.ImportBodyTimeout = *bodyTimeout, *importBodyTimeout
	srv.MaxStreamRooms, srv.Limits, srv.TrustedProxies = *maxStreamRooms, l, proxies
	srv.TLSCert, srv.TLSKey = *tlsCert, *tlsKey
	srv.MaxInviteTTL = *maxInviteTTL
	srv.CORSOrigins = splitList(*corsOrigins)
	srv.Version, srv.ICEServers, srv.PresenceGrace = version, ice, *presenceGrace
	srv.AllowedHosts = splitList(*allowedHosts)
	if host, _, err := net.SplitHostPort(*addr); err == nil && host != "" {
		srv.AllowedHosts = append(srv.AllowedHosts, host) // the name it listens on, if one
	}
	setupToken := ""
	if authOn {
		srv.Accounts = accounts
		if setupToken, err = m.prepareAdmin(ctx, srv, logger); err != nil {
			return err
		}
	}
	if *pprofAddr != "" {
		p, err := startPprof(*pprofAddr, logger)
		if err != nil {
			return err
		}
		defer p.Close()
		logger.Info("pprof listening", "url", p.URL())
	}
	if err := srv.Open(); err != nil {
		return err
	}
	opened.Store(srv)
	mode := "none"
	if authOn {
		mode = "on"
	}
	logger.Info("parley listening", "url", srv.URL(), "db", *dbPath, "auth", mode, "cluster", *cf.urls != "")
	if setupToken != "" {
		fmt.Fprintf(m.Stderr, `
No admin exists yet. This one-time setup token creates the first one (it
works once, and only until this server stops):

    %s

Open %s and enter it, or run:

    parley user add -server %s -setup-token %s -role admin NAME

`, setupToken, srv.URL(), srv.URL(), setupToken)
	}

	<-ctx.Done()
	if *shutdownDelay > 0 {
		logger.Info("draining", "delay", *shutdownDelay)
		srv.Drain()
		time.Sleep(*shutdownDelay)
	}
	logger.Info("shutting down")
	err = srv.Close()
	if cerr := log.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close db: %w", cerr)
	}
	if err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// authMode decides whether access control is on: -auth on or none, and
// without -auth, none only on a loopback address.
func authMode(auth, addr string) (bool, error) {
	switch auth {
	case "on":
		return true, nil
	case "none":
		return false, nil
	case "":
		if loopback(addr) {
			return false, nil
		}
		return false, fmt.Errorf("refusing to listen on %s without access control: pass -auth on, or -auth none to run an open server on purpose", addr)
	}
	return false, fmt.Errorf("-auth must be on or none, got %q", auth)
}

// loopback reports whether addr listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// prepareAdmin makes sure the first admin can be created: from
// PARLEY_ADMIN_PASSWORD, else with a setup token it returns for printing.
func (m *Main) prepareAdmin(ctx context.Context, srv *api.Server, logger *slog.Logger) (string, error) {
	if pw := m.Getenv("PARLEY_ADMIN_PASSWORD"); pw != "" {
		created, err := srv.EnsureAdmin(ctx, "admin", pw)
		if errors.Is(err, store.ErrConflict) {
			return "", nil // another cluster node created it first
		}
		if err != nil {
			return "", fmt.Errorf("PARLEY_ADMIN_PASSWORD: %w", err)
		}
		if created {
			logger.Info("created the admin user admin from PARLEY_ADMIN_PASSWORD")
		}
		return "", nil
	}
	needed, err := srv.NeedsSetup(ctx)
	if err != nil || !needed {
		return "", err
	}
	b := make([]byte, 18)
	rand.Read(b)
	srv.SetupToken = "setup_" + base64.RawURLEncoding.EncodeToString(b)
	return srv.SetupToken, nil
}

// splitList splits a comma-separated flag, dropping empty items.
func splitList(v string) []string {
	var items []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// parsePrefixes parses addresses and CIDR prefixes, comma-separated.
func parsePrefixes(v string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, item := range splitList(v) {
		if p, err := netip.ParsePrefix(item); err == nil {
			ps = append(ps, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix", item)
		}
		ps = append(ps, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
	}
	return ps, nil
}

func (m *Main) newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level: %v", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(m.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(m.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log-format must be text or json, got %q", format)
}
