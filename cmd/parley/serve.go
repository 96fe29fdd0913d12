package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store"
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
	gcPercent := fs.Int("gc-percent", defaultGCPercent, "garbage collector target, as GOGC (a GOGC environment variable wins)")
	pprofAddr := fs.String("pprof-addr", "", "serve net/http/pprof on this loopback address, like 127.0.0.1:6060 (default off)")
	shutdownDelay := fs.Duration("shutdown-delay", 0, "on SIGTERM, keep serving this long with /readyz answering 503 before shutting down")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	if m.Getenv("GOGC") == "" {
		debug.SetGCPercent(*gcPercent)
	}
	logger, err := m.newLogger(*logLevel, *logFormat)
	if err != nil {
		return err
	}

	db := store.NewDB(*dbPath)
	db.MaxTextBytes, db.Logger = *maxMsg, logger
	db.Retention = store.Retention{Events: *retainEvents, For: store.Duration(*retainFor)}
	if err := db.Open(); err != nil {
		return err
	}
	defer db.Close()

	srv := api.NewServer(db)
	srv.Addr, srv.MaxMessageBytes, srv.Heartbeat, srv.Logger = *addr, *maxMsg, *heartbeat, logger
	srv.DefaultRetention, srv.MaxImportBytes = db.Retention, *maxImport
	// Nothing is appended before the server opens, so the writer sees this.
	db.OnCommit = srv.ObserveCommit
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
	logger.Info("parley listening", "url", srv.URL(), "db", *dbPath)

	<-ctx.Done()
	if *shutdownDelay > 0 {
		logger.Info("draining", "delay", *shutdownDelay)
		srv.Drain()
		time.Sleep(*shutdownDelay)
	}
	logger.Info("shutting down")
	err = srv.Close()
	if cerr := db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close db: %w", cerr)
	}
	if err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
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
