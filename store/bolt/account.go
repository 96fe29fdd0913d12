package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// userRecord is a User as stored.
type userRecord struct {
	store.User
	Hash string `json:"hash"`
}

var (
	bucketAccounts = []byte("accounts")
	bucketUsers    = []byte("users")
	bucketCreds    = []byte("credentials")
	bucketInvites  = []byte("invites")
	bucketAccess   = []byte("access")
	// bucketGuestNames holds, under room NUL GuestNameKey(name), the last
	// number issued to a guest of that name in the room: never reused.
	bucketGuestNames = []byte("guestnames")
)

// accounts returns a sub-bucket of accounts, creating both in a writable
// transaction; nil in a read-only one before anything was stored.
func accounts(tx *bbolt.Tx, name []byte) (*bbolt.Bucket, error) {
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
func getJSON(b *bbolt.Bucket, key []byte, v any) (bool, error) {
	if b == nil {
		return false, nil
	}
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("%w: account record %q: %v", store.ErrCorrupt, key, err)
	}
	return true, nil
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// forEach decodes every value of b into a fresh T.
func forEach[T any](b *bbolt.Bucket, fn func(k []byte, v T) error) error {
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, raw []byte) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("%w: account record %q: %v", store.ErrCorrupt, k, err)
		}
		return fn(k, v)
	})
}

// Users implements Accounts, sorted by name.
func (d *DB) Users(ctx context.Context) ([]store.User, error) {
	users := []store.User{}
	err := d.view(func(tx *bbolt.Tx) error {
		b, _ := accounts(tx, bucketUsers)
		return forEach(b, func(_ []byte, r userRecord) error {
			users = append(users, r.User)
			return nil
		})
	})
	return users, err
}

// User implements Accounts.
func (d *DB) User(ctx context.Context, name string) (store.User, error) {
	var u store.User
	err := d.view(func(tx *bbolt.Tx) error {
		var err error
		u, err = getUser(tx, name)
		return err
	})
	return u, err
}

func getUser(tx *bbolt.Tx, name string) (store.User, error) {
	b, err := accounts(tx, bucketUsers)
	if err != nil {
		return store.User{}, err
	}
	var r userRecord
	ok, err := getJSON(b, []byte(name), &r)
	if err == nil && !ok {
		err = store.ErrNotFound
	}
	r.User.PasswordHash = r.Hash
	return r.User, err
}

// AddUser implements Accounts.
func (d *DB) AddUser(ctx context.Context, u store.User) error {
	if err := store.ValidateUserName(u.Name); err != nil {
		return err
	}
	if u.Role != store.RoleAdmin && u.Role != store.RoleMember {
		return store.Invalid("role", "must be admin or member")
	}
	if u.PasswordHash == "" {
		return store.Invalid("password", "is required")
	}
	return d.updateCtx(ctx, func(tx *bbolt.Tx) error {
		b, err := accounts(tx, bucketUsers)
		if err != nil {
			return err
		}
		if b.Get([]byte(u.Name)) != nil {
			return store.Conflict(fmt.Sprintf("user %s exists", u.Name))
		}
		return putJSON(b, []byte(u.Name), userRecord{User: u, Hash: u.PasswordHash})
	})
}

// SetPassword implements Accounts.
func (d *DB) SetPassword(ctx context.Context, name, hash string) error {
	return d.updateCtx(ctx, func(tx *bbolt.Tx) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		b, _ := accounts(tx, bucketUsers)
		if err := putJSON(b, []byte(name), userRecord{User: u, Hash: hash}); err != nil {
			return err
		}
		_, err = revoke(tx, func(c store.Credential) bool { return c.Kind == store.KindSession && !c.Guest && c.User == name })
		return err
	})
}

// SetRole implements Accounts.
func (d *DB) SetRole(ctx context.Context, name string, role store.Role) error {
	if role != store.RoleAdmin && role != store.RoleMember {
		return store.Invalid("role", "must be admin or member")
	}
	return d.updateCtx(ctx, func(tx *bbolt.Tx) error {
		u, err := getUser(tx, name)
		if err != nil || u.Role == role {
			return err
		}
		users, _ := accounts(tx, bucketUsers)
		if err := keepAnAdmin(users, u); err != nil {
			return err
		}
		u.Role = role
		if err := putJSON(users, []byte(name), userRecord{User: u, Hash: u.PasswordHash}); err != nil {
			return err
		}
		return revokeOrphanInvites(tx)
	})
}

