package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// send posts one message. It retries network failures and 5xx answers with
// the same client id, so a retry never stores the message twice.
func (m *Main) send(ctx context.Context, args []string) error {
	fs := m.newFlagSet("send", "TEXT... (or - to read the text from stdin)")
	c := clientFlags(fs)
	room := fs.String("room", "", "room to post to (required)")
	author := fs.String("author", "", "author name (needed when the server runs -auth none; under -auth on it is the token's user)")
	clientID := fs.String("client-id", "", "idempotency key (default: random)")
	tries := fs.Int("tries", 5, "attempts before giving up")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	text := strings.Join(fs.Args(), " ")
	if text == "-" {
		b, err := io.ReadAll(m.Stdin)
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		text = strings.TrimSuffix(string(b), "\n")
	}
	if *room == "" || text == "" {
		fs.Usage()
		return errors.New("send needs -room and a text")
	}
	if *clientID == "" {
		*clientID = rand.Text()
	}
	path := "/api/rooms/" + url.PathEscape(*room) + "/messages"
	// Without -author the field is left out: under -auth on the server
	// takes the token's user; under -auth none it answers 400.
	body, _ := json.Marshal(struct {
		Author   string `json:"author,omitempty"`
		Text     string `json:"text"`
		ClientID string `json:"client_id"`
	}{*author, text, *clientID})
	for attempt := 1; ; attempt++ {
		err := m.postOnce(ctx, c, path, body)
		if err == nil || !retryable(err) || attempt >= *tries || ctx.Err() != nil {
			return err
		}
		fmt.Fprintf(m.Stderr, "parley: send failed (%v), retrying\n", err)
		select {
		case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (m *Main) postOnce(ctx context.Context, c *client, path string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := c.do(ctx, http.MethodPost, path, bytes.NewReader(body), "Content-Type", "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(m.Stdout, resp.Body)
	return err
}
