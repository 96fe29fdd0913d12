package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/store"
)

const adminPassword = "correct horse battery"

// mustStartAuthServer runs "parley serve -auth on" in the test process, with
// env as its whole environment, and returns its URL and its log.
func mustStartAuthServer(tb testing.TB, env map[string]string) (string, *syncBuffer) {
	tb.Helper()
	return mustServe(tb, env, "-auth", "on", "-limits=false")
}

// mustServe runs "parley serve" on a free loopback port with more args in
// the test process, with env as its whole environment, and returns its URL
// and its log.
func mustServe(tb testing.TB, env map[string]string, args ...string) (string, *syncBuffer) {
	tb.Helper()
	// GOGC keeps serve from changing this process's GC target.
	env["GOGC"] = "100"
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	m := &Main{Stdin: strings.NewReader(""), Stdout: logs, Stderr: logs, Getenv: func(k string) string { return env[k] }}
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, append([]string{"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(tb.TempDir(), "parley.db")}, args...))
	}()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v\n%s", err, logs)
		}
	})
	var url string
	started := waitFor(func() bool {
		if m := listeningRE.FindStringSubmatch(logs.String()); m != nil {
			url = m[1]
			return true
		}
		select {
		case err := <-done:
			done <- err // for the cleanup
			tb.Fatalf("serve exited: %v\n%s", err, logs)
		default:
		}
		return false
	})
	if !started {
		tb.Fatalf("serve did not start:\n%s", logs)
	}
	return url, logs
}

// mustStartAdminServer starts a server whose admin "admin" has
// adminPassword and returns its URL and an admin token.
func mustStartAdminServer(tb testing.TB) (url, token string) {
	tb.Helper()
	url, _ = mustStartAuthServer(tb, map[string]string{"PARLEY_ADMIN_PASSWORD": adminPassword})
	return url, mustLogin(tb, url, "admin", adminPassword)
}

// mustLogin creates a token for name with "token create -login".
func mustLogin(tb testing.TB, url, name, password string) string {
	tb.Helper()
	out, err := cli(tb, nil, password+"\n", "token", "create", "-server", url, "-login", name, "-password-stdin")
	if err != nil {
		tb.Fatalf("token create -login %s: %v", name, err)
	}
	return strings.TrimSpace(out)
}

// cli runs one client command with stdin and env as its environment and
// returns what it printed on stdout.
func cli(tb testing.TB, env map[string]string, stdin string, args ...string) (string, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	var stdout bytes.Buffer
	m := &Main{Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: io.Discard, Getenv: func(k string) string { return env[k] }}
	err := m.Run(ctx, args)
	return stdout.String(), err
}

