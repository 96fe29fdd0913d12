package api

import (
	"context"
	"sync"
)

// watches are the open streams of identified callers, so that taking access
// away also ends the streams that had it.
type watches struct {
	mu sync.Mutex // guards m
	m  map[*watch]struct{}
}

// watch is one open stream.
type watch struct {
	id     identity
	rooms  []string
	cancel context.CancelFunc
}

func (ws *watches) add(w *watch) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.m == nil {
		ws.m = map[*watch]struct{}{}
	}
	ws.m[w] = struct{}{}
}

func (ws *watches) remove(w *watch) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	delete(ws.m, w)
}

func (ws *watches) all() []*watch {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	all := make([]*watch, 0, len(ws.m))
	for w := range ws.m {
		all = append(all, w)
	}
	return all
}

// accessChanged re-checks every open stream after a change to credentials,
// users or rooms, and ends those whose caller lost access. It returns once
// they are told to end.
func (s *Server) accessChanged() {
	ctx := context.Background()
	for _, w := range s.streams.all() {
		cred, u, err := s.Accounts.Identify(ctx, w.id.hash, s.Now())
		if err == nil {
			id := identity{name: u.Name, role: u.Role, room: cred.Room, cred: cred, hash: w.id.hash}
			err = s.checkRooms(ctx, id, w.rooms)
		}
		if err != nil {
			w.cancel()
		}
	}
}

// AccessChanged re-checks every open stream and ends those whose caller
// lost access, as after the server's own account changes. Cluster mode
// calls it when any node's account change was applied here. It is safe
// to call at any time after Open.
func (s *Server) AccessChanged() {
	if s.Accounts != nil {
		s.accessChanged()
	}
}
