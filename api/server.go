// Package api is Parley's HTTP interface: the JSON API, the Server-Sent
// Events streams and the embedded web client.
package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/stream"
)

// Server serves the API over one listener. Set its exported fields before
// Open.
type Server struct {
	// Addr is the TCP address to listen on; port 0 picks a free port.
	Addr string
	// MaxMessageBytes is the largest accepted message text, in bytes of
	// UTF-8. The log should enforce the same limit.
	MaxMessageBytes int
	// Heartbeat is the interval of comments on idle streams.
	Heartbeat time.Duration
	// Retry is the reconnection delay streams advise clients to use.
	Retry time.Duration
	// MaxStreamRooms caps the rooms of one multi-room stream.
	MaxStreamRooms int
	// MaxImportBytes caps the body of an import.
	MaxImportBytes int64
	// BodyTimeout bounds the time to read a request's body, from when its
	// headers are in (0: no bound); ImportBodyTimeout replaces it for
	// imports. A body not in by then is answered 408.
	BodyTimeout       time.Duration
	ImportBodyTimeout time.Duration
	// DefaultRetention is shown with room settings: what rooms without their
	// own retention keep (the log applies it; set both alike).
	DefaultRetention store.Retention
	// ShutdownTimeout bounds how long Close waits for requests in flight.
	ShutdownTimeout time.Duration
	// Logger receives request errors and stream summaries.
	Logger *slog.Logger
	// Now is the server's clock (export file names, expiry of credentials).
	Now func() time.Time

	// Accounts, when set, turns access control on: every API request and
	// stream needs an identity, and rooms may be private (docs/access.md).
	Accounts store.Accounts
	// SetupToken lets POST /api/setup create the first admin while there is
	// none.
	SetupToken string
	// PasswordTime and PasswordMemoryKiB are argon2id's cost for new
	// password hashes.
	PasswordTime      uint32
	PasswordMemoryKiB uint32
	// SessionTTL is how long a browser session lasts.
	SessionTTL time.Duration
	// MaxInviteTTL is the longest an invite may work: a longer expires_in
	// is refused.
	MaxInviteTTL time.Duration
	// Limits bound each identity and client IP; the zero value none.
	Limits Limits
	// TrustedProxies may set X-Forwarded-For and X-Forwarded-Proto.
	TrustedProxies []netip.Prefix
	// CORSOrigins may call the API from their pages, with credentials.
	CORSOrigins []string
	// AllowedHosts are the Host names, besides localhost and IP addresses,
	// that a server without access control answers; others get 421, so a
	// page rebinding its own name to this server reads nothing (DNS
	// rebinding). "*" answers every name. Ignored with access control on.
	AllowedHosts []string
	// TLSCert and TLSKey, both set, serve HTTPS (and HTTP/2).
	TLSCert, TLSKey string

	// Version is the server's version, said in every stream's hello as
	// parley/VERSION.
	Version string
	// PresenceGrace is how long a closed stream still counts in presence,
	// so a quick reconnect does not flap.
	PresenceGrace time.Duration
	// ICEServers are the STUN and TURN servers clients use for calls,
	// served in /api/config; none works on a LAN and on loopback.
	ICEServers []ICEServer
	// Node and Relay, when set, replace the stream hub's random node id
	// and in-process relay: cluster mode carries presence, typing and call
	// signals between nodes through them. A node id is lower-case letters,
	// digits and '-', unique among the nodes.
	Node  string
	Relay stream.Relay

	// Files, when set, stores uploads (POST /api/rooms/:room/files and the
	// files of messages); nil: those routes answer 404. FileLimits bound
	// them.
	Files      store.Files
	FileLimits FileLimits

	// Cluster, when set (the log of a cluster node), adds the
	// parley_cluster_* gauges to /metrics (docs/cluster.md, Metrics).
	Cluster store.Cluster

	log       store.Store
	thumbs    *thumbnailer
	hub       *stream.Hub
	passwords *passwordHasher
	limits    *limiters
	streams   watches
	warnProxy sync.Once // an X-Forwarded-For from an untrusted peer was seen
	metrics   *metrics
	assets    *assets
	ln        net.Listener
	srv       *http.Server
	draining  atomic.Bool // set by Drain: /readyz answers 503

	closeOnce sync.Once
	closeErr  error
	serveErr  chan error
}

