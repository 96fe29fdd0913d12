package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Accounts keeps who may use a server: users, their credentials (access
// tokens and sessions), guest invites and who may read each room. It lives
// in the same file as the log, so a backup holds both. Secrets are never
// stored: callers hand over a hash of each token, session or invite code
// and look records up by it.
//
// Every method is safe for concurrent use. Missing records are ErrNotFound;
// a name already taken, or removing the last admin, is ErrConflict.
type Accounts interface {
	Users(ctx context.Context) ([]User, error)
	User(ctx context.Context, name string) (User, error)
	AddUser(ctx context.Context, u User) error
	// SetPassword replaces a user's password hash and ends their sessions.
	SetPassword(ctx context.Context, name, hash string) error
	// SetRole makes a user an admin or a member; the last admin stays one.
	// Their credentials carry the new role from their next use.
	SetRole(ctx context.Context, name string, role Role) error
	// RemoveUser removes a user, their credentials and room memberships.
	RemoveUser(ctx context.Context, name string) error

	// AddCredential stores c under the hash of its secret. A member's or
	// admin's credential needs the user to exist.
	AddCredential(ctx context.Context, hash []byte, c Credential) error
	// Identify returns the credential stored under hash and, unless it is a
	// guest's, its user. Expired credentials are ErrNotFound.
	Identify(ctx context.Context, hash []byte, now time.Time) (Credential, User, error)
	// Credentials lists the credentials of user, or of everyone for "".
	Credentials(ctx context.Context, user string) ([]Credential, error)
	// RevokeCredentials deletes the credentials match selects and says how
	// many.
	RevokeCredentials(ctx context.Context, match func(Credential) bool) (int, error)

	AddInvite(ctx context.Context, hash []byte, inv Invite) error
	Invites(ctx context.Context, room string) ([]Invite, error)
	// RevokeInvite deletes an invite and ends the guest sessions it gave.
	RevokeInvite(ctx context.Context, room, id string) error
	// RedeemInvite uses the invite stored under codeHash once and stores
	// sess, a guest session for the invite's room, under sessHash, both in
	// one transaction. An unknown, expired or used-up invite is ErrNotFound.
	RedeemInvite(ctx context.Context, codeHash []byte, now time.Time, sessHash []byte, sess Credential) (Invite, error)

	// RoomAccess returns who may use a room; rooms are public unless set.
	RoomAccess(ctx context.Context, room string) (RoomAccess, error)
	SetRoomAccess(ctx context.Context, ra RoomAccess) error
}

// Role is what a user may do.
type Role string

// Roles: an admin may do anything; a member reads and writes public rooms
// and the private rooms they belong to; a guest one room only.
const (
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
	RoleGuest  Role = "guest"
)

// User is an account that signs in with a password.
type User struct {
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Created time.Time `json:"created"`
	// PasswordHash is the encoded hash of the password. It is stored, never
	// marshalled: User's JSON is what the API shows.
	PasswordHash string `json:"-"`
}

// userRecord is a User as stored.
type userRecord struct {
	User
	Hash string `json:"hash"`
}

// Credential kinds.
const (
	KindToken   = "token"   // an access token for scripts: Authorization: Bearer
	KindSession = "session" // a browser's session cookie
)

// Credential is a token or a session, stored under the hash of its secret.
type Credential struct {
	// ID names the credential in lists and revocations; it is not secret.
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// User is the user's name, or a guest's display name.
	User string `json:"user"`
	// Guest is set for a guest session: Room is the one room it may use and
	// Invite the id of the invite that gave it.
	Guest   bool      `json:"guest,omitempty"`
	Room    string    `json:"room,omitempty"`
	Invite  string    `json:"invite,omitempty"`
	Label   string    `json:"label,omitempty"`
	Created time.Time `json:"created"`
	// Expires is when it stops working; zero never.
	Expires time.Time `json:"expires,omitzero"`
}

// Expired reports whether c no longer works at now.
func (c Credential) Expired(now time.Time) bool {
	return !c.Expires.IsZero() && !now.Before(c.Expires)
}

// Invite lets whoever has its code join one room as a guest.
type Invite struct {
	ID        string    `json:"id"`
	Room      string    `json:"room"`
	CreatedBy string    `json:"created_by"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"`   // zero: never
	MaxUses   int       `json:"max_uses,omitempty"` // 0: unlimited
	Uses      int       `json:"uses"`
}

// usable reports whether inv can be redeemed at now.
func (inv Invite) usable(now time.Time) bool {
	return (inv.Expires.IsZero() || now.Before(inv.Expires)) && (inv.MaxUses == 0 || inv.Uses < inv.MaxUses)
}

// RoomAccess says who may use a room.
type RoomAccess struct {
	Room    string `json:"room"`
	Private bool   `json:"private"`
	// Members may use a private room; admins always may.
	Members []string `json:"members"`
}

var userNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,31}$`)

// ValidateUserName fails with ErrInvalid unless name is a user name:
// lower-case letters, digits, '_', '.', '-', at most 32, starting with a
// letter or digit. Guests' display names can never look like one.
func ValidateUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return invalid("name", "must be 1 to 32 of a-z, 0-9, '_', '.', '-', starting with a letter or digit")
	}
	return nil
}

var (
	bucketAccounts = []byte("accounts")
	bucketUsers    = []byte("users")
	bucketCreds    = []byte("credentials")
	bucketInvites  = []byte("invites")
	bucketAccess   = []byte("access")
)

// accounts returns a sub-bucket of accounts, creating both in a writable
// transaction; nil in a read-only one before anything was stored.
func accounts(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	if !tx.Writable() {
		if a := tx.Bucket(bucketAccounts); a != nil {
			return a.Bucket(name), nil
		}
		return nil, nil
	}
	a, err := tx.CreateBucketIfNotExists(bucketAccounts)
	if err != nil {
		return nil, err
	}
	return a.CreateBucketIfNotExists(name)
}

// getJSON decodes the value at key of b (nil: none) into v.
func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	if b == nil {
		return false, nil
	}
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("%w: account record %q: %v", ErrCorrupt, key, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// forEach decodes every value of b into a fresh T.
func forEach[T any](b *bolt.Bucket, fn func(k []byte, v T) error) error {
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, raw []byte) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("%w: account record %q: %v", ErrCorrupt, k, err)
		}
		return fn(k, v)
	})
}

// Users implements Accounts, sorted by name.
func (d *DB) Users(ctx context.Context) ([]User, error) {
	users := []User{}
	err := d.view(func(tx *bolt.Tx) error {
		b, _ := accounts(tx, bucketUsers)
		return forEach(b, func(_ []byte, r userRecord) error {
			users = append(users, r.User)
			return nil
		})
	})
	return users, err
}

// User implements Accounts.
func (d *DB) User(ctx context.Context, name string) (User, error) {
	var u User
	err := d.view(func(tx *bolt.Tx) error {
		var err error
		u, err = getUser(tx, name)
		return err
	})
	return u, err
}

func getUser(tx *bolt.Tx, name string) (User, error) {
	b, err := accounts(tx, bucketUsers)
	if err != nil {
		return User{}, err
	}
	var r userRecord
	ok, err := getJSON(b, []byte(name), &r)
	if err == nil && !ok {
		err = ErrNotFound
	}
	r.User.PasswordHash = r.Hash
	return r.User, err
}

// AddUser implements Accounts.
func (d *DB) AddUser(ctx context.Context, u User) error {
	if err := ValidateUserName(u.Name); err != nil {
		return err
	}
	if u.Role != RoleAdmin && u.Role != RoleMember {
		return invalid("role", "must be admin or member")
	}
	if u.PasswordHash == "" {
		return invalid("password", "is required")
	}
	return d.update(func(tx *bolt.Tx) error {
		b, err := accounts(tx, bucketUsers)
		if err != nil {
			return err
		}
		if b.Get([]byte(u.Name)) != nil {
			return fmt.Errorf("%w: user %s exists", ErrConflict, u.Name)
		}
		return putJSON(b, []byte(u.Name), userRecord{User: u, Hash: u.PasswordHash})
	})
}

// SetPassword implements Accounts.
func (d *DB) SetPassword(ctx context.Context, name, hash string) error {
	return d.update(func(tx *bolt.Tx) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		b, _ := accounts(tx, bucketUsers)
		if err := putJSON(b, []byte(name), userRecord{User: u, Hash: hash}); err != nil {
			return err
		}
		_, err = revoke(tx, func(c Credential) bool { return c.Kind == KindSession && !c.Guest && c.User == name })
		return err
	})
}

// SetRole implements Accounts.
func (d *DB) SetRole(ctx context.Context, name string, role Role) error {
	if role != RoleAdmin && role != RoleMember {
		return invalid("role", "must be admin or member")
	}
	return d.update(func(tx *bolt.Tx) error {
		u, err := getUser(tx, name)
		if err != nil || u.Role == role {
			return err
		}
		users, _ := accounts(tx, bucketUsers)
		if err := keepAnAdmin(users, u); err != nil {
			return err
		}
		u.Role = role
		return putJSON(users, []byte(name), userRecord{User: u, Hash: u.PasswordHash})
	})
}

// keepAnAdmin refuses to take away u, or u's admin role, if u is the last
// admin in users.
func keepAnAdmin(users *bolt.Bucket, u User) error {
	if u.Role != RoleAdmin {
		return nil
	}
	admins := 0
	if err := forEach(users, func(_ []byte, r userRecord) error {
		if r.Role == RoleAdmin {
			admins++
		}
		return nil
	}); err != nil {
		return err
	}
	if admins == 1 {
		return fmt.Errorf("%w: %s is the last admin", ErrConflict, u.Name)
	}
	return nil
}

// RemoveUser implements Accounts.
func (d *DB) RemoveUser(ctx context.Context, name string) error {
	return d.update(func(tx *bolt.Tx) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		users, _ := accounts(tx, bucketUsers)
		if err := keepAnAdmin(users, u); err != nil {
			return err
		}
		if err := users.Delete([]byte(name)); err != nil {
			return err
		}
		if _, err := revoke(tx, func(c Credential) bool { return !c.Guest && c.User == name }); err != nil {
			return err
		}
		access, err := accounts(tx, bucketAccess)
		if err != nil {
			return err
		}
		return forEach(access, func(k []byte, ra RoomAccess) error {
			if i := slices.Index(ra.Members, name); i >= 0 {
				ra.Members = slices.Delete(ra.Members, i, i+1)
				return putJSON(access, k, ra)
			}
			return nil
		})
	})
}

// AddCredential implements Accounts.
func (d *DB) AddCredential(ctx context.Context, hash []byte, c Credential) error {
	return d.update(func(tx *bolt.Tx) error {
		if !c.Guest {
			if _, err := getUser(tx, c.User); err != nil {
				return err
			}
		}
		b, err := accounts(tx, bucketCreds)
		if err != nil {
			return err
		}
		return putJSON(b, hash, c)
	})
}

// Identify implements Accounts.
func (d *DB) Identify(ctx context.Context, hash []byte, now time.Time) (Credential, User, error) {
	var c Credential
	var u User
	err := d.view(func(tx *bolt.Tx) error {
		b, _ := accounts(tx, bucketCreds)
		ok, err := getJSON(b, hash, &c)
		if err != nil {
			return err
		}
		if !ok || c.Expired(now) {
			return ErrNotFound
		}
		if c.Guest {
			u = User{Name: c.User, Role: RoleGuest, Created: c.Created}
			return nil
		}
		u, err = getUser(tx, c.User)
		return err
	})
	u.PasswordHash = ""
	return c, u, err
}

// Credentials implements Accounts, oldest first.
func (d *DB) Credentials(ctx context.Context, user string) ([]Credential, error) {
	creds := []Credential{}
	err := d.view(func(tx *bolt.Tx) error {
		b, _ := accounts(tx, bucketCreds)
		return forEach(b, func(_ []byte, c Credential) error {
			if user == "" || (!c.Guest && c.User == user) {
				creds = append(creds, c)
			}
			return nil
		})
	})
	slices.SortFunc(creds, func(a, b Credential) int { return a.Created.Compare(b.Created) })
	return creds, err
}

// RevokeCredentials implements Accounts.
func (d *DB) RevokeCredentials(ctx context.Context, match func(Credential) bool) (int, error) {
	var n int
	err := d.update(func(tx *bolt.Tx) error {
		var err error
		n, err = revoke(tx, match)
		return err
	})
	return n, err
}

// revoke deletes the credentials match selects.
func revoke(tx *bolt.Tx, match func(Credential) bool) (int, error) {
	b, err := accounts(tx, bucketCreds)
	if err != nil {
		return 0, err
	}
	var doomed [][]byte
	if err := forEach(b, func(k []byte, c Credential) error {
		if match(c) {
			doomed = append(doomed, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return 0, err
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(doomed), nil
}

// AddInvite implements Accounts.
func (d *DB) AddInvite(ctx context.Context, hash []byte, inv Invite) error {
	if err := ValidateRoom(inv.Room); err != nil {
		return err
	}
	return d.update(func(tx *bolt.Tx) error {
		b, err := accounts(tx, bucketInvites)
		if err != nil {
			return err
		}
		return putJSON(b, hash, inv)
	})
}

// Invites implements Accounts: the room's invites, oldest first, used up
// and expired ones included.
func (d *DB) Invites(ctx context.Context, room string) ([]Invite, error) {
	invs := []Invite{}
	err := d.view(func(tx *bolt.Tx) error {
		b, _ := accounts(tx, bucketInvites)
		return forEach(b, func(_ []byte, inv Invite) error {
			if inv.Room == room {
				invs = append(invs, inv)
			}
			return nil
		})
	})
	slices.SortFunc(invs, func(a, b Invite) int { return a.Created.Compare(b.Created) })
	return invs, err
}

// RevokeInvite implements Accounts.
func (d *DB) RevokeInvite(ctx context.Context, room, id string) error {
	return d.update(func(tx *bolt.Tx) error {
		b, err := accounts(tx, bucketInvites)
		if err != nil {
			return err
		}
		var key []byte
		if err := forEach(b, func(k []byte, inv Invite) error {
			if inv.Room == room && inv.ID == id {
				key = bytes.Clone(k)
			}
			return nil
		}); err != nil {
			return err
		}
		if key == nil {
			return ErrNotFound
		}
		if err := b.Delete(key); err != nil {
			return err
		}
		_, err = revoke(tx, func(c Credential) bool { return c.Guest && c.Room == room && c.Invite == id })
		return err
	})
}

// RedeemInvite implements Accounts.
func (d *DB) RedeemInvite(ctx context.Context, codeHash []byte, now time.Time, sessHash []byte, sess Credential) (Invite, error) {
	var inv Invite
	err := d.update(func(tx *bolt.Tx) error {
		b, err := accounts(tx, bucketInvites)
		if err != nil {
			return err
		}
		ok, err := getJSON(b, codeHash, &inv)
		if err != nil {
			return err
		}
		if !ok || !inv.usable(now) {
			return ErrNotFound
		}
		inv.Uses++
		if err := putJSON(b, codeHash, inv); err != nil {
			return err
		}
		creds, err := accounts(tx, bucketCreds)
		if err != nil {
			return err
		}
		sess.Guest, sess.Room, sess.Invite = true, inv.Room, inv.ID
		return putJSON(creds, sessHash, sess)
	})
	return inv, err
}

// RoomAccess implements Accounts.
func (d *DB) RoomAccess(ctx context.Context, room string) (RoomAccess, error) {
	ra := RoomAccess{Room: room, Members: []string{}}
	err := d.view(func(tx *bolt.Tx) error {
		b, _ := accounts(tx, bucketAccess)
		_, err := getJSON(b, []byte(room), &ra)
		return err
	})
	return ra, err
}

// SetRoomAccess implements Accounts. Members must be users.
func (d *DB) SetRoomAccess(ctx context.Context, ra RoomAccess) error {
	if err := ValidateRoom(ra.Room); err != nil {
		return err
	}
	ra.Members = slices.Compact(slices.Sorted(slices.Values(ra.Members)))
	if ra.Members == nil {
		ra.Members = []string{}
	}
	return d.update(func(tx *bolt.Tx) error {
		for _, m := range ra.Members {
			if _, err := getUser(tx, m); err == ErrNotFound {
				return invalid("members", fmt.Sprintf("no such user: %s", m))
			} else if err != nil {
				return err
			}
		}
		b, err := accounts(tx, bucketAccess)
		if err != nil {
			return err
		}
		return putJSON(b, []byte(ra.Room), ra)
	})
}