// mustCLI is cli that fails the test on an error.
func mustCLI(tb testing.TB, env map[string]string, stdin string, args ...string) string {
	tb.Helper()
	out, err := cli(tb, env, stdin, args...)
	if err != nil {
		tb.Fatalf("parley %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// wantErr fails tb unless err's message contains every one of want.
func wantErr(tb testing.TB, err error, want ...string) {
	tb.Helper()
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			tb.Fatalf("got %v, want an error containing %q", err, w)
		}
	}
}

func TestTokenCreateWithLogin(t *testing.T) {
	url, _ := mustStartAuthServer(t, map[string]string{"PARLEY_ADMIN_PASSWORD": adminPassword})
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  string // error text; empty for success
	}{
		{"right password", []string{"-login", "admin", "-password-stdin"}, adminPassword + "\n", ""},
		{"password without newline", []string{"-login", "admin", "-password-stdin", "-label", "ci"}, adminPassword, ""},
		{"wrong password", []string{"-login", "admin", "-password-stdin"}, "not the password\n", "check the name and password"},
		{"unknown user", []string{"-login", "nobody", "-password-stdin"}, adminPassword + "\n", "check the name and password"},
		{"empty password", []string{"-login", "admin", "-password-stdin"}, "\n", "empty line"},
		{"empty stdin", []string{"-login", "admin", "-password-stdin"}, "", "stdin is empty"},
		{"stdin not a terminal", []string{"-login", "admin"}, adminPassword + "\n", "pass -password-stdin"},
		{"no credentials", nil, "", "pass -token or set PARLEY_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := cli(t, nil, tc.stdin, append([]string{"token", "create", "-server", url}, tc.args...)...)
			if tc.want != "" {
				wantErr(t, err, tc.want)
				if out != "" {
					t.Fatalf("printed %q on failure", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Only the token, so $(parley token create ...) is the token.
			token := strings.TrimSuffix(out, "\n")
			if token == "" || strings.ContainsAny(token, " \t\n") {
				t.Fatalf("got %q on stdout, want just the token", out)
			}
			if out := mustCLI(t, map[string]string{"PARLEY_TOKEN": token}, "", "user", "list", "-server", url); !strings.Contains(out, "admin") {
				t.Fatalf("user list with the new token: got %q", out)
			}
		})
	}
}

func TestUserAddListPasswdRemove(t *testing.T) {
	url, admin := mustStartAdminServer(t)
	env := map[string]string{"PARLEY_TOKEN": admin, "PARLEY_SERVER": url}

	if out := mustCLI(t, env, "bob-password-1\n", "user", "add", "-password-stdin", "bob"); out != "added bob (member)\n" {
		t.Fatalf("user add: got %q", out)
	}
	mustCLI(t, env, "eve-password-1\n", "user", "add", "-password-stdin", "-role", "admin", "eve")
	_, err := cli(t, env, "bob-password-2\n", "user", "add", "-password-stdin", "bob")
	wantErr(t, err, "409")
	_, err = cli(t, env, "short\n", "user", "add", "-password-stdin", "frank")
	wantErr(t, err, "400")

	table := mustCLI(t, env, "", "user", "list")
	for _, re := range []string{`(?m)^NAME +ROLE +CREATED$`, `(?m)^admin +admin +\d{4}-`, `(?m)^bob +member +\d{4}-`, `(?m)^eve +admin +\d{4}-`} {
		if !regexp.MustCompile(re).MatchString(table) {
			t.Fatalf("user list: got\n%s\nwant a line matching %s", table, re)
		}
	}
	var list struct {
		Users []apiUser `json:"users"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, env, "", "user", "list", "-json")), &list); err != nil || len(list.Users) != 3 {
		t.Fatalf("user list -json: got %+v (%v), want 3 users", list, err)
	}

	// A member may not manage users, but may change their own password.
	bob := mustLogin(t, url, "bob", "bob-password-1")
	bobEnv := map[string]string{"PARLEY_TOKEN": bob, "PARLEY_SERVER": url}
	_, err = cli(t, bobEnv, "", "user", "list")
	wantErr(t, err, "403")
	_, err = cli(t, bobEnv, "x-password-1\n", "user", "passwd", "-password-stdin", "eve")
	wantErr(t, err, "403")
	// His own needs the current password first, then the new one.
	_, err = cli(t, bobEnv, "bob-password-2\n", "user", "passwd", "-password-stdin")
	wantErr(t, err, "stdin has 1 line(s), want 2")
	_, err = cli(t, bobEnv, "wrong-password\nbob-password-2\n", "user", "passwd", "-password-stdin", "bob")
	wantErr(t, err, "403", "current_password is wrong")
	if out := mustCLI(t, bobEnv, "bob-password-1\nbob-password-2\n", "user", "passwd", "-password-stdin"); out != "changed the password of bob\n" {
		t.Fatalf("user passwd of oneself: got %q", out)
	}
	mustLogin(t, url, "bob", "bob-password-2")

	// An admin sets anyone's; the old password stops working.
	mustCLI(t, env, "bob-password-3\n", "user", "passwd", "-password-stdin", "bob")
	_, err = cli(t, nil, "bob-password-2\n", "token", "create", "-server", url, "-login", "bob", "-password-stdin")
	wantErr(t, err, "401")
	mustLogin(t, url, "bob", "bob-password-3")

	// Roles change in place; bob's token carries the new one at once.
	if out := mustCLI(t, env, "", "user", "role", "bob", "admin"); out != "bob is an admin\n" {
		t.Fatalf("user role admin: got %q", out)
	}
	mustCLI(t, bobEnv, "", "user", "list")
	if out := mustCLI(t, env, "", "user", "role", "bob", "member"); out != "bob is a member\n" {
		t.Fatalf("user role member: got %q", out)
	}
	_, err = cli(t, bobEnv, "", "user", "list")
	wantErr(t, err, "403")
	_, err = cli(t, env, "", "user", "role", "bob", "owner")
	wantErr(t, err, "400")
	_, err = cli(t, env, "", "user", "role", "bob")
	wantErr(t, err, "a NAME and a role")

	if out := mustCLI(t, env, "", "user", "rm", "bob"); out != "removed bob\n" {
		t.Fatalf("user rm: got %q", out)
	}
	if table := mustCLI(t, env, "", "user", "list"); strings.Contains(table, "bob") {
		t.Fatalf("user list after rm: got\n%s", table)
	}
	_, err = cli(t, bobEnv, "", "token", "list")
	wantErr(t, err, "401", "check -token or PARLEY_TOKEN")
	_, err = cli(t, env, "", "user", "rm", "bob")
	wantErr(t, err, "404")

	// The last admin stays.
	mustCLI(t, env, "", "user", "rm", "eve")
	_, err = cli(t, env, "", "user", "rm", "admin")
	wantErr(t, err, "409")
}

func TestUserAddWithSetupToken(t *testing.T) {
	url, logs := mustStartAuthServer(t, map[string]string{})
	// The log shows the command to run.
	setupRE := regexp.MustCompile(`-setup-token (\S+)`)
	var token string
	if !waitFor(func() bool {
		if m := setupRE.FindStringSubmatch(logs.String()); m != nil {
			token = m[1]
		}
		return token != ""
	}) {
		t.Fatalf("no setup token in the log:\n%s", logs)
	}
	_, err := cli(t, nil, "root-password\n", "user", "add", "-server", url, "-setup-token", "wrong"+token, "-password-stdin", "root")
	if err == nil {
		t.Fatal("user add with a wrong setup token: no error")
	}
	// PARLEY_TOKEN from some other server is not sent with the setup token.
	env := map[string]string{"PARLEY_TOKEN": "stale"}
	if out := mustCLI(t, env, "root-password\n", "user", "add", "-server", url, "-setup-token", token, "-role", "admin", "-password-stdin", "root"); out != "added root (admin)\n" {
		t.Fatalf("user add -setup-token: got %q", out)
	}
	_, err = cli(t, nil, "root-password\n", "user", "add", "-server", url, "-setup-token", token, "-password-stdin", "root2")
	wantErr(t, err, "409")
	mustLogin(t, url, "root", "root-password")
}

func TestClientCommandsWithToken(t *testing.T) {
	url, admin := mustStartAdminServer(t)
	mustCLI(t, nil, "carol-password\n", "user", "add", "-server", url, "-token", admin, "-password-stdin", "carol")
	carol := mustLogin(t, url, "carol", "carol-password")
	env := map[string]string{"PARLEY_TOKEN": carol, "PARLEY_SERVER": url}

	// The author is the token's user: left out, or named, but no one else.
	var first store.Event
	if err := json.Unmarshal([]byte(mustCLI(t, env, "", "send", "-room", "general", "hello")), &first); err != nil || first.Author != "carol" {
		t.Fatalf("send without -author: got %+v (%v), want author carol", first, err)
	}
	mustCLI(t, env, "", "send", "-room", "general", "-author", "carol", "again")
	_, err := cli(t, env, "", "send", "-room", "general", "-author", "mallory", "spoof")
	wantErr(t, err, "403")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	tailDone := make(chan error, 1)
	go func() {
		m := &Main{Stdin: strings.NewReader(""), Stdout: out, Stderr: io.Discard, Getenv: func(k string) string { return env[k] }}
		tailDone <- m.Run(ctx, []string{"tail", "-room", "general", "-since", first.ID.String()})
	}()
	waitLines(t, out, 1)
	mustCLI(t, env, "", "send", "-room", "general", "third")
	if lines := waitLines(t, out, 2); !strings.Contains(lines[0], `"text":"again"`) || !strings.Contains(lines[1], `"text":"third"`) {
		t.Fatalf("tail printed %q", lines)
	}
	cancel()
	if err := <-tailDone; err != nil {
		t.Fatalf("tail: %v", err)
	}

	export := mustCLI(t, env, "", "export", "-room", "general")
	if n := strings.Count(export, "\n"); n != 3 || !strings.Contains(export, `"author":"carol"`) {
		t.Fatalf("export: got %d lines:\n%s", n, export)
	}
	// Import and backup are for admins.
	_, err = cli(t, env, export, "import", "-room", "general", "-")
	wantErr(t, err, "403")
	_, err = cli(t, env, "", "backup", "-o", filepath.Join(t.TempDir(), "b.db"))
	wantErr(t, err, "403")
	adminEnv := map[string]string{"PARLEY_TOKEN": admin, "PARLEY_SERVER": url}
	if out := mustCLI(t, adminEnv, export, "import", "-room", "general", "-"); !strings.Contains(out, "3 already there") {
		t.Fatalf("import by an admin: got %q", out)
	}
	mustCLI(t, adminEnv, "", "backup", "-o", filepath.Join(t.TempDir(), "b.db"))
}

// TestClientCommandsWithoutToken: every client command fails at once with a
// message that says what to do; tail does not retry.
func TestClientCommandsWithoutToken(t *testing.T) {
	url, admin := mustStartAdminServer(t)
	mustCLI(t, nil, "", "send", "-server", url, "-token", admin, "-room", "general", "hello")
	backup := filepath.Join(t.TempDir(), "b.db")
	const signIn = "(pass -token or set PARLEY_TOKEN)"
	for _, tc := range []struct {
		name  string
		cmd   []string // the command and sub-command, before the flags
		token string
		args  []string
		want  string
	}{
		{"send", []string{"send"}, "", []string{"-room", "general", "hi"}, signIn},
		{"tail", []string{"tail"}, "", []string{"-room", "general"}, signIn},
		{"export", []string{"export"}, "", []string{"-room", "general"}, signIn},
		{"export all", []string{"export"}, "", []string{"-all"}, signIn},
		{"import", []string{"import"}, "", []string{"-room", "general", "-"}, signIn},
		{"backup", []string{"backup"}, "", []string{"-o", backup}, signIn},
		{"user list", []string{"user", "list"}, "", nil, signIn},
		{"token list", []string{"token", "list"}, "", nil, signIn},
		{"invite", []string{"invite"}, "", []string{"-room", "general"}, signIn},
		{"send, unknown token", []string{"send"}, "not-a-token", []string{"-room", "general", "hi"}, "check -token or PARLEY_TOKEN"},
		{"tail, unknown token", []string{"tail"}, "not-a-token", []string{"-room", "general"}, "check -token or PARLEY_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := slices.Concat(tc.cmd, []string{"-server", url, "-token", tc.token}, tc.args)
			_, err := cli(t, nil, "", args...)
			wantErr(t, err, "401", tc.want)
		})
	}
}

func TestTokenListAndRevoke(t *testing.T) {
	url, admin := mustStartAdminServer(t)
	adminEnv := map[string]string{"PARLEY_TOKEN": admin, "PARLEY_SERVER": url}
	mustCLI(t, adminEnv, "dave-password\n", "user", "add", "-password-stdin", "dave")
	// An admin creates a token for dave.
	dave := strings.TrimSpace(mustCLI(t, adminEnv, "", "token", "create", "-user", "dave", "-label", "ci", "-expires", "1h"))
	daveEnv := map[string]string{"PARLEY_TOKEN": dave, "PARLEY_SERVER": url}

	table := mustCLI(t, adminEnv, "", "token", "list", "-user", "dave")
	if !regexp.MustCompile(`(?m)^ID +USER +LABEL +CREATED +EXPIRES\n\S+ +dave +ci +\d{4}-`).MatchString(table) || strings.Contains(table, "admin") {
		t.Fatalf("token list -user dave: got\n%s", table)
	}
	var list struct {
		Tokens []apiToken `json:"tokens"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, daveEnv, "", "token", "list", "-json")), &list); err != nil || len(list.Tokens) != 1 || list.Tokens[0].Label != "ci" || list.Tokens[0].Token != "" {
		t.Fatalf("dave's token list -json: got %+v (%v), want the ci token without its secret", list, err)
	}
	id := list.Tokens[0].ID
	if d := time.Until(list.Tokens[0].Expires); d <= 0 || d > time.Hour {
		t.Fatalf("token expires in %v, want 1h", d)
	}
	mustCLI(t, daveEnv, "", "token", "create", "-label", "forever", "-expires", "0")
	if table := mustCLI(t, adminEnv, "", "token", "list"); !regexp.MustCompile(`(?m)^\S+ +dave +forever +\S+ \S+ +never$`).MatchString(table) {
		t.Fatalf("token list: got\n%s\nwant dave's token forever, expiring never", table)
	}

	// dave follows a room; revoking his token ends the stream, and tail
	// stops with the 401 it gets on reconnecting instead of retrying.
	var first store.Event
	json.Unmarshal([]byte(mustCLI(t, adminEnv, "", "send", "-room", "r", "one")), &first)
	mustCLI(t, adminEnv, "", "send", "-room", "r", "two")
	out := &syncBuffer{}
	tailDone := make(chan error, 1)
	go func() {
		m := &Main{Stdin: strings.NewReader(""), Stdout: out, Stderr: io.Discard, Getenv: func(k string) string { return daveEnv[k] }}
		tailDone <- m.Run(context.Background(), []string{"tail", "-room", "r", "-since", first.ID.String()})
	}()
	waitLines(t, out, 1) // connected
	if out := mustCLI(t, adminEnv, "", "token", "revoke", id); out != "revoked token "+id+"\n" {
		t.Fatalf("token revoke: got %q", out)
	}
	select {
	case err := <-tailDone:
		wantErr(t, err, "401", "check -token or PARLEY_TOKEN")
	case <-time.After(patience):
		t.Fatalf("tail still running %v after its token was revoked", patience)
	}
	_, err := cli(t, daveEnv, "", "send", "-room", "r", "three")
	wantErr(t, err, "401", "check -token or PARLEY_TOKEN")
	_, err = cli(t, adminEnv, "", "token", "revoke", id)
	wantErr(t, err, "404")
}

