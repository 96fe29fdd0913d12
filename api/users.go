package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/parleychat/parley/store"
)

// handleListUsers: GET /api/users.
func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	users, err := s.Accounts.Users(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Users []store.User `json:"users"`
	}{users})
}

// handleAddUser: POST /api/users {"name","password","role"}.
func (s *Server) handleAddUser(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	c, err := decodeCredentials(w, r)
	if err == nil && c.Token != "" {
		err = errorf(http.StatusBadRequest, "field token does not apply here")
	}
	var u store.User
	if err == nil {
		u, err = s.addUser(r.Context(), c)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

// addUser checks and stores a new user.
func (s *Server) addUser(ctx context.Context, c credentials) (store.User, error) {
	if c.Role == "" {
		c.Role = string(store.RoleMember)
	}
	if err := store.ValidateUserName(c.Name); err != nil {
		return store.User{}, err
	}
	if err := checkPassword(c.Password); err != nil {
		return store.User{}, err
	}
	u := store.User{Name: c.Name, Role: store.Role(c.Role), Created: s.Now().UTC().Truncate(1e6)}
	u.PasswordHash = s.passwords.hash(c.Password)
	if err := s.Accounts.AddUser(ctx, u); err != nil {
		return store.User{}, err
	}
	u.PasswordHash = ""
	return u, nil
}

// handleSetPassword: PUT /api/users/:name/password {"password"}, by an
// admin, or {"password","current_password"} by the user. It is limited like
// a sign-in (each takes a password hash), and ends the user's sessions;
// tokens stay.
func (s *Server) handleSetPassword(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	id, name := identityOf(r), ps.ByName("name")
	own := id.name == name
	if id.role != store.RoleAdmin && !own {
		s.writeError(w, r, errorf(http.StatusForbidden, "only an admin may change another user's password"))
		return
	}
	if !s.limitLogin(w, r) || !s.limitLoginName(w, r, name) {
		return
	}
	c, err := decodeCredentials(w, r)
	switch {
	case err != nil:
	case c.Token != "" || c.Name != "" || c.Role != "":
		err = errorf(http.StatusBadRequest, "give only the password, and current_password for your own")
	case own && c.Current == "":
		err = errorf(http.StatusBadRequest, "current_password is required to change your own password")
	case !own && c.Current != "":
		err = errorf(http.StatusBadRequest, "current_password applies only to your own password")
	default:
		err = checkPassword(c.Password)
	}
	if err == nil && own {
		if _, err = s.checkLogin(r.Context(), name, c.Current); errors.Is(err, errBadLogin) {
			err = errorf(http.StatusForbidden, "current_password is wrong")
		}
	}
	if err == nil {
		err = userErr(s.Accounts.SetPassword(r.Context(), name, s.passwords.hash(c.Password)), name)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.accessChanged()
	w.WriteHeader(http.StatusNoContent)
}

// handleSetRole: PUT /api/users/:name/role {"role"}. A demoted admin's
// open streams of private rooms they are no member of end at once.
func (s *Server) handleSetRole(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	name := ps.ByName("name")
	c, err := decodeCredentials(w, r)
	switch {
	case err != nil:
	case c.Token != "" || c.Name != "" || c.Password != "":
		err = errorf(http.StatusBadRequest, "give only the role")
	case c.Role == "":
		err = errorf(http.StatusBadRequest, "role is required: admin or member")
	default:
		err = userErr(s.Accounts.SetRole(r.Context(), name, store.Role(c.Role)), name)
	}
	var u store.User
	if err == nil {
		u, err = s.Accounts.User(r.Context(), name)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.accessChanged()
	u.PasswordHash = ""
	writeJSON(w, http.StatusOK, u)
}

// handleRemoveUser: DELETE /api/users/:name.
func (s *Server) handleRemoveUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	name := ps.ByName("name")
	if err := userErr(s.Accounts.RemoveUser(r.Context(), name), name); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.accessChanged()
	w.WriteHeader(http.StatusNoContent)
}

// userErr names the user in a not-found error.
func userErr(err error, name string) error {
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "no such user: %s", name)
	}
	return err
}
