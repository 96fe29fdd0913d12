package api

import (
	"net/http"
	"slices"
)

// crossOrigin refuses cross-site state-changing requests (a form on another
// site posting with the user's session cookie) and lets the CORSOrigins,
// only they, call the API with credentials.
func (s *Server) crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	for _, o := range s.CORSOrigins {
		// Validated by Open; a bad origin here is a programming error.
		if err := cop.AddTrustedOrigin(o); err != nil {
			panic(err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(http.StatusForbidden, "cross-origin request refused"))
	}))
	protected := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && len(s.CORSOrigins) > 0 {
			w.Header().Add("Vary", "Origin")
			if slices.Contains(s.CORSOrigins, o) {
				h := w.Header()
				h.Set("Access-Control-Allow-Origin", o)
				h.Set("Access-Control-Allow-Credentials", "true")
			}
		}
		protected.ServeHTTP(w, r)
	})
}

// handlePreflight answers CORS preflight requests: for a listed origin with
// what it may send, for anyone else with nothing, so the browser refuses.
func (s *Server) handlePreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.Header.Get("Access-Control-Request-Method") != "" && slices.Contains(s.CORSOrigins, r.Header.Get("Origin")) {
		h.Set("Access-Control-Allow-Methods", h.Get("Allow")) // set by the router
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}
