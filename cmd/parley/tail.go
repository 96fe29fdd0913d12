package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/parleychat/parley/stream"
)

// tail follows a room's stream and prints each event as a JSON line, and
// each reset (history it cannot have any more); stream markers and
// ephemeral events (presence, typing) are not history and not printed.
// When the connection drops it reconnects with the last id it printed, so
// it prints every event once, in order. It stops on answers a retry cannot
// change, like 401 and 403.
func (m *Main) tail(ctx context.Context, args []string) error {
	fs := m.newFlagSet("tail", "")
	c := clientFlags(fs)
	room := fs.String("room", "", "room to follow (required)")
	since := fs.String("since", "", "print events after this id first (default: only new ones)")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if *room == "" {
		fs.Usage()
		return errors.New("tail needs -room")
	}
	if _, err := c.url(""); err != nil {
		return err
	}
	path := "/api/rooms/" + url.PathEscape(*room) + "/events"
	last := *since
	backoff := 250 * time.Millisecond
	for {
		printed, err := m.tailOnce(ctx, c, path, &last)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !retryable(err) {
			return err
		}
		if printed {
			backoff = 250 * time.Millisecond
		}
		fmt.Fprintf(m.Stderr, "parley: stream ended (%v); reconnecting after id %q\n", err, last)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// tailOnce follows one connection, advancing *last as it prints.
func (m *Main) tailOnce(ctx context.Context, c *client, path string, last *string) (printed bool, err error) {
	header := []string{"Accept", "text/event-stream"}
	if *last != "" {
		header = append(header, "Last-Event-ID", *last)
	}
	resp, err := c.do(ctx, http.MethodGet, path, nil, header...)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	r := stream.NewReader(resp.Body, 1<<20)
	for {
		e, err := r.Next()
		if err == io.EOF {
			return printed, errors.New("server closed the stream")
		}
		if err != nil {
			return printed, err
		}
		if e.NoID && e.Type != "reset" {
			continue
		}
		if _, err := fmt.Fprintln(m.Stdout, e.Data); err != nil {
			return printed, err
		}
		*last, printed = e.ID, true
	}
}
