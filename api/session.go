package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/parleychat/parley/store"
)

// credentials is what a client sends to sign in or create a user.
type credentials struct {
	Token    string `json:"token"` // setup only
	Name     string `json:"name"`
	Password string `json:"password"`
	Role     string `json:"role"` // creating users, changing roles
	// Current is the password being replaced, when users change their own.
	Current string `json:"current_password"`
}

// decodeCredentials reads a JSON or form body of credentials.
func decodeCredentials(w http.ResponseWriter, r *http.Request) (credentials, error) {
	var c credentials
	err := decodeBody(w, r, 8<<10, &c, func(get func(string) string) {
		c = credentials{Token: get("token"), Name: get("name"), Password: get("password"), Role: get("role"), Current: get("current_password")}
	})
	return c, err
}

// whoami is how the API shows an identity.
type whoami struct {
	Auth string     `json:"auth"`
	Name string     `json:"name,omitempty"`
	Role store.Role `json:"role,omitempty"`
	Room string     `json:"room,omitempty"`
}

func (id identity) whoami() whoami {
	if id.isOpen() {
		return whoami{Auth: "none"}
	}
	return whoami{Auth: "on", Name: id.name, Role: id.role, Room: id.room}
}

// handleMe: GET /api/me.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	writeJSON(w, http.StatusOK, identityOf(r).whoami())
}

// handleLogin: POST /api/login {"name","password"} signs in with a
// password and sets a session cookie.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if s.Accounts == nil {
		s.writeError(w, r, errorf(http.StatusNotFound, "access control is off: there is nothing to sign in to"))
		return
	}
	if !s.limitLogin(w, r) {
		return
	}
	c, err := decodeCredentials(w, r)
	if err == nil && !s.limitLoginName(w, r, c.Name) {
		return
	}
	var u store.User
	if err == nil {
		u, err = s.checkLogin(r.Context(), c.Name, c.Password)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.startSession(w, r, store.Credential{Kind: store.KindSession, User: u.Name}); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, whoami{Auth: "on", Name: u.Name, Role: u.Role})
}

var errBadLogin = errorf(http.StatusUnauthorized, "wrong name or password")

// checkLogin returns the user whose name and password these are. It takes
// as long for unknown names as for wrong passwords.
func (s *Server) checkLogin(ctx context.Context, name, password string) (store.User, error) {
	if name == "" || password == "" {
		return store.User{}, errorf(http.StatusBadRequest, "name and password are required")
	}
	if len(password) > maxPasswordLen {
		return store.User{}, errBadLogin
	}
	// In cluster mode a user added, or a password set, through another
	// node holds here at once (synced).
	var u store.User
	ok, err := s.synced(ctx, func() (bool, error) {
		var err error
		u, err = s.Accounts.User(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			s.passwords.burn(password)
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return s.passwords.verify(password, u.PasswordHash)
	})
	if err != nil {
		return store.User{}, err
	}
	if !ok {
		return store.User{}, errBadLogin
	}
	u.PasswordHash = ""
	return u, nil
}

// startSession stores a new session credential c and sets its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, c store.Credential) error {
	secret, hash, id := newSecret("ps_")
	now := s.Now()
	c.ID, c.Created, c.Expires = id, now, now.Add(s.SessionTTL)
	if err := s.Accounts.AddCredential(r.Context(), hash, c); err != nil {
		return err
	}
	s.setSessionCookie(w, r, secret, s.SessionTTL)
	return nil
}

// setSessionCookie sets the session cookie, or with an empty secret clears
// it.
func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, secret string, ttl time.Duration) {
	maxAge := int(ttl / time.Second)
	if secret == "" {
		maxAge = -1
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: secret, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r),
	})
}

// redeemSession is startSession for a guest who chose name: the invite is
// used and the session stored in one step. It returns the invite and the
// session, whose User is the guest's author name.
func (s *Server) redeemSession(w http.ResponseWriter, r *http.Request, code, name string) (store.Invite, store.Credential, error) {
	secret, hash, id := newSecret("ps_")
	now := s.Now()
	inv, sess, err := s.Accounts.RedeemInvite(r.Context(), secretHash(code), now, hash, store.Credential{
		ID: id, Kind: store.KindSession, User: name, Created: now, Expires: now.Add(s.SessionTTL),
	})
	if err != nil {
		return inv, sess, err
	}
	s.setSessionCookie(w, r, secret, s.SessionTTL)
	return inv, sess, nil
}

// handleLogout: POST /api/logout revokes the caller's session and clears
// its cookie.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	id := identityOf(r)
	if id.cred.Kind == store.KindSession {
		if _, err := s.Accounts.RevokeCredentials(r.Context(), func(c store.Credential) bool { return c.ID == id.cred.ID && c.Kind == store.KindSession }); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.accessChanged()
	}
	s.setSessionCookie(w, r, "", 0)
	w.WriteHeader(http.StatusNoContent)
}

// handleSetup: POST /api/setup {"token","name","password"} creates the first
// admin with the setup token the server printed, and signs them in.
func (s *Server) handleSetup(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if s.Accounts == nil {
		s.writeError(w, r, errorf(http.StatusNotFound, "access control is off: there is nothing to set up"))
		return
	}
	if !s.limitLogin(w, r) {
		return
	}
	c, err := decodeCredentials(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	needed, err := s.needsSetup(r.Context())
	switch {
	case err != nil:
	case !needed || s.SetupToken == "":
		err = errorf(http.StatusConflict, "setup is done: an admin exists")
	case subtle.ConstantTimeCompare([]byte(c.Token), []byte(s.SetupToken)) != 1:
		err = errorf(http.StatusForbidden, "wrong setup token")
	default:
		c.Role = string(store.RoleAdmin)
		var u store.User
		if u, err = s.addUser(r.Context(), c); err == nil {
			err = s.startSession(w, r, store.Credential{Kind: store.KindSession, User: u.Name})
		}
		if err == nil {
			writeJSON(w, http.StatusCreated, u)
			return
		}
	}
	s.writeError(w, r, err)
}

// needsSetup reports whether no admin exists yet.
func (s *Server) needsSetup(ctx context.Context) (bool, error) {
	users, err := s.Accounts.Users(ctx)
	if err != nil {
		return false, err
	}
	for _, u := range users {
		if u.Role == store.RoleAdmin {
			return false, nil
		}
	}
	return true, nil
}

// EnsureAdmin creates the admin name with password unless an admin exists,
// and says whether it did. Call it before Open, with access control on.
func (s *Server) EnsureAdmin(ctx context.Context, name, password string) (bool, error) {
	if s.Accounts == nil {
		return false, errors.New("access control is off")
	}
	s.init()
	needed, err := s.needsSetup(ctx)
	if err != nil || !needed {
		return false, err
	}
	_, err = s.addUser(ctx, credentials{Name: name, Password: password, Role: string(store.RoleAdmin)})
	return err == nil, err
}

// NeedsSetup reports whether access control is on and no admin exists yet:
// the server then takes SetupToken to create the first one.
func (s *Server) NeedsSetup(ctx context.Context) (bool, error) {
	if s.Accounts == nil {
		return false, nil
	}
	return s.needsSetup(ctx)
}
