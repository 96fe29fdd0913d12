package api_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/stream"
)

func TestStreamOpensAtOnceWithHeaders(t *testing.T) {
	s := mustStartServer(t, func(s *api.Server) { s.Retry = 1500 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /api/rooms/a/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	// Headers and the retry line arrive with no event posted: nothing buffers.
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Content-Encoding": "",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "retry: 1500\n" {
		t.Fatalf("first line: got %q, %v", line, err)
	}
}

func TestStreamHeartbeat(t *testing.T) {
	s := mustStartServer(t, func(s *api.Server) { s.Heartbeat = 50 * time.Millisecond })
	resp, err := http.Get(s.URL() + "/api/rooms/a/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	// The retry line, the hello, the room's presence, the live marker and
	// the stream's own presence, then a comment.
	for i := 0; i < 100; i++ {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, ":") {
			return
		}
	}
	t.Fatal("no heartbeat comment")
}

func TestStreamResumes(t *testing.T) {
	s := mustStartServer(t)
	for _, tc := range []struct {
		name string
		path func(ids []string) (string, []string) // path and headers
		want string
	}{
		{"query cursor", func(ids []string) (string, []string) {
			return "?last_event_id=" + ids[3], nil
		}, "4,5"},
		{"header cursor", func(ids []string) (string, []string) {
			return "", []string{"Last-Event-ID", ids[1]}
		}, "2,3,4,5"},
		{"header wins over query", func(ids []string) (string, []string) {
			return "?last_event_id=" + ids[0], []string{"Last-Event-ID", ids[4]}
		}, "5"},
		{"zero cursor replays all", func(ids []string) (string, []string) {
			return "?last_event_id=00000000000000000000000000", nil
		}, "0,1,2,3,4,5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			room := strings.ReplaceAll(tc.name, " ", "-")
			var ids []string
			for i := 0; i < 6; i++ {
				ids = append(ids, s.post(t, room, map[string]string{"author": "x", "text": fmt.Sprint(i)}, 201).ID.String())
			}
			query, header := tc.path(ids)
			r, stop := s.openStream(t, "/api/rooms/"+room+"/events"+query, header...)
			defer stop()
			n := strings.Count(tc.want, ",") + 1
			if got := texts(nextEvents(t, r, n)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			// Then live.
			live := s.post(t, room, map[string]string{"author": "x", "text": "live"}, 201)
			if got := nextEvents(t, r, 1); got[0].ID != live.ID {
				t.Fatalf("live: got %s %s, want %s", got[0].ID, got[0].Text, live.ID)
			}
		})
	}
}

func TestStreamRejectsBadRequests(t *testing.T) {
	s := mustStartServer(t, func(s *api.Server) { s.MaxStreamRooms = 3 })
	for _, tc := range []struct {
		path   string
		header []string
	}{
		{"/api/rooms/a/events?last_event_id=nope", nil},
		{"/api/rooms/a/events", []string{"Last-Event-ID", "01ARZ3NDEKTSV4RRFFQ69G5FA"}},
		{"/api/rooms/Bad/events", nil},
		{"/api/events", nil},
		{"/api/events?rooms=", nil},
		{"/api/events?rooms=a,Bad", nil},
		{"/api/events?rooms=a,b,c,d", nil},
	} {
		resp := s.do(t, "GET", tc.path, "", nil, tc.header...)
		if resp.status != http.StatusBadRequest {
			t.Errorf("%s %v: got %d, want 400", tc.path, tc.header, resp.status)
			continue
		}
		resp.errorMessage(t)
	}
}

func TestStreamFramingCannotBeInjected(t *testing.T) {
	s := mustStartServer(t)
	r, stop := s.openStream(t, "/api/rooms/a/events?last_event_id=00000000000000000000000000")
	defer stop()
	payloads := []string{
		"line1\nline2",
		"cr\ronly",
		"crlf\r\nend",
		"x\n\nevent: admin\ndata: {\"id\":\"forged\"}\n\n",
		"id: 7ZZZZZZZZZZZZZZZZZZZZZZZZZ\n\n",
		"trailing\n",
	}
	for _, p := range payloads {
		s.post(t, "a", map[string]string{"author": "x", "text": p}, 201)
	}
	got := nextEvents(t, r, len(payloads))
	for i, e := range got {
		if e.Text != payloads[i] || e.Type != "message" {
			t.Errorf("event %d: got %q (%s), want %q", i, e.Text, e.Type, payloads[i])
		}
	}
}

func TestMultiRoomStream(t *testing.T) {
	s := mustStartServer(t)
	first := s.post(t, "a", map[string]string{"author": "x", "text": "a0"}, 201)
	s.post(t, "c", map[string]string{"author": "x", "text": "c0"}, 201)
	s.post(t, "b", map[string]string{"author": "x", "text": "b0"}, 201)
	s.post(t, "a", map[string]string{"author": "x", "text": "a1"}, 201)
	r, stop := s.openStream(t, "/api/events?rooms=a,b,a", "Last-Event-ID", first.ID.String())
	defer stop()
	if got := texts(nextEvents(t, r, 2)); got != "b0,a1" {
		t.Fatalf("replay: got %s, want b0,a1", got)
	}
	s.post(t, "c", map[string]string{"author": "x", "text": "c1"}, 201)
	s.post(t, "b", map[string]string{"author": "x", "text": "b1"}, 201)
	if got := texts(nextEvents(t, r, 1)); got != "b1" {
		t.Fatalf("live: got %s, want b1", got)
	}
}

// TestDroppingSubscribersSeeEverythingOnce runs writers in two rooms while
// subscribers drop their streams at random points and resume with
// Last-Event-ID: each must end with every event exactly once, in order.
func TestDroppingSubscribersSeeEverythingOnce(t *testing.T) {
	s := mustStartServer(t)
	const writers, each, subscribers = 8, 40, 6
	rooms := []string{"a", "b"}

	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				s.post(t, rooms[(w+i)%2], map[string]string{"author": "w", "text": fmt.Sprintf("w%d-%d", w, i)}, 201)
			}
		}(w)
	}

	got := make([][]string, subscribers)
	var subs sync.WaitGroup
	for sub := 0; sub < subscribers; sub++ {
		subs.Add(1)
		go func(sub int) {
			defer subs.Done()
			rng := rand.New(rand.NewPCG(uint64(sub), 1))
			last := "00000000000000000000000000"
			for len(got[sub]) < writers*each {
				// Read a random number of events, then drop the connection.
				ctx, cancel := context.WithCancel(context.Background())
				req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/api/events?rooms=a,b", nil)
				req.Header.Set("Last-Event-ID", last)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					cancel()
					return
				}
				r := stream.NewReader(resp.Body, 1<<20)
				for n := rng.IntN(30); n >= 0 && len(got[sub]) < writers*each; n-- {
					e, err := nextLogged(r)
					if err != nil {
						t.Errorf("subscriber %d: %v", sub, err)
						break
					}
					got[sub] = append(got[sub], e.ID)
					last = e.ID
				}
				cancel()
				resp.Body.Close()
			}
		}(sub)
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { subs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("subscribers did not receive every event")
	}

	// The truth: both rooms' histories merged in id order.
	var want []string
	for _, e := range s.history(t, "/api/rooms/a/messages?limit=1000") {
		want = append(want, e.ID.String())
	}
	for _, e := range s.history(t, "/api/rooms/b/messages?limit=1000") {
		want = append(want, e.ID.String())
	}
	slices.Sort(want)
	if len(want) != writers*each {
		t.Fatalf("stored %d events, want %d", len(want), writers*each)
	}
	for sub, ids := range got {
		if strings.Join(ids, ",") != strings.Join(want, ",") {
			t.Fatalf("subscriber %d got %d events, not the log's %d in order", sub, len(ids), len(want))
		}
	}
}
