package api

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// routes registers every endpoint.
func (s *Server) routes() http.Handler {
	r := httprouter.New()
	r.GET("/healthz", s.handleHealth)
	r.GET("/api/config", s.handleConfig)
	r.GET("/api/rooms", s.handleRooms)
	r.POST("/api/rooms/:room/messages", s.handlePostMessage)
	r.GET("/api/rooms/:room/messages", s.handleListMessages)
	r.PATCH("/api/rooms/:room/messages/:id", s.handleEditMessage)
	r.DELETE("/api/rooms/:room/messages/:id", s.handleDeleteMessage)
	r.POST("/api/rooms/:room/messages/:id/reactions", s.handleAddReaction)
	r.DELETE("/api/rooms/:room/messages/:id/reactions/:emoji", s.handleRemoveReaction)
	r.GET("/api/rooms/:room/events", s.handleRoomEvents)
	r.GET("/api/rooms/:room/export", s.handleExport)
	r.POST("/api/rooms/:room/import", s.handleImport)
	r.GET("/api/rooms/:room/settings", s.handleGetSettings)
	r.PUT("/api/rooms/:room/settings", s.handlePutSettings)
	r.GET("/api/admin/backup", s.handleBackup)
	r.GET("/api/events", s.handleEvents)

	for _, method := range []string{http.MethodGet, http.MethodHead} {
		r.Handle(method, "/", s.handleIndex)
		r.Handle(method, "/r/:room", s.handleIndex)
		r.Handle(method, "/assets/*path", s.handleAsset)
	}

	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.writeError(w, req, errorf(http.StatusNotFound, "no such endpoint: %s", req.URL.Path))
	})
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// httprouter has set the Allow header.
		s.writeError(w, req, errorf(http.StatusMethodNotAllowed, "method %s not allowed; allowed: %s", req.Method, w.Header().Get("Allow")))
	})
	r.PanicHandler = func(w http.ResponseWriter, req *http.Request, v any) {
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
