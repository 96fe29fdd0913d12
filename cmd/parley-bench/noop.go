package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// NoopServer speaks Parley's HTTP API with nothing behind it: events live in
// memory, appends are not durable, and a resume cursor older than the kept
// log replays what is kept. It is the yardstick the load tool measures
// Parley against, so it does what a good server must and no more: encode
// each event once, and write and flush a subscriber once per wake-up.
type NoopServer struct {
	Addr      string        // listen address; port 0 picks a free one
	Keep      int           // events kept per room
	Heartbeat time.Duration // comment sent on an idle stream
	Retry     time.Duration // reconnection time announced to clients
	Now       func() time.Time

	ln        net.Listener
	srv       *http.Server
	hub       *hub
	quit      chan struct{}
	serveErr  chan error
	closeOnce sync.Once
}

// NewNoopServer returns a server with defaults; call Open to start it.
func NewNoopServer() *NoopServer {
	return &NoopServer{
		Addr:      "127.0.0.1:8081",
		Keep:      1 << 20,
		Heartbeat: 15 * time.Second,
		Retry:     2 * time.Second,
		Now:       time.Now,
	}
}

// Open listens on Addr and serves in the background.
func (s *NoopServer) Open() error {
	if s.Keep < 1 || s.Heartbeat <= 0 {
		return errors.New("noop: Keep and Heartbeat must be positive")
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("noop: %w", err)
	}
	s.ln = ln
	s.hub = newHub(s.Keep, s.Now)
	s.quit = make(chan struct{})
	s.serveErr = make(chan error, 1)
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { s.serveErr <- s.srv.Serve(ln) }()
	return nil
}

// URL is the base URL clients use, such as http://127.0.0.1:8081.
func (s *NoopServer) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server and ends every stream. It is safe to call twice.
func (s *NoopServer) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.srv == nil {
			return
		}
		close(s.quit)
		err = s.srv.Close()
		if serr := <-s.serveErr; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
	})
	return err
}

func (s *NoopServer) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/rooms/{room}/messages", s.handlePostMessage)
	mux.HandleFunc("GET /api/rooms/{room}/messages", s.handleListMessages)
	mux.HandleFunc("GET /api/rooms/{room}/events", s.handleRoomEvents)
	mux.HandleFunc("GET /api/events", s.handleEvents)
	mux.HandleFunc("GET /api/rooms", s.handleRooms)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	return mux
}

func (s *NoopServer) handlePostMessage(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !validRoom(room) {
		writeError(w, http.StatusBadRequest, "invalid room name")
		return
	}
	var in struct {
		Author   string `json:"author"`
		Text     string `json:"text"`
		ClientID string `json:"client_id"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	if in.Author == "" || in.Text == "" {
		writeError(w, http.StatusBadRequest, "author and text are required")
		return
	}
	ev, created := s.hub.appendEvent(room, in.Author, in.Text, in.ClientID)
	w.Header().Set("Content-Type", "application/json")
	if created {
		w.WriteHeader(http.StatusCreated)
	}
	w.Write(ev.json)
}

func (s *NoopServer) handleListMessages(w http.ResponseWriter, r *http.Request) {
	room, q := r.PathValue("room"), r.URL.Query()
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be 1 to 1000")
			return
		}
		limit = n
	}
	if !validRoom(room) {
		writeError(w, http.StatusBadRequest, "invalid room name")
		return
	}
	events := s.hub.page(room, q.Get("before"), q.Get("after"), limit)
	b := []byte(`{"events":[`)
	for i, js := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, js...)
	}
	b = append(b, "]}"...)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (s *NoopServer) handleRooms(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"rooms": s.hub.list()})
}

func (s *NoopServer) handleRoomEvents(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !validRoom(room) {
		writeError(w, http.StatusBadRequest, "invalid room name")
		return
	}
	s.serveStream(w, r, []string{room})
}

func (s *NoopServer) handleEvents(w http.ResponseWriter, r *http.Request) {
	var rooms []string
	seen := map[string]bool{}
	for name := range strings.SplitSeq(r.URL.Query().Get("rooms"), ",") {
		if !validRoom(name) {
			writeError(w, http.StatusBadRequest, "invalid room name")
			return
		}
		if !seen[name] {
			seen[name] = true
			rooms = append(rooms, name)
		}
	}
	if len(rooms) > 100 {
		writeError(w, http.StatusBadRequest, "at most 100 rooms")
		return
	}
	s.serveStream(w, r, rooms)
}

// serveStream replays what follows the client's cursor, then streams live
// events, writing and flushing once per wake-up.
func (s *NoopServer) serveStream(w http.ResponseWriter, r *http.Request, rooms []string) {
	cursor := r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = r.URL.Query().Get("last_event_id")
	}
	sub := s.hub.subscribe(rooms, cursor)
	defer s.hub.unsubscribe(sub)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	heartbeat := time.NewTimer(s.Heartbeat)
	defer heartbeat.Stop()
	buf := fmt.Appendf(make([]byte, 0, 64<<10), "retry: %d\n\n", s.Retry.Milliseconds())
	for {
		var ok bool
		if buf, ok = s.hub.collect(sub, buf, 64<<10); !ok {
			return // fell behind the kept log; the client resumes from what is kept
		}
		if len(buf) > 0 {
			if _, err := w.Write(buf); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			buf = buf[:0]
			heartbeat.Reset(s.Heartbeat)
			continue
		}
		select {
		case <-sub.wake:
		case <-heartbeat.C:
			buf = append(buf, ": heartbeat\n\n"...)
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		}
	}
}

// writeError is the one way the no-op server reports an error.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// validRoom matches ^[a-z0-9][a-z0-9_-]{0,63}$.
func validRoom(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}
