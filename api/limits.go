package api

import (
	"errors"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits bound what one identity or one client IP may do. Zero turns a
// limit off; the zero Limits limits nothing.
type Limits struct {
	PostPerSecond      float64 // messages and changes per identity
	PostPerSecondIP    float64 // the same per client IP
	LoginPerMinuteIP   float64 // sign-in, setup, join, password-change and Basic-auth attempts per IP
	LoginPerMinute     float64 // sign-in attempts and password changes per user name, from anywhere
	StreamsPerSecond   float64 // new streams per identity
	StreamsPerSecondIP float64 // new streams per IP
	MaxStreams         int     // open streams per identity
	MaxStreamsIP       int     // open streams per IP
	TypingPerSecond    float64 // typing notices per identity, bursts of 5x
	SignalsPerSecond   float64 // call signals per identity, bursts of 5x
}

// DefaultLimits are generous for people and tight for runaway scripts.
var DefaultLimits = Limits{
	PostPerSecond:      10,
	PostPerSecondIP:    30,
	LoginPerMinuteIP:   10,
	LoginPerMinute:     20,
	StreamsPerSecond:   2,
	StreamsPerSecondIP: 5,
	MaxStreams:         20,
	MaxStreamsIP:       100,
	TypingPerSecond:    2,
	SignalsPerSecond:   20,
}

// errLimited marks a request already answered with 429.
var errLimited = errors.New("rate limited")

// limiterSet is a token bucket per key.
type limiterSet struct {
	limit rate.Limit
	burst int

	mu    sync.Mutex // guards m and calls
	m     map[string]*rate.Limiter
	calls int
}

func newLimiterSet(perSecond float64, burst int) *limiterSet {
	if perSecond <= 0 {
		return nil
	}
	return &limiterSet{limit: rate.Limit(perSecond), burst: max(burst, 1), m: map[string]*rate.Limiter{}}
}

// allow takes a token for key, or says how long until one is free. A nil
// set allows everything.
func (l *limiterSet) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls++; l.calls%4096 == 0 {
		// Forget full buckets: they are the same as new ones.
		for k, lim := range l.m {
			if lim.TokensAt(now) >= float64(l.burst) {
				delete(l.m, k)
			}
		}
	}
	lim := l.m[key]
	if lim == nil {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.m[key] = lim
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	r := lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return false, wait
}

// counterSet counts open things per key, up to a maximum.
type counterSet struct {
	max int

	mu sync.Mutex // guards m
	m  map[string]int
}

func newCounterSet(max int) *counterSet {
	if max <= 0 {
		return nil
	}
	return &counterSet{max: max, m: map[string]int{}}
}

// acquire counts one more for key unless it is at the maximum.
func (c *counterSet) acquire(key string) bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[key] >= c.max {
		return false
	}
	c.m[key]++
	return true
}

func (c *counterSet) release(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[key]--; c.m[key] <= 0 {
		delete(c.m, key)
	}
}

// limiters are the server's rate limiters and counters.
type limiters struct {
	post, postIP, login, loginName *limiterSet
	stream, streamIP               *limiterSet
	streams, streamsIP             *counterSet
	typing, signal                 *limiterSet
	upload                         *limiterSet // per identity, or per IP without access control
	uploads                        *counterSet // in flight, one key "all"
}

// addUploads adds the upload limits.
func (l *limiters) addUploads(fl FileLimits) {
	l.upload = newLimiterSet(fl.UploadsPerMinute/60, max(1, int(math.Ceil(fl.UploadsPerMinute/3))))
	l.uploads = newCounterSet(fl.MaxUploads)
}

func newLimiters(l Limits) *limiters {
	return &limiters{
		post:      newLimiterSet(l.PostPerSecond, int(math.Ceil(3*l.PostPerSecond))),
		postIP:    newLimiterSet(l.PostPerSecondIP, int(math.Ceil(3*l.PostPerSecondIP))),
		login:     newLimiterSet(l.LoginPerMinuteIP/60, int(math.Ceil(l.LoginPerMinuteIP))),
		loginName: newLimiterSet(l.LoginPerMinute/60, int(math.Ceil(l.LoginPerMinute))),
		stream:    newLimiterSet(l.StreamsPerSecond, max(20, int(math.Ceil(l.StreamsPerSecond)))),
		streamIP:  newLimiterSet(l.StreamsPerSecondIP, max(20, int(math.Ceil(l.StreamsPerSecondIP)))),
		streams:   newCounterSet(l.MaxStreams),
		streamsIP: newCounterSet(l.MaxStreamsIP),
		typing:    newLimiterSet(l.TypingPerSecond, int(math.Ceil(5*l.TypingPerSecond))),
		signal:    newLimiterSet(l.SignalsPerSecond, int(math.Ceil(5*l.SignalsPerSecond))),
	}
}

// tooMany answers 429 with Retry-After in whole seconds, at least one.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration, what string) {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.writeError(w, r, errorf(http.StatusTooManyRequests, "too many %s; try again in %d s", what, secs))
}

// limitLogin takes a sign-in attempt from the client's IP, or answers 429.
func (s *Server) limitLogin(w http.ResponseWriter, r *http.Request) bool {
	if ok, wait := s.limits.login.allow(s.clientIP(r).String(), s.Now()); !ok {
		s.tooMany(w, r, wait, "sign-in attempts")
		return false
	}
	return true
}

// limitLoginName takes a sign-in attempt at the account name, from
// wherever it comes: many addresses guessing one password are slowed too.
func (s *Server) limitLoginName(w http.ResponseWriter, r *http.Request, name string) bool {
	if ok, wait := s.limits.loginName.allow(name, s.Now()); !ok {
		s.tooMany(w, r, wait, "sign-in attempts for this name")
		return false
	}
	return true
}

// limitPost takes a post from the identity and the client's IP, or answers
// 429.
func (s *Server) limitPost(w http.ResponseWriter, r *http.Request, id identity) bool {
	if s.limits.postIP == nil && (s.limits.post == nil || id.isOpen()) {
		return true // no limits: not even the cost of the client's address
	}
	now := s.Now()
	ok, wait := true, time.Duration(0)
	if s.limits.postIP != nil {
		ok, wait = s.limits.postIP.allow(s.clientIP(r).String(), now)
	}
	if ok && !id.isOpen() {
		ok, wait = s.limits.post.allow(id.key(), now)
	}
	if !ok {
		s.tooMany(w, r, wait, "messages")
	}
	return ok
}

// key names id for per-identity limits: guests are counted per session.
func (id identity) key() string {
	if id.role == "guest" {
		return "s:" + id.cred.ID
	}
	return "u:" + id.name
}

// clientIP is the address of the client: the peer, or with trusted proxies
// the nearest address in X-Forwarded-For that is not one of them.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := peer.Addr().Unmap()
	if !s.trusted(ip) {
		if r.Header.Get("X-Forwarded-For") != "" {
			s.warnProxy.Do(func() {
				s.Logger.Warn("requests carry X-Forwarded-For from an untrusted peer: it is ignored, and every client behind that proxy shares one address for per-IP limits; set -behind-proxy to the proxy's address", "peer", ip)
			})
		}
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: stop at the last address we could trust
		}
		ip = hop.Unmap()
		if !s.trusted(ip) {
			break
		}
	}
	return ip
}

// trusted reports whether ip is one of TrustedProxies.
func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// secure reports whether the client reached Parley over HTTPS: directly, or
// through a trusted proxy that says so.
func (s *Server) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if peer, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && s.trusted(peer.Addr().Unmap()) {
		return strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	}
	return false
}
