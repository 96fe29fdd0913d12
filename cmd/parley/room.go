package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

const roomHelp = `Usage:
  parley room show ROOM                        who may use a room
  parley room private [-members a,b] ROOM      make a room private (admins)
  parley room public ROOM                      make a room public again (admins)
  parley room add ROOM USER                    add a member to a room (admins)
  parley room rm ROOM USER                     remove a member from a room (admins)
  parley room invites [-json] ROOM             list a room's guest invites
  parley room uninvite ROOM ID                 revoke an invite; its guests are signed out

They need a server running with -auth on and a -token (or PARLEY_TOKEN).
"parley invite -room ROOM" creates a guest link. Run "parley room SUB -h"
for the flags.
`

// room manages who may use a room, through the API.
func (m *Main) room(ctx context.Context, args []string) error {
	return m.runSub(ctx, "room", roomHelp, map[string]func(context.Context, []string) error{
		"show":     m.roomSubcommand("show", nil),
		"private":  m.roomSubcommand("private", nil),
		"public":   m.roomSubcommand("public", nil),
		"add":      m.roomSubcommand("add", []string{"USER"}),
		"rm":       m.roomSubcommand("rm", []string{"USER"}),
		"invites":  m.roomSubcommand("invites", nil),
		"uninvite": m.roomSubcommand("uninvite", []string{"ID"}),
	}, args)
}

// apiAccess is a room's access as the API shows it.
type apiAccess struct {
	Room    string   `json:"room"`
	Private bool     `json:"private"`
	Members []string `json:"members"`
}

// roomSubcommand returns the sub-command sub, which takes ROOM and then
// the arguments named by more.
func (m *Main) roomSubcommand(sub string, more []string) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		usage := strings.Join(append([]string{"ROOM"}, more...), " ")
		fs := m.newFlagSet("room "+sub, usage)
		c := clientFlags(fs)
		members := ""
		if sub == "private" {
			fs.StringVar(&members, "members", "", "comma-separated users who may use the room, replacing its members (default: keep them; admins always may)")
		}
		asJSON := false
		if sub == "invites" {
			fs.BoolVar(&asJSON, "json", false, "print the server's JSON")
		}
		if err := m.parse(fs, args); err != nil {
			return err
		}
		setMembers := false
		fs.Visit(func(f *flag.Flag) { setMembers = setMembers || f.Name == "members" })
		if fs.NArg() != 1+len(more) {
			fs.Usage()
			return fmt.Errorf("room %s needs %s", sub, usage)
		}
		base := "/api/rooms/" + url.PathEscape(fs.Arg(0))
		var access apiAccess
		var err error
		switch sub {
		case "show":
			err = c.doJSON(ctx, http.MethodGet, base+"/access", nil, &access)
		case "private", "public":
			// Members stay as they are unless -members names them, so a
			// room made public and private again keeps its members.
			if err = c.doJSON(ctx, http.MethodGet, base+"/access", nil, &access); err != nil {
				break
			}
			in := apiAccess{Private: sub == "private", Members: access.Members}
			if setMembers {
				in.Members = []string{}
				for _, name := range strings.Split(members, ",") {
					if name = strings.TrimSpace(name); name != "" {
						in.Members = append(in.Members, name)
					}
				}
			}
			err = c.doJSON(ctx, http.MethodPut, base+"/access", struct {
				Private bool     `json:"private"`
				Members []string `json:"members"`
			}{in.Private, in.Members}, &access)
		case "add", "rm":
			method := http.MethodPut
			if sub == "rm" {
				method = http.MethodDelete
			}
			err = c.doJSON(ctx, method, base+"/members/"+url.PathEscape(fs.Arg(1)), nil, &access)
		case "invites":
			if asJSON {
				err = m.copyJSON(ctx, c, base+"/invites")
			} else {
				err = m.printInvites(ctx, c, base+"/invites")
			}
			if err != nil {
				return fmt.Errorf("room invites: %w", err)
			}
			return nil
		case "uninvite":
			if err = c.doJSON(ctx, http.MethodDelete, base+"/invites/"+url.PathEscape(fs.Arg(1)), nil, nil); err == nil {
				fmt.Fprintf(m.Stdout, "revoked invite %s\n", fs.Arg(1))
			}
			if err != nil {
				return fmt.Errorf("room uninvite: %w", err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("room %s: %w", sub, err)
		}
		kind := "public: every member may use it"
		if access.Private {
			kind = "private: admins and its members may use it"
		}
		members = strings.Join(access.Members, ", ")
		if members == "" {
			members = "(none)"
		}
		fmt.Fprintf(m.Stdout, "%s is %s\nmembers: %s\n", access.Room, kind, members)
		return nil
	}
}

// printInvites prints a room's invites as a table.
func (m *Main) printInvites(ctx context.Context, c *client, path string) error {
	var list struct {
		Invites []struct {
			ID        string    `json:"id"`
			CreatedBy string    `json:"created_by"`
			Created   time.Time `json:"created"`
			Expires   time.Time `json:"expires"`
			MaxUses   int       `json:"max_uses"`
			Uses      int       `json:"uses"`
		} `json:"invites"`
	}
	if err := c.doJSON(ctx, http.MethodGet, path, nil, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tBY\tCREATED\tEXPIRES\tUSES")
	for _, inv := range list.Invites {
		uses := fmt.Sprint(inv.Uses)
		if inv.MaxUses > 0 {
			uses += fmt.Sprintf("/%d", inv.MaxUses)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", inv.ID, inv.CreatedBy, formatTime(inv.Created), formatExpires(inv.Expires), uses)
	}
	return tw.Flush()
}
