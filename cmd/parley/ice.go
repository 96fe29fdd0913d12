package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/parleychat/parley/api"
)

// version is the server's version, said in every stream's hello; a release
// build sets it with -ldflags "-X main.version=1.2.3".
var version = "dev"

// parseICEServers reads -ice-servers: comma-separated STUN and TURN URLs
// (RFC 7064, 7065), a TURN URL with its username and credential before
// the host, percent-encoded where they hold ':' or '@':
//
//	stun:stun.example.org:3478,turn:USER:CREDENTIAL@turn.example.org:3478?transport=tcp
//
// Each becomes one RTCIceServer for the browser.
func parseICEServers(v string) ([]api.ICEServer, error) {
	var out []api.ICEServer
	for _, item := range splitList(v) {
		scheme, rest, ok := strings.Cut(item, ":")
		scheme = strings.ToLower(scheme)
		if !ok || rest == "" {
			return nil, fmt.Errorf("%q is not a stun: or turn: URL", item)
		}
		srv := api.ICEServer{}
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			user, cred, ok := strings.Cut(rest[:at], ":")
			var err1, err2 error
			srv.Username, err1 = url.PathUnescape(user)
			srv.Credential, err2 = url.PathUnescape(cred)
			if !ok || user == "" || cred == "" || err1 != nil || err2 != nil {
				return nil, fmt.Errorf("%q: credentials must be USER:CREDENTIAL@, percent-encoded", redact(item))
			}
			rest = rest[at+1:]
		}
		host, query, _ := strings.Cut(rest, "?")
		switch {
		case scheme != "stun" && scheme != "stuns" && scheme != "turn" && scheme != "turns":
			return nil, fmt.Errorf("%q: the scheme must be stun, stuns, turn or turns", redact(item))
		case host == "" || strings.ContainsAny(host, "/ "):
			return nil, fmt.Errorf("%q: a host (and port) must follow the scheme", redact(item))
		case strings.HasPrefix(scheme, "stun") && (srv.Username != "" || query != ""):
			return nil, fmt.Errorf("%q: a STUN URL has no credentials or parameters", redact(item))
		case strings.HasPrefix(scheme, "turn") && srv.Username == "":
			return nil, fmt.Errorf("%q: a TURN server needs USER:CREDENTIAL@ before its host", item)
		}
		u := scheme + ":" + host
		if query != "" {
			u += "?" + query
		}
		srv.URLs = []string{u}
		out = append(out, srv)
	}
	return out, nil
}

// redact hides the credential of a TURN URL in error messages.
func redact(item string) string {
	at := strings.LastIndexByte(item, '@')
	if at < 0 {
		return item
	}
	userinfo := item[:at] // scheme:USER:CREDENTIAL
	if i := strings.LastIndexByte(userinfo, ':'); i > strings.IndexByte(userinfo, ':') {
		userinfo = userinfo[:i] + ":…"
	}
	return userinfo + item[at:]
}
