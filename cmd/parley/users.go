package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

const userHelp = `Usage:
  parley user add [-role member|admin] [-password-stdin] NAME   add a user (admins)
  parley user add -setup-token TOKEN [-password-stdin] NAME     add the first admin
  parley user list [-json]                                      list users (admins)
  parley user passwd [-password-stdin] [NAME]                   change a password (default: your own, which asks for the current one)
  parley user role NAME admin|member                            make a user an admin or a member (admins)
  parley user rm NAME                                           remove a user (admins)

They need a server running with -auth on and, but for -setup-token, an
admin's -token (or PARLEY_TOKEN). Run "parley user SUB -h" for the flags.
`

// user manages users through the API, so it works while the server runs.
func (m *Main) user(ctx context.Context, args []string) error {
	return m.runSub(ctx, "user", userHelp, map[string]func(context.Context, []string) error{
		"add":    m.userAdd,
		"list":   m.userList,
		"passwd": m.userPasswd,
		"role":   m.userRole,
		"rm":     m.userRemove,
	}, args)
}

// apiUser is a user as the API shows it.
type apiUser struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Created time.Time `json:"created"`
}

func (m *Main) userAdd(ctx context.Context, args []string) error {
	fs := m.newFlagSet("user add", "NAME")
	c := clientFlags(fs)
	role := fs.String("role", "", "admin or member (default member; with -setup-token, admin)")
	setupToken := fs.String("setup-token", "", "the one-time setup token from the server's log, to add the first admin without a -token")
	stdin := passwordStdinFlag(fs)
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("user add needs one NAME (the password is read from stdin or the terminal, never an argument)")
	}
	name := fs.Arg(0)
	if *setupToken != "" && *role != "" && *role != "admin" {
		return errors.New("user add -setup-token adds an admin: -role must be admin or left out")
	}
	if _, err := c.url(""); err != nil {
		return err
	}
	pw, err := m.readPassword(*stdin, "Password for "+name+": ")
	if err != nil {
		return err
	}
	var u apiUser
	if *setupToken != "" {
		// The setup token is the credential; a token from PARLEY_TOKEN
		// would be for another server or an earlier life of this one.
		setup := &client{server: c.server}
		in := map[string]string{"token": *setupToken, "name": name, "password": pw}
		if err := setup.doJSON(ctx, http.MethodPost, "/api/setup", in, &u); err != nil {
			return fmt.Errorf("user add: %w", err)
		}
		fmt.Fprintf(m.Stdout, "added %s (%s)\n", u.Name, u.Role)
		fmt.Fprintf(m.Stderr, "parley: now create a token: parley token create -server %s -login %s\n", c.server, u.Name)
		return nil
	}
	if *role == "" {
		*role = "member"
	}
	in := map[string]string{"name": name, "password": pw, "role": *role}
	if err := c.doJSON(ctx, http.MethodPost, "/api/users", in, &u); err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	fmt.Fprintf(m.Stdout, "added %s (%s)\n", u.Name, u.Role)
	return nil
}

func (m *Main) userList(ctx context.Context, args []string) error {
	fs := m.newFlagSet("user list", "")
	c := clientFlags(fs)
	asJSON := fs.Bool("json", false, `print the server's JSON answer, {"users":[{"name","role","created"}]}`)
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("user list takes no arguments, got %q", fs.Args())
	}
	if *asJSON {
		if err := m.copyJSON(ctx, c, "/api/users"); err != nil {
			return fmt.Errorf("user list: %w", err)
		}
		return nil
	}
	var list struct {
		Users []apiUser `json:"users"`
	}
	if err := c.doJSON(ctx, http.MethodGet, "/api/users", nil, &list); err != nil {
		return fmt.Errorf("user list: %w", err)
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
	for _, u := range list.Users {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Role, formatTime(u.Created))
	}
	return tw.Flush()
}

// userPasswd changes a password. Your own needs the current one too (the
// server asks for it); an admin sets another user's without it.
func (m *Main) userPasswd(ctx context.Context, args []string) error {
	fs := m.newFlagSet("user passwd", "[NAME]")
	c := clientFlags(fs)
	stdin := passwordStdinFlagWith(fs, "read the passwords from stdin: for your own, the current one on the first line and the new one on the second; for another user's, the new one (default: prompt on the terminal)")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return errors.New("user passwd takes at most one NAME (the password is read from stdin or the terminal, never an argument)")
	}
	var me apiUser
	if err := c.doJSON(ctx, http.MethodGet, "/api/me", nil, &me); err != nil {
		return fmt.Errorf("user passwd: who am I: %w", err)
	}
	name := fs.Arg(0)
	if name == "" {
		if me.Name == "" {
			return errors.New("user passwd: the server does not know who you are (does it run with -auth on?): name the user")
		}
		name = me.Name
	}
	in := map[string]string{}
	var err error
	if name == me.Name {
		var pws []string
		pws, err = m.readPasswords(*stdin, "Current password for "+name+": ", "New password for "+name+": ")
		if err == nil {
			in["current_password"], in["password"] = pws[0], pws[1]
		}
	} else {
		in["password"], err = m.readPassword(*stdin, "New password for "+name+": ")
	}
	if err != nil {
		return err
	}
	if err := c.doJSON(ctx, http.MethodPut, "/api/users/"+url.PathEscape(name)+"/password", in, nil); err != nil {
		return fmt.Errorf("user passwd: %w", err)
	}
	fmt.Fprintf(m.Stdout, "changed the password of %s\n", name)
	return nil
}

func (m *Main) userRole(ctx context.Context, args []string) error {
	fs := m.newFlagSet("user role", "NAME admin|member")
	c := clientFlags(fs)
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errors.New("user role needs a NAME and a role, admin or member")
	}
	name, role := fs.Arg(0), fs.Arg(1)
	var u apiUser
	if err := c.doJSON(ctx, http.MethodPut, "/api/users/"+url.PathEscape(name)+"/role", map[string]string{"role": role}, &u); err != nil {
		return fmt.Errorf("user role: %w", err)
	}
	fmt.Fprintf(m.Stdout, "%s is %s\n", u.Name, withArticle(u.Role))
	return nil
}

// withArticle puts "a" or "an" before a role.
func withArticle(role string) string {
	if strings.HasPrefix(role, "a") {
		return "an " + role
	}
	return "a " + role
}

func (m *Main) userRemove(ctx context.Context, args []string) error {
	fs := m.newFlagSet("user rm", "NAME")
	c := clientFlags(fs)
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("user rm needs one NAME")
	}
	if err := c.doJSON(ctx, http.MethodDelete, "/api/users/"+url.PathEscape(fs.Arg(0)), nil, nil); err != nil {
		return fmt.Errorf("user rm: %w", err)
	}
	fmt.Fprintf(m.Stdout, "removed %s\n", fs.Arg(0))
	return nil
}