// keepAnAdmin refuses to take away u, or u's admin role, if u is the last
// admin in users.
func keepAnAdmin(users *bbolt.Bucket, u store.User) error {
	if u.Role != store.RoleAdmin {
		return nil
	}
	admins := 0
	if err := forEach(users, func(_ []byte, r userRecord) error {
		if r.Role == store.RoleAdmin {
			admins++
		}
		return nil
	}); err != nil {
		return err
	}
	if admins == 1 {
		return store.Conflict(fmt.Sprintf("%s is the last admin", u.Name))
	}
	return nil
}

// RemoveUser implements Accounts.
func (d *DB) RemoveUser(ctx context.Context, name string) error {
	return d.updateCtx(ctx, func(tx *bbolt.Tx) error {
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
		if _, err := revoke(tx, func(c store.Credential) bool { return !c.Guest && c.User == name }); err != nil {
			return err
		}
		access, err := accounts(tx, bucketAccess)
		if err != nil {
			return err
		}
		if err := forEach(access, func(k []byte, ra store.RoomAccess) error {
			if i := slices.Index(ra.Members, name); i >= 0 {
				ra.Members = slices.Delete(ra.Members, i, i+1)
				return putJSON(access, k, ra)
			}
			return nil
		}); err != nil {
			return err
		}
		return revokeOrphanInvites(tx)
	})
}

