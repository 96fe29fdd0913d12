// Package api is Parley's HTTP interface: the JSON API, the Server-Sent
// Events streams and the embedded web client.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
	// DefaultRetention is shown with room settings: what rooms without their
	// own retention keep (the log applies it; set both alike).
	DefaultRetention store.Retention
	// ShutdownTimeout bounds how long Close waits for requests in flight.
	ShutdownTimeout time.Duration
	// Logger receives request errors and stream summaries.
	Logger *slog.Logger
	// Now is the server's clock (export file names).
	Now func() time.Time

	log      store.Log
	hub      *stream.Hub
	metrics  *metrics
	assets   *assets
	ln       net.Listener
	srv      *http.Server
	draining atomic.Bool // set by Drain: /readyz answers 503

	closeOnce sync.Once
	closeErr  error
	serveErr  chan error
}

// NewServer returns a server for log with default settings.
func NewServer(log store.Log) *Server {
	s := &Server{
		Addr:            "127.0.0.1:8080",
		MaxMessageBytes: 16 << 10,
		Heartbeat:       15 * time.Second,
		Retry:           2 * time.Second,
		MaxStreamRooms:  100,
		MaxImportBytes:  1 << 30,
		ShutdownTimeout: 10 * time.Second,
		Logger:          slog.Default(),
		Now:             time.Now,
		log:             log,
		hub:             stream.NewHub(log),
	}
	s.metrics = newMetrics(s)
	return s
}

// Open listens on Addr and serves in the background. A bad or busy address
// is an error here, not later.
func (s *Server) Open() error {
	if s.MaxMessageBytes <= 0 || s.Heartbeat <= 0 || s.MaxStreamRooms <= 0 || s.Logger == nil || s.Now == nil {
		return errors.New("api: MaxMessageBytes, Heartbeat, MaxStreamRooms, Logger and Now must be set")
	}
	a, err := loadAssets()
	if err != nil {
		return err
	}
	s.assets = a
	s.hub.Heartbeat, s.hub.Retry, s.hub.Logger = s.Heartbeat, s.Retry, s.Logger
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Addr, err)
	}
	s.ln = ln
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
	go func() { s.serveErr <- s.srv.Serve(ln) }()
	return nil
}

// URL returns the base URL the server is reachable at, like
// http://127.0.0.1:8080.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
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
	})
	return s.closeErr
}