func TestInvite(t *testing.T) {
	url, admin := mustStartAdminServer(t)
	env := map[string]string{"PARLEY_TOKEN": admin, "PARLEY_SERVER": url}
	mustCLI(t, env, "", "send", "-room", "acme", "welcome")
	for _, tc := range []struct {
		name  string
		args  []string
		joins []int // status of each join in turn
	}{
		{"defaults", nil, []int{200, 200}},
		{"one use", []string{"-max-uses", "1", "-expires", "72h"}, []int{200, 404}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := mustCLI(t, env, "", append([]string{"invite", "-room", "acme"}, tc.args...)...)
			link := strings.TrimSuffix(out, "\n")
			if !strings.HasPrefix(link, url+"/join/") || strings.ContainsAny(link, " \n") {
				t.Fatalf("invite printed %q, want %s/join/CODE", out, url)
			}
			code := path.Base(link)
			for i, want := range tc.joins {
				// Names differ across subtests: a room never gives one twice.
				name := fmt.Sprintf("%s %d", tc.name, i)
				resp, err := http.Post(url+"/api/join/"+code, "application/json", strings.NewReader(`{"name":"`+name+`"}`))
				if err != nil {
					t.Fatal(err)
				}
				var got struct{ Name, Role, Room string }
				json.NewDecoder(resp.Body).Decode(&got)
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Fatalf("join %d: got %d, want %d", i, resp.StatusCode, want)
				}
				if want == 200 && (got.Name != name+" (guest)" || got.Role != "guest" || got.Room != "acme") {
					t.Fatalf("join %d: got %+v, want %s (guest), a guest of acme", i, got, name)
				}
			}
		})
	}
}

