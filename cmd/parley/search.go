package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
)

// search prints the messages of a running server that match a query,
// newest first: time, room, author and text, one a line.
func (m *Main) search(ctx context.Context, args []string) error {
	fs := m.newFlagSet("search", "QUERY... (words, \"a phrase\", -word, from:NAME, in:ROOM, before:DATE, after:DATE)")
	c := clientFlags(fs)
	room := fs.String("room", "", "search only these rooms, comma-separated (default: every room you may read)")
	limit := fs.Int("limit", 20, "results to print, at most 100")
	before := fs.String("before", "", "print results older than this event id (the next page)")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	query := strings.Join(fs.Args(), " ")
	if strings.TrimSpace(query) == "" {
		fs.Usage()
		return errors.New("search needs a query")
	}
	v := url.Values{"q": {query}, "limit": {strconv.Itoa(*limit)}}
	if *room != "" {
		v.Set("rooms", *room)
	}
	if *before != "" {
		v.Set("before", *before)
	}
	var page struct {
		Results []struct {
			Event store.Message `json:"event"`
		} `json:"results"`
		Next string `json:"next"`
	}
	if err := c.doJSON(ctx, "GET", "/api/search?"+v.Encode(), nil, &page); err != nil {
		return err
	}
	for _, r := range page.Results {
		e := r.Event
		text := strings.Join(strings.Fields(e.Text), " ")
		fmt.Fprintf(m.Stdout, "%s  %s  %s: %s\n", e.Time.UTC().Format(time.DateTime), e.Room, e.Author, text)
	}
	if len(page.Results) == 0 {
		fmt.Fprintln(m.Stderr, "no messages found")
	}
	if page.Next != "" {
		fmt.Fprintf(m.Stderr, "more: add -before %s\n", page.Next)
	}
	return nil
}

// reindex rebuilds a stopped server's search index.
func (m *Main) reindex(_ context.Context, args []string) error {
	fs := m.newFlagSet("reindex", "")
	db := fs.String("db", "parley.db", "database file whose search index to rebuild (the server must be stopped)")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	rep, err := bolt.Reindex(*db)
	if err != nil {
		return fmt.Errorf("reindex %s: %w", *db, err)
	}
	fmt.Fprintf(m.Stdout, "%s: indexed %d messages in %d rooms in %s\n", *db, rep.Messages, rep.Rooms, rep.Took.Round(time.Millisecond))
	return nil
}
