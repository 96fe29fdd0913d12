package api

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
	"github.com/parleychat/parley/store"
)

// routes registers every endpoint.
func (s *Server) routes() http.Handler {
	r := httprouter.New()
	// handle registers a route, counted and logged under its pattern.
	handle := func(method, pattern string, h httprouter.Handle) {
		r.Handle(method, pattern, s.instrument(method, pattern, false, h))
	}
	stream := func(pattern string, h httprouter.Handle) {
		r.Handle(http.MethodGet, pattern, s.instrument(http.MethodGet, pattern, true, h))
	}
	// Who may call each route: see guard and docs/access.md.
	handle(http.MethodGet, "/healthz", s.handleHealth)
	handle(http.MethodGet, "/readyz", s.handleReady)
	handle(http.MethodGet, "/metrics", s.guard(admin, s.metricsHandler()))
	handle(http.MethodGet, "/api/config", s.handleConfig)

	handle(http.MethodGet, "/api/me", s.guard(signedIn, s.handleMe))
	handle(http.MethodPost, "/api/setup", s.handleSetup)
	handle(http.MethodPost, "/api/login", s.handleLogin)
	handle(http.MethodPost, "/api/logout", s.guard(signedIn, s.handleLogout))
	handle(http.MethodPost, "/api/join/:code", s.handleJoin)
	handle(http.MethodGet, "/api/users", s.guard(admin, s.accountsOnly(s.handleListUsers)))
	handle(http.MethodPost, "/api/users", s.guard(admin, s.accountsOnly(s.handleAddUser)))
	handle(http.MethodPut, "/api/users/:name/password", s.guard(member, s.accountsOnly(s.handleSetPassword)))
	handle(http.MethodPut, "/api/users/:name/role", s.guard(admin, s.accountsOnly(s.handleSetRole)))
	handle(http.MethodDelete, "/api/users/:name", s.guard(admin, s.accountsOnly(s.handleRemoveUser)))
	handle(http.MethodPost, "/api/tokens", s.handleCreateToken)
	handle(http.MethodGet, "/api/tokens", s.guard(member, s.accountsOnly(s.handleListTokens)))
	handle(http.MethodDelete, "/api/tokens/:id", s.guard(member, s.accountsOnly(s.handleRevokeToken)))

	handle(http.MethodGet, "/api/rooms", s.guard(signedIn, s.handleRooms))
	handle(http.MethodPost, "/api/rooms/:room/messages", s.guard(inRoom, s.handlePostMessage))
	handle(http.MethodGet, "/api/rooms/:room/messages", s.guard(inRoom, s.handleListMessages))
	handle(http.MethodPatch, "/api/rooms/:room/messages/:id", s.guard(inRoom, s.handleEditMessage))
	handle(http.MethodDelete, "/api/rooms/:room/messages/:id", s.guard(inRoom, s.handleDeleteMessage))
	handle(http.MethodPost, "/api/rooms/:room/messages/:id/reactions", s.guard(inRoom, s.handleAddReaction))
	handle(http.MethodDelete, "/api/rooms/:room/messages/:id/reactions/:emoji", s.guard(inRoom, s.handleRemoveReaction))
	stream("/api/rooms/:room/events", s.handleRoomEvents) // checks access itself, as /api/events
	handle(http.MethodGet, "/api/rooms/:room/presence", s.guard(inRoom, s.handlePresence))
	handle(http.MethodPost, "/api/rooms/:room/typing", s.guard(inRoom, s.handleTyping))
	handle(http.MethodPost, "/api/rooms/:room/signal", s.guard(inRoom, s.handleSignal))
	handle(http.MethodGet, "/api/rooms/:room/read", s.guard(inRoom, s.handleGetRead))
	handle(http.MethodPut, "/api/rooms/:room/read", s.guard(inRoom, s.handlePutRead))
	handle(http.MethodGet, "/api/mentions", s.guard(signedIn, s.handleMentions))
	handle(http.MethodGet, "/api/search", s.guard(signedIn, s.handleSearch)) // reads only rooms the caller may: api/search.go
	handle(http.MethodGet, "/api/rooms/:room/export", s.guard(inRoom, s.handleExport))
	handle(http.MethodPost, "/api/rooms/:room/files", s.guard(inRoom, s.filesOn(s.withUploadTimeout(s.handleUploadFile))))
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		handle(method, "/api/rooms/:room/files/:id", s.guard(inRoom, s.filesOn(s.handleGetFile)))
		handle(method, "/api/rooms/:room/files/:id/thumb", s.guard(inRoom, s.filesOn(s.handleGetThumb)))
	}
	handle(http.MethodGet, "/api/rooms/:room/settings", s.guard(inRoom, s.handleGetSettings))
	handle(http.MethodGet, "/api/rooms/:room/access", s.guard(inRoom, s.accountsOnly(s.notGuest(s.handleGetAccess))))
	handle(http.MethodPost, "/api/rooms/:room/invites", s.guard(inRoom, s.accountsOnly(s.notGuest(s.handleCreateInvite))))
	handle(http.MethodGet, "/api/rooms/:room/invites", s.guard(inRoom, s.accountsOnly(s.notGuest(s.handleListInvites))))
	handle(http.MethodDelete, "/api/rooms/:room/invites/:id", s.guard(inRoom, s.accountsOnly(s.notGuest(s.handleRevokeInvite))))
	stream("/api/events", s.handleEvents)

	// Admins only.
	handle(http.MethodPost, "/api/rooms/:room/import", s.guard(admin, withBodyTimeout(s.ImportBodyTimeout, s.handleImport)))
	handle(http.MethodPut, "/api/rooms/:room/settings", s.guard(admin, s.handlePutSettings))
	handle(http.MethodPut, "/api/rooms/:room/access", s.guard(admin, s.accountsOnly(s.handlePutAccess)))
	handle(http.MethodPut, "/api/rooms/:room/members/:user", s.guard(admin, s.accountsOnly(s.handleMember)))
	handle(http.MethodDelete, "/api/rooms/:room/members/:user", s.guard(admin, s.accountsOnly(s.handleMember)))
	handle(http.MethodGet, "/api/admin/backup", s.guard(admin, s.handleBackup))

	for _, method := range []string{http.MethodGet, http.MethodHead} {
		handle(method, "/", s.handleIndex)
		handle(method, "/r/:room", s.handleIndex)
		handle(method, "/join/:code", s.handleIndex)
		handle(method, "/assets/*path", s.handleAsset)
	}

	// Requests no route matches are counted together, method unlabelled:
	// clients choose those values.
	unmatched := func(h func(http.ResponseWriter, *http.Request)) http.Handler {
		ih := s.instrument("", "unmatched", false, func(w http.ResponseWriter, req *http.Request, _ httprouter.Params) { h(w, req) })
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { ih(w, req, nil) })
	}
	r.NotFound = unmatched(func(w http.ResponseWriter, req *http.Request) {
		s.writeError(w, req, errorf(http.StatusNotFound, "no such endpoint: %s", req.URL.Path))
	})
	r.MethodNotAllowed = unmatched(func(w http.ResponseWriter, req *http.Request) {
		// httprouter has set the Allow header.
		s.writeError(w, req, errorf(http.StatusMethodNotAllowed, "method %s not allowed; allowed: %s", req.Method, w.Header().Get("Allow")))
	})
	r.PanicHandler = func(w http.ResponseWriter, req *http.Request, v any) {
		if v == http.ErrAbortHandler {
			panic(v) // a handler cutting its response short: net/http drops the connection
		}
		s.Logger.Error("panic in handler", "method", req.Method, "path", loggedPath(req), "panic", v)
		s.writeError(w, req, errorf(http.StatusInternalServerError, "internal error"))
	}
	r.GlobalOPTIONS = http.HandlerFunc(s.handlePreflight)
	return securityHeaders(s.limitBodies(s.checkHost(s.crossOrigin(r))))
}

// accountsOnly answers 404 when access control is off: without it there
// are no users, tokens, invites or private rooms.
func (s *Server) accountsOnly(h httprouter.Handle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if s.Accounts == nil {
			s.writeError(w, r, errorf(http.StatusNotFound, "access control is off (parley serve -auth on turns it on)"))
			return
		}
		h(w, r, ps)
	}
}

// notGuest refuses guests, after guard has checked the room.
func (s *Server) notGuest(h httprouter.Handle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if identityOf(r).role == store.RoleGuest {
			s.writeError(w, r, errorf(http.StatusForbidden, "guests may not do this"))
			return
		}
		h(w, r, ps)
	}
}

// nosniff is shared by every response, like contentTypeJSON.
var nosniff = []string{"nosniff"}

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Content-Type-Options"] = nosniff
		next.ServeHTTP(w, r)
	})
}
