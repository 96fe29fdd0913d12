package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/parleychat/parley/store"
)

// defaultInviteTTL is how long an invite works unless its creator says
// otherwise (and the server's MaxInviteTTL allows it).
const defaultInviteTTL = 7 * 24 * time.Hour

// inviteRequest is the body of POST /api/rooms/:room/invites.
type inviteRequest struct {
	ExpiresIn string `json:"expires_in"`
	MaxUses   int    `json:"max_uses"`
}

// newInvite is a created invite: the only time its code is shown.
type newInvite struct {
	store.Invite
	Code string `json:"code"`
	URL  string `json:"url"`
}

// handleCreateInvite: POST /api/rooms/:room/invites.
func (s *Server) handleCreateInvite(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	var req inviteRequest
	var err error
	if !noBody(r) {
		err = decodeBody(w, r, 4<<10, &req, func(get func(string) string) {
			req.ExpiresIn = get("expires_in")
			if v := get("max_uses"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil {
					n = -1 // refused below
				}
				req.MaxUses = n
			}
		})
	}
	now := s.Now().UTC().Truncate(time.Millisecond)
	ttl := min(defaultInviteTTL, s.MaxInviteTTL)
	if err == nil && req.ExpiresIn != "" {
		if ttl, err = time.ParseDuration(req.ExpiresIn); err != nil || ttl <= 0 {
			err = errorf(http.StatusBadRequest, "expires_in must be a positive duration like 72h")
		} else if ttl > s.MaxInviteTTL {
			err = errorf(http.StatusBadRequest, "expires_in: at most %s on this server", shortDuration(s.MaxInviteTTL))
		}
	}
	if err == nil && req.MaxUses < 0 {
		err = errorf(http.StatusBadRequest, "max_uses must be 0 (unlimited) or more")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	code, hash, iid := newSecret("pi_")
	inv := store.Invite{
		ID: iid, Room: ps.ByName("room"), CreatedBy: identityOf(r).name,
		Created: now, Expires: now.Add(ttl), MaxUses: req.MaxUses,
	}
	if err := s.Accounts.AddInvite(r.Context(), hash, inv); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, newInvite{inv, code, "/join/" + code})
}

// shortDuration writes d without the zero minutes and seconds of a whole
// number of hours: 720h, not 720h0m0s.
func shortDuration(d time.Duration) string {
	v := d.String()
	if strings.HasSuffix(v, "m0s") {
		v = strings.TrimSuffix(v, "0s")
		v = strings.TrimSuffix(v, "h0m")
		if !strings.HasSuffix(v, "m") {
			v += "h"
		}
	}
	return v
}

// handleListInvites: GET /api/rooms/:room/invites, without their codes.
func (s *Server) handleListInvites(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	invs, err := s.Accounts.Invites(r.Context(), ps.ByName("room"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Invites []store.Invite `json:"invites"`
	}{invs})
}

// handleRevokeInvite: DELETE /api/rooms/:room/invites/:id ends the invite
// and the guest sessions it gave.
func (s *Server) handleRevokeInvite(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	err := s.Accounts.RevokeInvite(r.Context(), ps.ByName("room"), ps.ByName("id"))
	if errors.Is(err, store.ErrNotFound) {
		err = errorf(http.StatusNotFound, "no such invite: %s", ps.ByName("id"))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.accessChanged()
	w.WriteHeader(http.StatusNoContent)
}

// handleJoin: POST /api/join/:code {"name"} turns an invite into a guest
// session for its room.
func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	if s.Accounts == nil {
		s.writeError(w, r, errorf(http.StatusNotFound, "access control is off: everyone may join every room"))
		return
	}
	if !s.limitLogin(w, r) {
		return
	}
	var req struct {
		Name string `json:"name"`
	}
	err := decodeBody(w, r, 4<<10, &req, func(get func(string) string) { req.Name = get("name") })
	var name string
	if err == nil {
		name, err = store.CleanGuestName(req.Name)
	}
	var inv store.Invite
	var sess store.Credential
	if err == nil {
		inv, sess, err = s.redeemSession(w, r, ps.ByName("code"), name)
		if errors.Is(err, store.ErrNotFound) {
			err = errorf(http.StatusNotFound, "this invite is invalid, expired or used up")
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, whoami{Auth: "on", Name: sess.User, Role: store.RoleGuest, Room: inv.Room})
}

// handleGetAccess: GET /api/rooms/:room/access.
func (s *Server) handleGetAccess(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	ra, err := s.Accounts.RoomAccess(r.Context(), ps.ByName("room"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ra)
}

// handlePutAccess: PUT /api/rooms/:room/access {"private","members"}.
func (s *Server) handlePutAccess(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	var req struct {
		Private bool     `json:"private"`
		Members []string `json:"members"`
	}
	if err := decodeBody(w, r, 64<<10, &req, nil); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.setAccess(w, r, store.RoomAccess{Room: ps.ByName("room"), Private: req.Private, Members: req.Members})
}

// handleMember: PUT or DELETE /api/rooms/:room/members/:user, one change
// of the list in one transaction: concurrent changes all apply.
func (s *Server) handleMember(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	ra, err := s.Accounts.SetRoomMember(r.Context(), ps.ByName("room"), ps.ByName("user"), r.Method == http.MethodPut)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.accessChanged()
	writeJSON(w, http.StatusOK, ra)
}

func (s *Server) setAccess(w http.ResponseWriter, r *http.Request, ra store.RoomAccess) {
	if err := s.Accounts.SetRoomAccess(r.Context(), ra); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.accessChanged()
	s.handleGetAccess(w, r, httprouter.Params{{Key: "room", Value: ra.Room}})
}
