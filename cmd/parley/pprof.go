package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofServer serves net/http/pprof on its own listener, never the API's:
// profiles reveal memory contents, so it only ever listens on loopback.
type pprofServer struct {
	ln  net.Listener
	srv *http.Server
}

// startPprof listens on addr, which must be a loopback address, and serves
// the profiling endpoints under /debug/pprof/ in the background.
func startPprof(addr string, logger *slog.Logger) (*pprofServer, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, fmt.Errorf("pprof-addr: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof-addr: listen on %s: %w", addr, err)
	}
	// "localhost" is resolved by Listen: check what it became.
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("pprof-addr: %s resolved to %s, not a loopback address", addr, ip)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	p := &pprofServer{ln: ln, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}}
	go p.srv.Serve(ln)
	return p, nil
}

// URL returns the base URL of the profiling endpoints.
func (p *pprofServer) URL() string { return "http://" + p.ln.Addr().String() + "/debug/pprof/" }

// Close stops serving at once: a profile in progress is cut short.
func (p *pprofServer) Close() error {
	if err := p.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// checkLoopback accepts host:port where host is localhost or a loopback IP.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address: profiles expose the server's memory, so give 127.0.0.1:PORT, [::1]:PORT or localhost:PORT", addr)
	}
	return nil
}
