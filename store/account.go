package store

import (
	"context"
	"regexp"
	"slices"
	"time"
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
	// Their credentials carry the new role from their next use. Like every
	// change that can take access away, it revokes the invites whose
	// creator may no longer use their room (see RoomAccess.Admits), with
	// the guest sessions they gave, in the same transaction.
	SetRole(ctx context.Context, name string, role Role) error
	// RemoveUser removes a user, their credentials and room memberships,
	// and the invites they created with those invites' guest sessions.
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
	// one transaction. sess.User is the guest's chosen name (see
	// CleanGuestName); the session is stored, and returned, under the
	// guest's author name: GuestAuthor of that name and a number never
	// issued before in the room, so no two guests of a room share an
	// author name. An unknown, expired or used-up invite is ErrNotFound,
	// and so is one whose creator may no longer use its room.
	RedeemInvite(ctx context.Context, codeHash []byte, now time.Time, sessHash []byte, sess Credential) (Invite, Credential, error)

	// RoomAccess returns who may use a room; rooms are public unless set.
	RoomAccess(ctx context.Context, room string) (RoomAccess, error)
	// SetRoomAccess replaces who may use a room. Members must be users
	// (else ErrInvalid). Invites whose creator loses the room are revoked,
	// as with SetRole.
	SetRoomAccess(ctx context.Context, ra RoomAccess) error
	// SetRoomMember adds user to, or with member false removes them from, a
	// room's members in one transaction, so concurrent changes of different
	// members all apply, and returns the room's access after it. Adding
	// someone who is not a user is ErrInvalid; removing a non-member
	// changes nothing. Invites whose creator loses the room are revoked, as
	// with SetRole.
	SetRoomMember(ctx context.Context, room, user string, member bool) (RoomAccess, error)
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

// Usable reports whether inv can be redeemed at now.
func (inv Invite) Usable(now time.Time) bool {
	return (inv.Expires.IsZero() || now.Before(inv.Expires)) && (inv.MaxUses == 0 || inv.Uses < inv.MaxUses)
}

// RoomAccess says who may use a room.
type RoomAccess struct {
	Room    string `json:"room"`
	Private bool   `json:"private"`
	// Members may use a private room; admins always may.
	Members []string `json:"members"`
}

// Admits reports whether u may read and write the room: an admin always, a
// member when the room is public or lists them. Guests are not admitted
// through RoomAccess: their credential names their one room. An invite
// works only while its creator is admitted to its room.
func (ra RoomAccess) Admits(u User) bool {
	switch u.Role {
	case RoleAdmin:
		return true
	case RoleMember:
		return !ra.Private || slices.Contains(ra.Members, u.Name)
	}
	return false
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
