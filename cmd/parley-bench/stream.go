package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// stream is one SSE subscription on its own TCP (or TLS) connection. The request is
// written by hand and the response read with http.ReadResponse (which also
// undoes chunked encoding), so a subscriber costs one goroutine and two
// small buffers instead of a Transport's per-connection machinery.
type stream struct {
	conn      net.Conn
	body      io.ReadCloser
	sse       *SSEReader
	closeOnce sync.Once
}

// openStream subscribes to path (with its query) and returns once the
// response headers have arrived. lastEventID, if not empty, is sent as the
// Last-Event-ID header.
func (c *client) openStream(ctx context.Context, path, lastEventID string, bufSize int) (*stream, error) {
	if strings.ContainsAny(path+lastEventID, "\r\n ") {
		return nil, fmt.Errorf("subscribe %q: bad path or cursor", path)
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", path, err)
	}
	raw := conn
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if c.tls != nil {
		tc := tls.Client(conn, c.tls)
		if err := tc.Handshake(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("subscribe %s: %w", path, err)
		}
		conn = tc
	}
	req := make([]byte, 0, 256)
	req = append(req, "GET "...)
	req = append(req, path...)
	req = append(req, " HTTP/1.1\r\nHost: "...)
	req = append(req, c.host...)
	req = append(req, "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n"...)
	if c.token != "" {
		req = append(req, "Authorization: Bearer "...)
		req = append(req, c.token...)
		req = append(req, "\r\n"...)
	}
	if lastEventID != "" {
		req = append(req, "Last-Event-ID: "...)
		req = append(req, lastEventID...)
		req = append(req, "\r\n"...)
	}
	req = append(req, "\r\n"...)
	if _, err := conn.Write(req); err != nil {
		conn.Close()
		return nil, fmt.Errorf("subscribe %s: %w", path, err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, bufSize), nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("subscribe %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		conn.Close()
		return nil, fmt.Errorf("subscribe %s: %s %s: %s", path, resp.Status, resp.Header.Get("Content-Type"), strings.TrimSpace(string(b)))
	}
	conn.SetDeadline(time.Time{})
	if ctx.Err() != nil {
		conn.Close()
		return nil, ctx.Err()
	}
	return &stream{conn: raw, body: resp.Body, sse: NewSSEReader(resp.Body, bufSize, 1<<20)}, nil
}

// Close drops the connection; a Next blocked on it returns an error. It is
// safe to call more than once and from any goroutine.
func (s *stream) Close() {
	s.closeOnce.Do(func() { s.conn.Close() })
}
