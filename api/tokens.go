package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/parleychat/parley/store"
)

// tokenRequest is the body of POST /api/tokens.
type tokenRequest struct {
	Label     string `json:"label"`
	ExpiresIn string `json:"expires_in"`
	User      string `json:"user"`
}

// newToken is a created token: the only time its secret is shown.
type newToken struct {
	store.Credential
	Token string `json:"token"`
}

// handleCreateToken: POST /api/tokens. The caller authenticates as usual,
// or with HTTP Basic name and password to get their first token.
func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	id, err := s.tokenCaller(w, r)
	if err != nil {
		if err != errLimited {
			s.writeError(w, r, err)
		}
		return
	}
	var req tokenRequest
	if !noBody(r) {
		if err := decodeBody(w, r, 4<<10, &req, func(get func(string) string) {
			req = tokenRequest{Label: get("label"), ExpiresIn: get("expires_in"), User: get("user")}
		}); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	c := store.Credential{Kind: store.KindToken, User: id.name, Label: req.Label, Created: s.Now().UTC().Truncate(1e6)}
	if req.User != "" && req.User != id.name {
		if id.role != store.RoleAdmin {
			s.writeError(w, r, errorf(http.StatusForbidden, "only an admin may create tokens for others"))
			return
		}
		c.User = req.User
	}
	if len(req.Label) > 100 {
		s.writeError(w, r, errorf(http.StatusBadRequest, "label: at most 100 bytes"))
		return
	}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			s.writeError(w, r, errorf(http.StatusBadRequest, "expires_in must be a positive duration like 720h"))
			return
		}
		c.Expires = c.Created.Add(d)
	}
	secret, hash, tid := newSecret("pt_")
	c.ID = tid
	if err := userErr(s.Accounts.AddCredential(r.Context(), hash, c), c.User); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, newToken{c, secret})
}

// tokenCaller authenticates a token request: Basic name and password (rate
// limited like logins) or any member's credentials.
func (s *Server) tokenCaller(w http.ResponseWriter, r *http.Request) (identity, error) {
	if s.Accounts == nil {
		return identity{}, errorf(http.StatusNotFound, "access control is off: tokens are not needed")
	}
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Basic") {
		if !s.limitLogin(w, r) {
			return identity{}, errLimited
		}
		name, pw, _ := r.BasicAuth()
		if !s.limitLoginName(w, r, name) {
			return identity{}, errLimited
		}
		u, err := s.checkLogin(r.Context(), name, pw)
		if err != nil {
			return identity{}, err
		}
		return identity{name: u.Name, role: u.Role}, nil
	}
	id, err := s.authenticate(r)
	if err == nil {
		err = s.allowed(r.Context(), id, member, "")
	}
	return id, err
}

// handleListTokens: GET /api/tokens lists the caller's tokens, or for an
// admin everyone's (?user= picks one user).
func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	id := identityOf(r)
	user := id.name
	if id.role == store.RoleAdmin {
		user = r.URL.Query().Get("user")
	}
	creds, err := s.Accounts.Credentials(r.Context(), user)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tokens := []store.Credential{}
	for _, c := range creds {
		if c.Kind == store.KindToken {
			tokens = append(tokens, c)
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Tokens []store.Credential `json:"tokens"`
	}{tokens})
}

// handleRevokeToken: DELETE /api/tokens/:id, the caller's own or, for an
// admin, anyone's.
func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	id, tid := identityOf(r), ps.ByName("id")
	n, err := s.Accounts.RevokeCredentials(r.Context(), func(c store.Credential) bool {
		return c.Kind == store.KindToken && c.ID == tid && (id.role == store.RoleAdmin || c.User == id.name)
	})
	if err == nil && n == 0 {
		err = errorf(http.StatusNotFound, "no such token: %s", tid)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.accessChanged()
	w.WriteHeader(http.StatusNoContent)
}
