package api

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
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
	handle(http.MethodGet, "/healthz", s.handleHealth)
	handle(http.MethodGet, "/readyz", s.handleReady)
	handle(http.MethodGet, "/metrics", s.metricsHandler())
	handle(http.MethodGet, "/api/config", s.handleConfig)
	handle(http.MethodGet, "/api/rooms", s.handleRooms)
	handle(http.MethodPost, "/api/rooms/:room/messages", s.handlePostMessage)
	handle(http.MethodGet, "/api/rooms/:room/messages", s.handleListMessages)
	handle(http.MethodPatch, "/api/rooms/:room/messages/:id", s.handleEditMessage)
	handle(http.MethodDelete, "/api/rooms/:room/messages/:id", s.handleDeleteMessage)
	handle(http.MethodPost, "/api/rooms/:room/messages/:id/reactions", s.handleAddReaction)
	handle(http.MethodDelete, "/api/rooms/:room/messages/:id/reactions/:emoji", s.handleRemoveReaction)
	stream("/api/rooms/:room/events", s.handleRoomEvents)
	handle(http.MethodGet, "/api/rooms/:room/export", s.handleExport)
	handle(http.MethodPost, "/api/rooms/:room/import", s.handleImport)
	handle(http.MethodGet, "/api/rooms/:room/settings", s.handleGetSettings)
	handle(http.MethodPut, "/api/rooms/:room/settings", s.handlePutSettings)
	handle(http.MethodGet, "/api/admin/backup", s.handleBackup)
	stream("/api/events", s.handleEvents)

	for _, method := range []string{http.MethodGet, http.MethodHead} {
		handle(method, "/", s.handleIndex)
		handle(method, "/r/:room", s.handleIndex)
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
		s.Logger.Error("panic in handler", "method", req.Method, "path", req.URL.Path, "panic", v)
		s.writeError(w, req, errorf(http.StatusInternalServerError, "internal error"))
	}
	return securityHeaders(r)
}

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}
