package api

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// Drain marks the server not ready: from now on /readyz answers 503, so a
// load balancer stops sending new clients, while every other request is
// served as before. Close calls it first. It is safe to call at any time.
func (s *Server) Drain() { s.draining.Store(true) }

// handleReady answers 200 while the server takes new clients: the log is
// open and readable and the server is not shutting down. Unlike /healthz it
// turns 503 as soon as Drain or Close begins.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if s.draining.Load() {
		s.writeError(w, r, errorf(http.StatusServiceUnavailable, "server is shutting down"))
		return
	}
	if err := s.log.Ping(r.Context()); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
	}{"ready"})
}