// AddCredential implements Accounts.
func (d *DB) AddCredential(ctx context.Context, hash []byte, c store.Credential) error {
	return d.updateCtx(ctx, func(tx *bbolt.Tx) error {
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
func (d *DB) Identify(ctx context.Context, hash []byte, now time.Time) (store.Credential, store.User, error) {
	var c store.Credential
	var u store.User
	err := d.view(func(tx *bbolt.Tx) error {
		b, _ := accounts(tx, bucketCreds)
		ok, err := getJSON(b, hash, &c)
		if err != nil {
			return err
		}
		if !ok || c.Expired(now) {
			return store.ErrNotFound
		}
		if c.Guest {
			u = store.User{Name: c.User, Role: store.RoleGuest, Created: c.Created}
			return nil
		}
		u, err = getUser(tx, c.User)
		return err
	})
	u.PasswordHash = ""
	return c, u, err
}

// Credentials implements Accounts, oldest first.
func (d *DB) Credentials(ctx context.Context, user string) ([]store.Credential, error) {
	creds := []store.Credential{}
	err := d.view(func(tx *bbolt.Tx) error {
		b, _ := accounts(tx, bucketCreds)
		return forEach(b, func(_ []byte, c store.Credential) error {
			if user == "" || (!c.Guest && c.User == user) {
				creds = append(creds, c)
			}
			return nil
		})
	})
	slices.SortFunc(creds, func(a, b store.Credential) int { return a.Created.Compare(b.Created) })
	return creds, err
}

// RevokeCredentials implements Accounts.
func (d *DB) RevokeCredentials(ctx context.Context, match func(store.Credential) bool) (int, error) {
	var n int
	err := d.updateCtx(ctx, func(tx *bbolt.Tx) error {
		var err error
		n, err = revoke(tx, match)
		return err
	})
	return n, err
}

// revoke deletes the credentials match selects.
func revoke(tx *bbolt.Tx, match func(store.Credential) bool) (int, error) {
	b, err := accounts(tx, bucketCreds)
	if err != nil {
		return 0, err
	}
	var doomed [][]byte
	if err := forEach(b, func(k []byte, c store.Credential) error {
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
func (d *DB) AddInvite(ctx context.Context, hash []byte, inv store.Invite) error {
	if err := store.ValidateRoom(inv.Room); err != nil {
		return err
	}
	return d.updateCtx(ctx, func(tx *bbolt.Tx) error {
		b, err := accounts(tx, bucketInvites)
		if err != nil {
			return err
		}
		return putJSON(b, hash, inv)
	})
}

// Invites implements Accounts: the room's invites, oldest first, used up
// and expired ones included.
func (d *DB) Invites(ctx context.Context, room string) ([]store.Invite, error) {
	invs := []store.Invite{}
	err := d.view(func(tx *bbolt.Tx) error {
		b, _ := accounts(tx, bucketInvites)
		return forEach(b, func(_ []byte, inv store.Invite) error {
			if inv.Room == room {
				invs = append(invs, inv)
			}
			return nil
		})
	})
	slices.SortFunc(invs, func(a, b store.Invite) int { return a.Created.Compare(b.Created) })
	return invs, err
}

// RevokeInvite implements Accounts.
func (d *DB) RevokeInvite(ctx context.Context, room, id string) error {
	return d.updateCtx(ctx, func(tx *bbolt.Tx) error {
		b, err := accounts(tx, bucketInvites)
		if err != nil {
			return err
		}
		var key []byte
		if err := forEach(b, func(k []byte, inv store.Invite) error {
			if inv.Room == room && inv.ID == id {
				key = bytes.Clone(k)
			}
			return nil
		}); err != nil {
			return err
		}
		if key == nil {
			return store.ErrNotFound
		}
		if err := b.Delete(key); err != nil {
			return err
		}
		_, err = revoke(tx, func(c store.Credential) bool { return c.Guest && c.Room == room && c.Invite == id })
		return err
	})
}

// RedeemInvite implements Accounts.
func (d *DB) RedeemInvite(ctx context.Context, codeHash []byte, now time.Time, sessHash []byte, sess store.Credential) (store.Invite, store.Credential, error) {
	var inv store.Invite
	name, err := store.CleanGuestName(sess.User)
	if err != nil {
		return inv, sess, err
	}
	err = d.updateCtx(ctx, func(tx *bbolt.Tx) error {
		b, err := accounts(tx, bucketInvites)
		if err != nil {
			return err
		}
		ok, err := getJSON(b, codeHash, &inv)
		if err != nil {
			return err
		}
		if !ok || !inv.Usable(now) {
			return store.ErrNotFound
		}
		// Checked here, not only when access changes: no invite admits
		// anyone to a room its creator may not use.
		if ok, err := admitted(tx, inv.CreatedBy, inv.Room); err != nil {
			return err
		} else if !ok {
			return store.ErrNotFound
		}
		inv.Uses++
		if err := putJSON(b, codeHash, inv); err != nil {
			return err
		}
		n, err := nextGuestNumber(tx, inv.Room, name)
		if err != nil {
			return err
		}
		creds, err := accounts(tx, bucketCreds)
		if err != nil {
			return err
		}
		sess.User = store.GuestAuthor(name, n)
		sess.Guest, sess.Room, sess.Invite = true, inv.Room, inv.ID
		return putJSON(creds, sessHash, sess)
	})
	return inv, sess, err
}

// nextGuestNumber issues the number of the next guest of room who chose
// name: one more than any issued before, expired and revoked sessions
// included.
func nextGuestNumber(tx *bbolt.Tx, room, name string) (int, error) {
	b, err := accounts(tx, bucketGuestNames)
	if err != nil {
		return 0, err
	}
	key := []byte(room + "\x00" + store.GuestNameKey(name))
	var last int
	ok, err := getJSON(b, key, &last)
	if err == nil && !ok {
		last, err = lastGuestNumber(tx, room, store.GuestNameKey(name))
	}
	if err != nil {
		return 0, err
	}
	last++
	return last, putJSON(b, key, last)
}

// lastGuestNumber finds the highest number of the sessions of room's guests
// named like key, for names issued before guestnames kept count.
func lastGuestNumber(tx *bbolt.Tx, room, key string) (int, error) {
	creds, err := accounts(tx, bucketCreds)
	if err != nil {
		return 0, err
	}
	last := 0
	err = forEach(creds, func(_ []byte, c store.Credential) error {
		if name, n, ok := store.ParseGuestAuthor(c.User); c.Guest && c.Room == room && ok && store.GuestNameKey(name) == key {
			last = max(last, n)
		}
		return nil
	})
	return last, err
}

// admitted reports whether user, if they still exist, may use room.
func admitted(tx *bbolt.Tx, user, room string) (bool, error) {
	u, err := getUser(tx, user)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ra, err := getAccess(tx, room)
	return ra.Admits(u), err
}

// revokeOrphanInvites deletes the invites whose creator may no longer use
// their room, and the guest sessions they gave: an invite never grants
// more than its creator may still reach. Every change that can take access
// away calls it in its transaction.
func revokeOrphanInvites(tx *bbolt.Tx) error {
	b, err := accounts(tx, bucketInvites)
	if err != nil {
		return err
	}
	type invite struct {
		key []byte
		inv store.Invite
	}
	var all []invite
	if err := forEach(b, func(k []byte, inv store.Invite) error {
		all = append(all, invite{bytes.Clone(k), inv})
		return nil
	}); err != nil {
		return err
	}
	type ref struct{ room, id string }
	doomed := map[ref]bool{}
	for _, i := range all {
		ok, err := admitted(tx, i.inv.CreatedBy, i.inv.Room)
		if err != nil {
			return err
		}
		if !ok {
			doomed[ref{i.inv.Room, i.inv.ID}] = true
			if err := b.Delete(i.key); err != nil {
				return err
			}
		}
	}
	if len(doomed) == 0 {
		return nil
	}
	_, err = revoke(tx, func(c store.Credential) bool { return c.Guest && doomed[ref{c.Room, c.Invite}] })
	return err
}

// RoomAccess implements Accounts.
func (d *DB) RoomAccess(ctx context.Context, room string) (store.RoomAccess, error) {
	var ra store.RoomAccess
	err := d.view(func(tx *bbolt.Tx) error {
		var err error
		ra, err = getAccess(tx, room)
		return err
	})
	return ra, err
}

// getAccess returns room's access: public and without members unless set.
func getAccess(tx *bbolt.Tx, room string) (store.RoomAccess, error) {
	ra := store.RoomAccess{Room: room, Members: []string{}}
	b, err := accounts(tx, bucketAccess)
	if err != nil {
		return ra, err
	}
	_, err = getJSON(b, []byte(room), &ra)
	return ra, err
}

// SetRoomAccess implements Accounts.
func (d *DB) SetRoomAccess(ctx context.Context, ra store.RoomAccess) error {
	if err := store.ValidateRoom(ra.Room); err != nil {
		return err
	}
	return d.updateCtx(ctx, func(tx *bbolt.Tx) error { return putAccess(tx, ra) })
}

// SetRoomMember implements Accounts.
func (d *DB) SetRoomMember(ctx context.Context, room, user string, member bool) (store.RoomAccess, error) {
	if err := store.ValidateRoom(room); err != nil {
		return store.RoomAccess{}, err
	}
	var ra store.RoomAccess
	err := d.updateCtx(ctx, func(tx *bbolt.Tx) error {
		var err error
		if ra, err = getAccess(tx, room); err != nil {
			return err
		}
		ra.Members = slices.DeleteFunc(ra.Members, func(m string) bool { return m == user })
		if member {
			ra.Members = append(ra.Members, user)
		}
		return putAccess(tx, ra)
	})
	if err == nil {
		ra.Members = sortedMembers(ra.Members)
	}
	return ra, err
}

// putAccess stores ra, its members sorted and each a user, and revokes the
// invites whose creator it shuts out.
func putAccess(tx *bbolt.Tx, ra store.RoomAccess) error {
	ra.Members = sortedMembers(ra.Members)
	for _, m := range ra.Members {
		if _, err := getUser(tx, m); err == store.ErrNotFound {
			return store.Invalid("members", fmt.Sprintf("no such user: %s", m))
		} else if err != nil {
			return err
		}
	}
	b, err := accounts(tx, bucketAccess)
	if err != nil {
		return err
	}
	if err := putJSON(b, []byte(ra.Room), ra); err != nil {
		return err
	}
	return revokeOrphanInvites(tx)
}

// sortedMembers sorts members and drops repeats; never nil, so the JSON is
// a list.
func sortedMembers(members []string) []string {
	members = slices.Compact(slices.Sorted(slices.Values(members)))
	if members == nil {
		members = []string{}
	}
	return members
}