// NewServer returns a server for log (the event log and its read markers)
// with default settings.
func NewServer(log store.Store) *Server {
	s := &Server{
		Addr:              "127.0.0.1:8080",
		MaxMessageBytes:   16 << 10,
		Heartbeat:         15 * time.Second,
		Retry:             2 * time.Second,
		MaxStreamRooms:    100,
		MaxImportBytes:    1 << 30,
		BodyTimeout:       30 * time.Second,
		ImportBodyTimeout: 30 * time.Minute,
		ShutdownTimeout:   10 * time.Second,
		PasswordTime:      2,
		PasswordMemoryKiB: 19 * 1024,
		SessionTTL:        30 * 24 * time.Hour,
		MaxInviteTTL:      30 * 24 * time.Hour,
		Logger:            slog.Default(),
		Now:               time.Now,
		Version:           "dev",
		PresenceGrace:     5 * time.Second,
		FileLimits:        DefaultFileLimits,
		log:               log,
		hub:               stream.NewHub(log),
	}
	s.metrics = newMetrics(s)
	log.ObserveCommits(s.observeCommit)
	return s
}

// Open listens on Addr and serves in the background. A bad or busy address
// is an error here, not later.
func (s *Server) Open() error {
	if s.MaxMessageBytes <= 0 || s.Heartbeat <= 0 || s.MaxStreamRooms <= 0 || s.MaxInviteTTL <= 0 || s.Logger == nil || s.Now == nil {
		return errors.New("api: MaxMessageBytes, Heartbeat, MaxStreamRooms, MaxInviteTTL, Logger and Now must be set")
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return errors.New("api: set both TLSCert and TLSKey, or neither")
	}
	for _, o := range s.CORSOrigins {
		if err := http.NewCrossOriginProtection().AddTrustedOrigin(o); err != nil {
			return fmt.Errorf("api: CORS origin %q: %v", o, err)
		}
	}
	a, err := loadAssets()
	if err != nil {
		return err
	}
	s.assets = a
	s.init()
	s.limits = newLimiters(s.Limits)
	s.limits.addUploads(s.FileLimits)
	if s.Files != nil && s.FileLimits.MaxFileBytes <= 0 {
		return errors.New("api: FileLimits.MaxFileBytes must be set")
	}
	s.configureHub()
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Addr, err)
	}
	s.ln = ln
	if s.Files != nil {
		s.thumbs = newThumbnailer(s.Files, s.Logger)
	}
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	// Shutdown waits for idle connections, and a stream is never idle: end
	// the streams as soon as shutdown begins.
	s.srv.RegisterOnShutdown(s.hub.Close)
	s.serveErr = make(chan error, 1)
	if s.TLSCert != "" {
		// Load now: a bad certificate is an error at start.
		cert, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("tls: %w", err)
		}
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		go func() { s.serveErr <- s.srv.ServeTLS(ln, "", "") }()
		return nil
	}
	go func() { s.serveErr <- s.srv.Serve(ln) }()
	return nil
}

// init sets up what depends on exported fields and is needed before Open
// too (EnsureAdmin hashes a password).
func (s *Server) init() {
	if s.passwords == nil {
		s.passwords = newPasswordHasher(max(s.PasswordTime, 1), max(s.PasswordMemoryKiB, 8))
	}
}

// URL returns the base URL the server is reachable at, like
// http://127.0.0.1:8080.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	if s.TLSCert != "" {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

// Close marks the server not ready (see Drain), stops accepting connections,
// ends every stream, waits up to ShutdownTimeout for other requests (appends
// in flight among them) and returns. It does not close the log. It is safe
// to call twice.
func (s *Server) Close() error {
	s.Drain()
	s.closeOnce.Do(func() {
		defer s.hub.Close()
		if s.srv == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.closeErr = fmt.Errorf("shutdown: %w", err)
			s.srv.Close()
		}
		if err := <-s.serveErr; !errors.Is(err, http.ErrServerClosed) {
			s.closeErr = errors.Join(s.closeErr, err)
		}
		s.thumbs.stop()
	})
	return s.closeErr
}
