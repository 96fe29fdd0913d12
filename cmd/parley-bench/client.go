package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// client talks to the one server it was given: POSTs and GETs go over one
// keep-alive transport, SSE streams over raw TCP (or TLS) connections
// (stream.go).
type client struct {
	base  string      // "http://host:port" or "https://host:port"
	addr  string      // host:port to dial
	host  string      // Host header
	tls   *tls.Config // nil for http
	token string      // sent as a bearer token, if set
	http  *http.Client
}

// access is how the client gets through to a server behind TLS and access
// control (nginx in front of a cluster with -auth on).
type access struct {
	caFile   string // PEM certificates to trust for https, besides the system's
	insecure bool   // https without checking the certificate (self-signed)
	token    string // an access token, sent as "Authorization: Bearer"
}

// newClient checks server (an http or https URL with no path) and prepares
// a transport that keeps up to conns idle connections.
func newClient(server string, conns int, timeout time.Duration, acc access) (*client, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("server url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("server url %q: want http://host:port or https://host:port", server)
	}
	c := &client{base: u.Scheme + "://" + u.Host, host: u.Host, token: acc.token}
	port := u.Port()
	switch {
	case u.Scheme == "https":
		if port == "" {
			port = "443"
		}
		if c.tls, err = acc.tlsConfig(u.Hostname()); err != nil {
			return nil, err
		}
	case acc.caFile != "" || acc.insecure:
		return nil, fmt.Errorf("server url %q: -ca and -insecure need an https server", server)
	case port == "":
		port = "80"
	}
	c.addr = net.JoinHostPort(u.Hostname(), port)
	tr := &http.Transport{
		Proxy:               nil, // never route through anything but the server itself
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSClientConfig:     c.tls,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	c.http = &http.Client{Transport: tr, Timeout: timeout}
	return c, nil
}

// tlsConfig is the TLS configuration for server name host: HTTP/1.1, as
// over plain http, so the figures compare; the system's roots plus caFile,
// or no check at all with insecure.
func (acc access) tlsConfig(host string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, NextProtos: []string{"http/1.1"}, InsecureSkipVerify: acc.insecure}
	if acc.caFile == "" {
		return cfg, nil
	}
	if acc.insecure {
		return nil, errors.New("-ca and -insecure: give one")
	}
	pem, err := os.ReadFile(acc.caFile)
	if err != nil {
		return nil, fmt.Errorf("-ca: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-ca %s: no PEM certificate in it", acc.caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// request returns a request for path on the server, with the access token.
func (c *client) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err == nil && c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, err
}

// close drops idle keep-alive connections.
func (c *client) close() { c.http.CloseIdleConnections() }

// statusError is a response outside 2xx.
type statusError struct {
	Code int
	Body string
}

func (e *statusError) Error() string { return fmt.Sprintf("status %d: %s", e.Code, e.Body) }

// post appends a message by author "bench" and returns the event id the
// server acknowledged with.
func (c *client) post(ctx context.Context, room, text string) (string, error) {
	author := "bench"
	if c.token != "" {
		author = "" // the token's user: a server with access control refuses another name
	}
	body, err := json.Marshal(struct {
		Author string `json:"author,omitempty"`
		Text   string `json:"text"`
	}{author, text})
	if err != nil {
		return "", err
	}
	req, err := c.request(ctx, http.MethodPost, "/api/rooms/"+room+"/messages", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	b, err := c.do(req)
	if err != nil {
		return "", err
	}
	var ev struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &ev); err != nil || ev.ID == "" {
		return "", fmt.Errorf("post %s: response without an id: %.100q", room, b)
	}
	return ev.ID, nil
}

// histEvent is the part of a stored event that verification needs.
type histEvent struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// history pages through GET /api/rooms/:room/messages?after=... and returns
// every event after the cursor, in the server's order. It gives up after
// maxPages pages of 1000.
func (c *client) history(ctx context.Context, room, after string, maxPages int) ([]histEvent, error) {
	var all []histEvent
	for range maxPages {
		q := url.Values{"after": {after}, "limit": {"1000"}}
		req, err := c.request(ctx, http.MethodGet, "/api/rooms/"+room+"/messages?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		b, err := c.do(req)
		if err != nil {
			return nil, fmt.Errorf("history %s: %w", room, err)
		}
		var page struct {
			Events []histEvent `json:"events"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, fmt.Errorf("history %s: %w", room, err)
		}
		if len(page.Events) == 0 {
			return all, nil
		}
		all = append(all, page.Events...)
		after = page.Events[len(page.Events)-1].ID
	}
	return nil, fmt.Errorf("history %s: more than %d pages", room, maxPages)
}

// health checks GET /healthz.
func (c *client) health(ctx context.Context) error {
	req, err := c.request(ctx, http.MethodGet, "/healthz", nil)
	if err != nil {
		return err
	}
	if _, err := c.do(req); err != nil {
		return fmt.Errorf("%s not healthy: %w", c.base, err)
	}
	return nil
}

// do sends req and returns the body of a 2xx response, reading it to the end
// so the connection is reused.
func (c *client) do(req *http.Request) ([]byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, &statusError{resp.StatusCode, string(bytes.TrimSpace(b[:min(len(b), 200)]))}
	}
	return b, nil
}

// isStatus reports whether err is a non-2xx response.
func isStatus(err error) bool {
	var se *statusError
	return errors.As(err, &se)
}
