package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestRoomAccessCommands: an admin makes a room private, manages its
// members and invites, and the members' access follows.
func TestRoomAccessCommands(t *testing.T) {
	url, admin := mustStartAdminServer(t)
	env := map[string]string{"PARLEY_TOKEN": admin, "PARLEY_SERVER": url}
	for _, name := range []string{"alice", "bob"} {
		mustCLI(t, env, name+"-password\n", "user", "add", "-password-stdin", name)
	}
	alice := map[string]string{"PARLEY_TOKEN": mustLogin(t, url, "alice", "alice-password"), "PARLEY_SERVER": url}
	bob := map[string]string{"PARLEY_TOKEN": mustLogin(t, url, "bob", "bob-password"), "PARLEY_SERVER": url}
	mustCLI(t, env, "", "send", "-room", "board", "agenda")

	steps := []struct {
		args    []string
		want    string // in the output
		aliceOK bool   // may alice read the room afterwards
		bobOK   bool
	}{
		{[]string{"room", "show", "board"}, "board is public", true, true},
		{[]string{"room", "private", "-members", "alice", "board"}, "members: alice", true, false},
		{[]string{"room", "add", "board", "bob"}, "members: alice, bob", true, true},
		{[]string{"room", "rm", "board", "alice"}, "members: bob", false, true},
		{[]string{"room", "public", "board"}, "board is public", true, true},
		{[]string{"room", "private", "board"}, "members: bob", false, true},
	}
	for _, st := range steps {
		if out := mustCLI(t, env, "", st.args...); !strings.Contains(out, st.want) {
			t.Fatalf("parley %s: got %q, want %q", strings.Join(st.args, " "), out, st.want)
		}
		for who, e := range map[string]map[string]string{"alice": alice, "bob": bob} {
			want := map[string]bool{"alice": st.aliceOK, "bob": st.bobOK}[who]
			_, err := cli(t, e, "", "export", "-room", "board")
			if got := err == nil; got != want {
				t.Fatalf("after %s: %s may read: got %v (%v), want %v", strings.Join(st.args, " "), who, got, err, want)
			}
		}
	}

	// Members may not change access.
	_, err := cli(t, bob, "", "room", "public", "board")
	wantErr(t, err, "403")

	// Invites: list, revoke.
	link := strings.TrimSpace(mustCLI(t, env, "", "invite", "-room", "board", "-max-uses", "2"))
	out := mustCLI(t, env, "", "room", "invites", "board")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "admin") || !strings.Contains(lines[1], "0/2") {
		t.Fatalf("invites: got %q, want one invite by admin, 0/2 used", out)
	}
	id := strings.Fields(lines[1])[0]
	mustCLI(t, env, "", "room", "uninvite", "board", id)
	resp, err := http.Post(strings.Replace(link, "/join/", "/api/join/", 1), "application/json", strings.NewReader(`{"name":"Zed"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("join with a revoked invite: got %d, want 404", resp.StatusCode)
	}
	_, err = cli(t, env, "", "room", "uninvite", "board", id)
	wantErr(t, err, "404")
}
