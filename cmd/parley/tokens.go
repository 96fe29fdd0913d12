package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"
)

const tokenHelp = `Usage:
  parley token create [-label L] [-expires 720h] [-user NAME]   print a new token (once)
  parley token create -login NAME [-password-stdin] ...         the same, signing in with a password
  parley token list [-json] [-user NAME]                        list tokens (yours; an admin's: everyone's)
  parley token revoke ID                                        revoke a token

They need a server running with -auth on. Get a first token with
  export PARLEY_TOKEN=$(parley token create -login admin)
or, from a script,
  export PARLEY_TOKEN=$(parley token create -login admin -password-stdin < pw)
Run "parley token SUB -h" for the flags.
`

// token manages access tokens through the API.
func (m *Main) token(ctx context.Context, args []string) error {
	return m.runSub(ctx, "token", tokenHelp, map[string]func(context.Context, []string) error{
		"create": m.tokenCreate,
		"list":   m.tokenList,
		"revoke": m.tokenRevoke,
	}, args)
}

// apiToken is an access token as the API shows it; Token, the secret, is
// only in the answer that created it.
type apiToken struct {
	ID      string    `json:"id"`
	Token   string    `json:"token,omitempty"`
	User    string    `json:"user"`
	Label   string    `json:"label"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

func (m *Main) tokenCreate(ctx context.Context, args []string) error {
	fs := m.newFlagSet("token create", "")
	c := clientFlags(fs)
	label := fs.String("label", "", "what the token is for, shown by token list")
	expires := fs.Duration("expires", 720*time.Hour, "how long the token is valid (0: it never expires)")
	user := fs.String("user", "", "create it for this user (admins only; default: yourself)")
	login := fs.String("login", "", "sign in as this user with a password instead of a -token, to create a first token")
	stdin := passwordStdinFlag(fs)
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("token create takes no arguments, got %q", fs.Args())
	}
	if *expires < 0 {
		return fmt.Errorf("token create: -expires must be 0 (never) or more, got %v", *expires)
	}
	if _, err := c.url(""); err != nil {
		return err
	}
	if *login != "" {
		pw, err := m.readPassword(*stdin, "Password for "+*login+": ")
		if err != nil {
			return err
		}
		c.login, c.password = *login, pw
	}
	in := struct {
		Label     string `json:"label,omitempty"`
		ExpiresIn string `json:"expires_in,omitempty"` // left out: never
		User      string `json:"user,omitempty"`
	}{Label: *label, User: *user}
	if *expires > 0 {
		in.ExpiresIn = expires.String()
	}
	var tok apiToken
	if err := c.doJSON(ctx, http.MethodPost, "/api/tokens", in, &tok); err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	if tok.Token == "" {
		return errors.New("token create: the server's answer has no token")
	}
	// Only the token on stdout, so $(parley token create) is the token.
	fmt.Fprintln(m.Stdout, tok.Token)
	fmt.Fprintf(m.Stderr, "parley: token %s for %s, expires %s; it is shown only this once\n", tok.ID, tok.User, formatExpires(tok.Expires))
	return nil
}

func (m *Main) tokenList(ctx context.Context, args []string) error {
	fs := m.newFlagSet("token list", "")
	c := clientFlags(fs)
	asJSON := fs.Bool("json", false, `print the server's JSON answer, {"tokens":[...]}`)
	user := fs.String("user", "", "only this user's tokens (admins)")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("token list takes no arguments, got %q", fs.Args())
	}
	path := "/api/tokens"
	if *user != "" {
		path += "?" + url.Values{"user": {*user}}.Encode()
	}
	if *asJSON {
		if err := m.copyJSON(ctx, c, path); err != nil {
			return fmt.Errorf("token list: %w", err)
		}
		return nil
	}
	var list struct {
		Tokens []apiToken `json:"tokens"`
	}
	if err := c.doJSON(ctx, http.MethodGet, path, nil, &list); err != nil {
		return fmt.Errorf("token list: %w", err)
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tLABEL\tCREATED\tEXPIRES")
	for _, t := range list.Tokens {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.User, t.Label, formatTime(t.Created), formatExpires(t.Expires))
	}
	return tw.Flush()
}

func (m *Main) tokenRevoke(ctx context.Context, args []string) error {
	fs := m.newFlagSet("token revoke", "ID")
	c := clientFlags(fs)
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("token revoke needs one token ID (see token list)")
	}
	if err := c.doJSON(ctx, http.MethodDelete, "/api/tokens/"+url.PathEscape(fs.Arg(0)), nil, nil); err != nil {
		return fmt.Errorf("token revoke: %w", err)
	}
	fmt.Fprintf(m.Stdout, "revoked token %s\n", fs.Arg(0))
	return nil
}
