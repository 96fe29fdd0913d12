package api

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// checkHost guards a server without access control against DNS
// rebinding: a page on rebind.example whose name an attacker points at
// 127.0.0.1 would otherwise read and post everything with the visitor's
// browser. Such a page can only send its own name as Host, so the server
// answers only Host names it is known by: localhost (and names under
// .localhost), IP addresses (a page can only send one if it was loaded
// from that address, which is this server's own origin) and AllowedHosts.
// With access control on, requests need credentials that a rebound page
// does not have, and every Host is answered.
func (s *Server) checkHost(next http.Handler) http.Handler {
	if s.Accounts != nil || slices.Contains(s.AllowedHosts, "*") {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Probes often use a service name; these answer nothing secret.
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || s.knownHost(r.Host) {
			next.ServeHTTP(w, r)
			return
		}
		s.writeError(w, r, errorf(http.StatusMisdirectedRequest,
			"host %q is not served here: without access control Parley answers only localhost, IP addresses and the names in -allowed-hosts", r.Host))
	})
}

// knownHost reports whether hostport, a request's Host, names this server.
func (s *Server) knownHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport // no port
	}
	host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return slices.ContainsFunc(s.AllowedHosts, func(h string) bool { return strings.EqualFold(h, host) })
}
