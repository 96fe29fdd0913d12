package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/parleychat/parley/store"
)

// sessionCookie names the browser's session cookie.
const sessionCookie = "parley_session"

// identity is who a request acts for.
type identity struct {
	name string
	role store.Role
	room string // a guest's one room
	// cred is the credential the request came with, and hash its key; both
	// zero without access control.
	cred store.Credential
	hash []byte
	// open marks the identity of every request without access control.
	open bool
}

// open is the identity of every request without access control: it may do
// anything, and its messages carry the author the client gives.
var open = identity{role: store.RoleAdmin, open: true}

func (id identity) isOpen() bool { return id.open }

type identityKey struct{}

// identityOf returns the identity the request was authenticated as.
func identityOf(r *http.Request) identity {
	if id, ok := r.Context().Value(identityKey{}).(identity); ok {
		return id
	}
	return open
}

// newSecret returns a fresh random secret with a prefix saying what it is
// (pt_ tokens, ps_ sessions, pi_ invites), its hash (the key it is stored
// under) and the credential id derived from the hash.
func newSecret(prefix string) (secret string, hash []byte, id string) {
	b := make([]byte, 24)
	rand.Read(b)
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	hash = secretHash(secret)
	return secret, hash, hex.EncodeToString(hash[:6])
}

func secretHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// errSignIn is the answer to a request without credentials.
var errSignIn = errorf(http.StatusUnauthorized, "sign in required: send Authorization: Bearer TOKEN or sign in")

// authenticate finds the identity of a request: its bearer token, else its
// session cookie. Without access control everyone is open.
func (s *Server) authenticate(r *http.Request) (identity, error) {
	if s.Accounts == nil {
		return open, nil
	}
	var secret string
	what := "token"
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, v, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return identity{}, errorf(http.StatusUnauthorized, "unsupported Authorization scheme; use Bearer")
		}
		secret = strings.TrimSpace(v)
	} else if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		secret, what = c.Value, "session"
	} else {
		return identity{}, errSignIn
	}
	hash := secretHash(secret)
	cred, u, err := s.Accounts.Identify(r.Context(), hash, s.Now())
	if errors.Is(err, store.ErrNotFound) {
		return identity{}, errorf(http.StatusUnauthorized, "%s is invalid, expired or revoked: sign in again", what)
	}
	if err != nil {
		return identity{}, err
	}
	return identity{name: u.Name, role: u.Role, room: cred.Room, cred: cred, hash: hash}, nil
}

// canUse reports whether id may read and write room. A caller who may not
// learns nothing else: the answer is the same for rooms that do not exist.
func (s *Server) canUse(ctx context.Context, id identity, room string) (bool, error) {
	switch id.role {
	case store.RoleAdmin:
		return true, nil
	case store.RoleGuest:
		return id.room == room, nil
	case store.RoleMember:
		ra, err := s.Accounts.RoomAccess(ctx, room)
		if err != nil {
			return false, err
		}
		return ra.Admits(store.User{Name: id.name, Role: id.role}), nil
	}
	return false, nil
}

// errNoAccess is the answer for a room the caller may not use, whether or
// not it exists.
func errNoAccess(room string) error {
	return errorf(http.StatusForbidden, "no access to room %s", room)
}

// checkRooms fails with 403 unless id may use every room. In cluster mode
// a refusal is checked again once the node has caught up (synced), so
// access given through another node holds here at once.
func (s *Server) checkRooms(ctx context.Context, id identity, rooms []string) error {
	for _, room := range rooms {
		ok, err := s.synced(ctx, func() (bool, error) { return s.canUse(ctx, id, room) })
		if err != nil {
			return err
		}
		if !ok {
			return errNoAccess(room)
		}
	}
	return nil
}

// synced runs check, and in cluster mode again if it refused and the node
// applied changes made through other nodes meanwhile (store.Syncer).
func (s *Server) synced(ctx context.Context, check func() (bool, error)) (bool, error) {
	if sy, ok := s.Accounts.(store.Syncer); ok {
		return sy.Synced(ctx, check)
	}
	return check()
}

// Access levels of routes.
type access int

const (
	anyone   access = iota // no identity needed
	signedIn               // any identity, guests too
	member                 // a member or an admin
	admin                  // an admin
	inRoom                 // any identity that may use the route's :room
)

// guard wraps h with the authentication and the access check a route needs.
// Room routes check the room name first: a bad name is 400 for everyone.
func (s *Server) guard(level access, h httprouter.Handle) httprouter.Handle {
	if level == anyone {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if level == inRoom {
			if err := store.ValidateRoom(ps.ByName("room")); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if s.Accounts == nil {
			h(w, r, ps)
			return
		}
		id, err := s.authenticate(r)
		if err == nil {
			err = s.allowed(r.Context(), id, level, ps.ByName("room"))
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)), ps)
	}
}

// allowed checks id against an access level.
func (s *Server) allowed(ctx context.Context, id identity, level access, room string) error {
	switch level {
	case member:
		if id.role == store.RoleGuest {
			return errorf(http.StatusForbidden, "guests may not do this")
		}
	case admin:
		if id.role != store.RoleAdmin {
			return errorf(http.StatusForbidden, "only an admin may do this")
		}
	case inRoom:
		return s.checkRooms(ctx, id, []string{room})
	}
	return nil
}

// author returns the author of what id posts: without access control the
// one the client gave, else id's name. Naming someone else is 403.
func (id identity) author(given string) (string, error) {
	if id.isOpen() {
		return given, nil
	}
	if given != "" && given != id.name {
		return "", errorf(http.StatusForbidden, "you post as %q; leave author out or give your own name", id.name)
	}
	return id.name, nil
}
