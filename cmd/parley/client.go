package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// serverFlag adds -server, the base URL of a running parley.
func serverFlag(fs *flag.FlagSet) *string {
	return fs.String("server", "http://127.0.0.1:8080", "base URL of the parley server")
}

// endpoint joins the server URL and an API path.
func endpoint(server, path string) (string, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("-server must be an http(s) URL, got %q", server)
	}
	return u.String() + path, nil
}

// statusError is a non-2xx answer from the server.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return fmt.Sprintf("server answered %d: %s", e.status, e.msg) }

// temporary reports whether retrying may help (server busy or restarting).
func (e *statusError) temporary() bool {
	return e.status >= 500 || e.status == http.StatusTooManyRequests
}

// readError turns a non-2xx response into a statusError with the server's
// message.
func readError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	return &statusError{status: resp.StatusCode, msg: msg}
}

// retryable reports whether err is worth another try.
func retryable(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.temporary()
	}
	return true // network errors
}

// call sends a request to u and returns the response if the server answered
// 2xx, else the server's error. header holds name, value pairs. The caller
// closes the body.
func call(ctx context.Context, method, u string, body io.Reader, header ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, readError(resp)
	}
	return resp, nil
}
