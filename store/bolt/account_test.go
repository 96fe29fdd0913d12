package bolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/store"
)

var _ store.Accounts = (*DB)(nil)

func TestAccountsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parley.db")
	d := mustOpenDB(t, path)
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	if err := d.AddUser(ctx, store.User{Name: "root", Role: store.RoleAdmin, Created: t0, PasswordHash: "h1"}); err != nil {
		t.Fatal(err)
	}
	if err := d.AddCredential(ctx, []byte("tokenhash"), store.Credential{ID: "t1", Kind: store.KindToken, User: "root", Created: t0}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	// The log's invariants are untouched by accounts in the same file.
	rep, err := Verify(path)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}

	d = mustOpenDB(t, path)
	u, err := d.User(ctx, "root")
	if err != nil || u.Role != store.RoleAdmin || u.PasswordHash != "h1" {
		t.Fatalf("got %+v, %v; want root, admin, its hash", u, err)
	}
	c, u, err := d.Identify(ctx, []byte("tokenhash"), t0)
	if err != nil || c.ID != "t1" || u.Name != "root" || u.PasswordHash != "" {
		t.Fatalf("identify: got %+v %+v %v", c, u, err)
	}
}

func TestAccountRules(t *testing.T) {
	ctx := context.Background()
	d := mustOpenDB(t, "")
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	add := func(name string, role store.Role) {
		t.Helper()
		if err := d.AddUser(ctx, store.User{Name: name, Role: role, Created: now, PasswordHash: "x"}); err != nil {
			t.Fatalf("add %s: %v", name, err)
		}
	}
	add("root", store.RoleAdmin)
	add("alice", store.RoleMember)

	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"taken name", d.AddUser(ctx, store.User{Name: "alice", Role: store.RoleMember, PasswordHash: "x"}), store.ErrConflict},
		{"bad name", d.AddUser(ctx, store.User{Name: "Alice Smith", Role: store.RoleMember, PasswordHash: "x"}), store.ErrInvalid},
		{"guest role", d.AddUser(ctx, store.User{Name: "g", Role: store.RoleGuest, PasswordHash: "x"}), store.ErrInvalid},
		{"no password", d.AddUser(ctx, store.User{Name: "bob", Role: store.RoleMember}), store.ErrInvalid},
		{"last admin", d.RemoveUser(ctx, "root"), store.ErrConflict},
		{"last admin made a member", d.SetRole(ctx, "root", store.RoleMember), store.ErrConflict},
		{"guest role set", d.SetRole(ctx, "alice", store.RoleGuest), store.ErrInvalid},
		{"role of unknown user", d.SetRole(ctx, "nobody", store.RoleAdmin), store.ErrNotFound},
		{"unknown user", d.RemoveUser(ctx, "nobody"), store.ErrNotFound},
		{"credential of unknown user", d.AddCredential(ctx, []byte("h"), store.Credential{User: "nobody"}), store.ErrNotFound},
		{"member who is not a user", d.SetRoomAccess(ctx, store.RoomAccess{Room: "a", Private: true, Members: []string{"nobody"}}), store.ErrInvalid},
		{"unknown invite", d.RevokeInvite(ctx, "a", "nope"), store.ErrNotFound},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.err, tc.want)
		}
	}

	// Expired credentials do not identify.
	if err := d.AddCredential(ctx, []byte("old"), store.Credential{ID: "o", Kind: store.KindToken, User: "alice", Expires: now}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Identify(ctx, []byte("old"), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired token: got %v, want store.ErrNotFound", err)
	}

	// A role change keeps the password and shows at the next Identify.
	if err := d.AddCredential(ctx, []byte("t"), store.Credential{ID: "t", Kind: store.KindToken, User: "alice"}); err != nil {
		t.Fatal(err)
	}
	for _, role := range []store.Role{store.RoleAdmin, store.RoleMember} {
		if err := d.SetRole(ctx, "alice", role); err != nil {
			t.Fatal(err)
		}
		if _, u, err := d.Identify(ctx, []byte("t"), now); err != nil || u.Role != role {
			t.Fatalf("alice after SetRole(%s): got %+v %v", role, u, err)
		}
		if u, err := d.User(ctx, "alice"); err != nil || u.PasswordHash != "x" {
			t.Fatalf("alice's password hash after SetRole(%s): got %q %v, want x", role, u.PasswordHash, err)
		}
	}

	// Removing a user removes their credentials and memberships.
	if err := d.SetRoomAccess(ctx, store.RoomAccess{Room: "a", Private: true, Members: []string{"alice", "root", "alice"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.AddCredential(ctx, []byte("s"), store.Credential{ID: "s", Kind: store.KindSession, User: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Identify(ctx, []byte("s"), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removed user's session: got %v, want store.ErrNotFound", err)
	}
	ra, err := d.RoomAccess(ctx, "a")
	if err != nil || !slices.Equal(ra.Members, []string{"root"}) {
		t.Fatalf("members after removal: got %v %v, want [root]", ra.Members, err)
	}
	// A new alice does not inherit anything.
	add("alice", store.RoleMember)
	if creds, _ := d.Credentials(ctx, "alice"); len(creds) != 0 {
		t.Fatalf("new alice has credentials: %+v", creds)
	}
}

func TestInviteRedemption(t *testing.T) {
	ctx := context.Background()
	d := mustOpenDB(t, "")
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	if err := d.AddUser(ctx, store.User{Name: "root", Role: store.RoleAdmin, Created: now, PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	inv := store.Invite{ID: "i1", Room: "acme", CreatedBy: "root", Created: now, Expires: now.Add(time.Hour), MaxUses: 2}
	if err := d.AddInvite(ctx, []byte("code"), inv); err != nil {
		t.Fatal(err)
	}
	redeem := func(sess string, at time.Time) error {
		_, _, err := d.RedeemInvite(ctx, []byte("code"), at, []byte(sess), store.Credential{ID: sess, Kind: store.KindSession, User: "Bob", Created: at})
		return err
	}
	if err := redeem("g1", now); err != nil {
		t.Fatal(err)
	}
	if err := redeem("late", now.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired invite: got %v, want store.ErrNotFound", err)
	}
	if err := redeem("g2", now); err != nil {
		t.Fatal(err)
	}
	if err := redeem("g3", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("used-up invite: got %v, want store.ErrNotFound", err)
	}
	c, u, err := d.Identify(ctx, []byte("g1"), now)
	if err != nil || !c.Guest || c.Room != "acme" || c.Invite != "i1" || u.Role != store.RoleGuest {
		t.Fatalf("guest session: got %+v %+v %v", c, u, err)
	}
	invs, _ := d.Invites(ctx, "acme")
	if len(invs) != 1 || invs[0].Uses != 2 {
		t.Fatalf("invites: got %+v, want one used twice", invs)
	}
	// Revoking the invite ends its guests' sessions.
	if err := d.RevokeInvite(ctx, "acme", "i1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Identify(ctx, []byte("g2"), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session of a revoked invite: got %v, want store.ErrNotFound", err)
	}
}

// TestRedeemChecksTheCreator: an invite admits nobody to a room its
// creator may not use, even if it was stored before the creator lost it.
func TestRedeemChecksTheCreator(t *testing.T) {
	ctx := context.Background()
	d := mustOpenDB(t, "")
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for _, u := range []store.User{{Name: "root", Role: store.RoleAdmin}, {Name: "maria", Role: store.RoleMember}} {
		u.PasswordHash = "x"
		if err := d.AddUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.SetRoomAccess(ctx, store.RoomAccess{Room: "acme", Private: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		creator string
		want    error
	}{
		{"maria", store.ErrNotFound}, // a member, not of acme
		{"ghost", store.ErrNotFound}, // no such user
		{"root", nil},
	} {
		inv := store.Invite{ID: tc.creator, Room: "acme", CreatedBy: tc.creator, Created: now}
		if err := d.AddInvite(ctx, []byte("code-"+tc.creator), inv); err != nil {
			t.Fatal(err)
		}
		_, _, err := d.RedeemInvite(ctx, []byte("code-"+tc.creator), now, []byte("s-"+tc.creator), store.Credential{ID: tc.creator, Kind: store.KindSession, User: "Bob"})
		if !errors.Is(err, tc.want) {
			t.Errorf("invite of %s: got %v, want %v", tc.creator, err, tc.want)
		}
	}
}

// TestGuestNamesAreNeverReused: each guest of a room gets an author name
// no guest of that room had before, even after sessions end.
func TestGuestNamesAreNeverReused(t *testing.T) {
	ctx := context.Background()
	d := mustOpenDB(t, "")
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	if err := d.AddUser(ctx, store.User{Name: "root", Role: store.RoleAdmin, PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, room := range []string{"acme", "other"} {
		if err := d.AddInvite(ctx, []byte(room), store.Invite{ID: room, Room: room, CreatedBy: "root", Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	// A session from before names were counted.
	if err := d.AddCredential(ctx, []byte("old"), store.Credential{ID: "old", Kind: store.KindSession, User: "Carl (guest 3)", Guest: true, Room: "acme", Invite: "acme"}); err != nil {
		t.Fatal(err)
	}
	n := 0
	redeem := func(room, name string) string {
		t.Helper()
		n++
		_, sess, err := d.RedeemInvite(ctx, []byte(room), now, fmt.Appendf(nil, "s%d", n), store.Credential{ID: fmt.Sprint(n), Kind: store.KindSession, User: name})
		if err != nil {
			t.Fatalf("redeem %s as %q: %v", room, name, err)
		}
		return sess.User
	}
	for _, tc := range []struct{ room, name, want string }{
		{"acme", "Bob", "Bob (guest)"},
		{"acme", " Bob ", "Bob (guest 2)"},
		{"acme", "bob", "bob (guest 3)"},
		{"other", "Bob", "Bob (guest)"},
		{"acme", "Carl", "Carl (guest 4)"},
		{"acme", "Bobby", "Bobby (guest)"},
	} {
		if got := redeem(tc.room, tc.name); got != tc.want {
			t.Errorf("%s joins %s: got %q, want %q", tc.name, tc.room, got, tc.want)
		}
	}
	// Ending every session of acme frees no name.
	if _, err := d.RevokeCredentials(ctx, func(c store.Credential) bool { return c.Guest }); err != nil {
		t.Fatal(err)
	}
	if got := redeem("acme", "Bob"); got != "Bob (guest 4)" {
		t.Errorf("after every session ended: got %q, want Bob (guest 4)", got)
	}
	if _, _, err := d.RedeemInvite(ctx, []byte("acme"), now, []byte("x"), store.Credential{ID: "x", Kind: store.KindSession, User: "Bob (guest 2)"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a chosen name that looks numbered: got %v, want store.ErrInvalid", err)
	}
}

// TestSetRoomMemberConcurrently: members added at once are all kept.
func TestSetRoomMemberConcurrently(t *testing.T) {
	ctx := context.Background()
	d := mustOpenDB(t, "")
	var names []string
	for i := range 16 {
		name := fmt.Sprintf("u%02d", i)
		if err := d.AddUser(ctx, store.User{Name: name, Role: store.RoleMember, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() {
			if _, err := d.SetRoomMember(ctx, "acme", name, true); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ra, err := d.SetRoomMember(ctx, "acme", "u00", false)
	if err != nil || !slices.Equal(ra.Members, names[1:]) {
		t.Fatalf("members: got %v %v, want %v", ra.Members, err, names[1:])
	}
	if _, err := d.SetRoomMember(ctx, "acme", "nobody", true); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("adding a non-user: got %v, want store.ErrInvalid", err)
	}
}
