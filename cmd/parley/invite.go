package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiInvite is a guest invite as the API shows it; Code and URL are only in
// the answer that created it.
type apiInvite struct {
	ID      string    `json:"id"`
	Code    string    `json:"code"`
	URL     string    `json:"url"` // "/join/CODE", relative to the server
	Room    string    `json:"room"`
	Expires time.Time `json:"expires"`
	MaxUses int       `json:"max_uses"`
}

// invite creates a guest link to one room and prints its full URL.
func (m *Main) invite(ctx context.Context, args []string) error {
	fs := m.newFlagSet("invite", "")
	c := clientFlags(fs)
	room := fs.String("room", "", "room the guests may read and write (required)")
	expires := fs.Duration("expires", 168*time.Hour, "how long the link works (at most the server's -max-invite-ttl, 720h by default)")
	maxUses := fs.Int("max-uses", 0, "how many guests may join with it (0: any number)")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		fs.Usage()
		return fmt.Errorf("invite takes no arguments, got %q", fs.Args())
	case *room == "":
		fs.Usage()
		return errors.New("invite needs -room")
	case *expires <= 0:
		return fmt.Errorf("invite: -expires must be positive, got %v", *expires)
	case *maxUses < 0:
		return fmt.Errorf("invite: -max-uses must be 0 or more, got %d", *maxUses)
	}
	in := struct {
		ExpiresIn string `json:"expires_in"`
		MaxUses   int    `json:"max_uses"`
	}{expires.String(), *maxUses}
	var inv apiInvite
	if err := c.doJSON(ctx, http.MethodPost, "/api/rooms/"+url.PathEscape(*room)+"/invites", in, &inv); err != nil {
		return fmt.Errorf("invite: %w", err)
	}
	link := inv.URL
	if !strings.HasPrefix(link, "http://") && !strings.HasPrefix(link, "https://") {
		var err error
		if link, err = c.url(link); err != nil {
			return err
		}
	}
	fmt.Fprintln(m.Stdout, link)
	uses := "any number of guests"
	if inv.MaxUses > 0 {
		uses = fmt.Sprintf("at most %d guests", inv.MaxUses)
	}
	fmt.Fprintf(m.Stderr, "parley: invite %s to room %s for %s, expires %s\n", inv.ID, inv.Room, uses, formatExpires(inv.Expires))
	return nil
}
