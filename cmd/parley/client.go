package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// client makes the command line's requests to one parley server: every
// HTTP request of a client command goes through its do method.
type client struct {
	server string // base URL, possibly with a path prefix
	token  string // access token, sent as "Authorization: Bearer"

	// login and password, when login is set, are sent with HTTP Basic
	// instead of the token: only to create a first token.
	login, password string
}

// clientFlags adds -server and -token to fs and returns the client they
// configure.
func clientFlags(fs *flag.FlagSet) *client {
	c := &client{}
	fs.StringVar(&c.server, "server", "http://127.0.0.1:8080", "base URL of the parley server")
	fs.StringVar(&c.token, "token", "", "access token, from \"parley token create\" (needed when the server runs with -auth on)")
	return c
}

// url joins the server URL and an API path.
func (c *client) url(path string) (string, error) {
	u, err := url.Parse(strings.TrimRight(c.server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("-server must be an http(s) URL, got %q", c.server)
	}
	return u.String() + path, nil
}

// do sends a request for path and returns the response if the server
// answered 2xx, else the server's error as a *statusError. header holds
// name, value pairs. The caller closes the body.
func (c *client) do(ctx context.Context, method, path string, body io.Reader, header ...string) (*http.Response, error) {
	u, err := c.url(path)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	switch token := strings.TrimSpace(c.token); {
	case c.login != "":
		req.SetBasicAuth(c.login, c.password)
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, c.readError(resp)
	}
	return resp, nil
}

// doJSON sends in as a JSON body (none if in is nil) and decodes a 2xx
// answer into out (discards it if out is nil).
func (c *client) doJSON(ctx context.Context, method, path string, in, out any) error {
	var (
		body   io.Reader
		header []string
	)
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, header = bytes.NewReader(b), []string{"Content-Type", "application/json"}
	}
	resp, err := c.do(ctx, method, path, body, header...)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("read the server's answer: %w", err)
	}
	return nil
}

// statusError is a non-2xx answer from the server.
type statusError struct {
	status int
	msg    string
	hint   string // what the user can do about it, if we know
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("server answered %d: %s", e.status, e.msg)
	if e.hint != "" {
		s += " (" + e.hint + ")"
	}
	return s
}

// temporary reports whether retrying may help (server busy or restarting).
// 401 and 403 are never temporary: the same credentials get the same answer.
func (e *statusError) temporary() bool {
	return e.status >= 500 || e.status == http.StatusTooManyRequests
}

// readError turns a non-2xx response into a statusError with the server's
// message, and for 401 and 403 a hint about the credentials c sent.
func (c *client) readError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	// The server says what is wrong; the hint says which flag to fix.
	se := &statusError{status: resp.StatusCode, msg: msg}
	switch {
	case resp.StatusCode == http.StatusUnauthorized && c.login != "":
		se.hint = "check the name and password"
	case resp.StatusCode == http.StatusUnauthorized && strings.TrimSpace(c.token) != "":
		se.hint = "check -token or PARLEY_TOKEN; \"parley token create\" makes a new one"
	case resp.StatusCode == http.StatusUnauthorized:
		se.hint = "pass -token or set PARLEY_TOKEN"
	case resp.StatusCode == http.StatusForbidden && e.Error == "":
		se.hint = "not allowed for this token's user"
	}
	return se
}

// retryable reports whether err is worth another try.
func retryable(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.temporary()
	}
	return true // network errors
}

// copyJSON GETs path and copies the server's JSON answer to stdout.
func (m *Main) copyJSON(ctx context.Context, c *client, path string) error {
	resp, err := c.do(ctx, http.MethodGet, path, nil, "Accept", "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(m.Stdout, resp.Body)
	return err
}

// formatTime shows a time from the API in tables: local, to the minute.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// formatExpires is formatTime for an expiry, where zero means never.
func formatExpires(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return formatTime(t)
}