// TestAuthNone: -author is optional, and a server without access control
// answers 400 when it is missing; the access commands say it is off.
func TestAuthNone(t *testing.T) {
	url, _ := inProcessServer(t, filepath.Join(t.TempDir(), "parley.db"), "127.0.0.1:0")
	_, err := cli(t, nil, "", "send", "-server", url, "-room", "general", "hello")
	wantErr(t, err, "400", "author")
	_, err = cli(t, nil, "password\n", "user", "passwd", "-server", url, "-password-stdin")
	wantErr(t, err, "does it run with -auth on?")
	_, err = cli(t, nil, "password\n", "token", "create", "-server", url, "-login", "admin", "-password-stdin")
	wantErr(t, err, "404", "access control is off")
}

func TestClientUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"user without sub-command", []string{"user"}, "user needs a sub-command"},
		{"unknown sub-command", []string{"token", "mint"}, `unknown sub-command "mint" of token`},
		{"user add without name", []string{"user", "add", "-password-stdin"}, "needs one NAME"},
		{"password as an argument", []string{"user", "add", "bob", "hunter22"}, "never an argument"},
		{"setup token for a member", []string{"user", "add", "-setup-token", "t", "-role", "member", "bob"}, "must be admin"},
		{"passwd with two names", []string{"user", "passwd", "bob", "hunter22"}, "never an argument"},
		{"user rm without name", []string{"user", "rm"}, "needs one NAME"},
		{"token revoke without id", []string{"token", "revoke"}, "needs one token ID"},
		{"token create negative expiry", []string{"token", "create", "-expires", "-1h"}, "-expires must be 0 (never) or more"},
		{"token create password prompt without terminal", []string{"token", "create", "-login", "admin"}, "pass -password-stdin"},
		{"invite without room", []string{"invite"}, "invite needs -room"},
		{"invite negative uses", []string{"invite", "-room", "r", "-max-uses", "-1"}, "-max-uses must be 0 or more"},
		{"send without room", []string{"send", "hi"}, "send needs -room"},
		{"bad server", []string{"user", "list", "-server", "ftp://x"}, "-server must be an http(s) URL"},
		{"bad server for tail", []string{"tail", "-room", "r", "-server", "nope"}, "-server must be an http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cli(t, nil, "", tc.args...)
			wantErr(t, err, tc.want)
		})
	}
}
