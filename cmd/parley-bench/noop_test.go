package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func mustClient(tb testing.TB, url string) *client {
	tb.Helper()
	c, err := newClient(url, 4, time.Minute, access{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.close)
	return c
}

func mustPost(tb testing.TB, c *client, room, text string) string {
	tb.Helper()
	id, err := c.post(context.Background(), room, text)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// mustReadEvents reads n message events from a stream, returning id and text pairs.
func mustReadEvents(tb testing.TB, st *stream, n int) [][2]string {
	tb.Helper()
	var out [][2]string
	for len(out) < n {
		ev, err := st.sse.Next()
		if err != nil {
			tb.Fatalf("after %d events: %v", len(out), err)
		}
		text, _ := jsonStringField(ev.Data, "text")
		out = append(out, [2]string{string(ev.ID), string(text)})
	}
	return out
}

func TestNoopMessages(t *testing.T) {
	c := mustClient(t, mustStartNoop(t).URL())
	ctx := context.Background()
	var ids []string
	for _, text := range []string{"a", "b", "c", "d"} {
		ids = append(ids, mustPost(t, c, "general", text))
	}
	for i := 1; i < len(ids); i++ {
		if len(ids[i]) != 26 || ids[i] <= ids[i-1] {
			t.Fatalf("got ids %q, want increasing 26-character ids", ids)
		}
	}
	hist, err := c.history(ctx, "general", ids[0], 10)
	if err != nil || len(hist) != 3 || hist[0].ID != ids[1] || hist[2].Text != "d" {
		t.Fatalf("got %v, %v; want b, c, d", hist, err)
	}

	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"a", "b", "c", "d"}},
		{"?limit=2", []string{"c", "d"}},
		{"?before=" + ids[2] + "&limit=1", []string{"b"}},
		{"?after=" + ids[0] + "&limit=2", []string{"b", "c"}},
		{"?after=" + ids[0] + "&before=" + ids[3], []string{"b", "c"}},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, c.base+"/api/rooms/general/messages"+tt.query, nil)
		b, err := c.do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct{ Events []histEvent }
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range page.Events {
			got = append(got, e.Text)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: got %q, want %q", tt.query, got, tt.want)
		}
	}
}

func TestNoopErrors(t *testing.T) {
	c := mustClient(t, mustStartNoop(t).URL())
	tests := []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/api/rooms/Bad/messages", `{"author":"a","text":"b"}`, 400},
		{"POST", "/api/rooms/ok/messages", `{"author":"a"}`, 400},
		{"POST", "/api/rooms/ok/messages", `not json`, 400},
		{"GET", "/api/rooms/ok/messages?limit=1001", "", 400},
		{"GET", "/api/events?rooms=a,B", "", 400},
		{"GET", "/api/rooms/-x/events", "", 400},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, c.base+tt.path, strings.NewReader(tt.body))
		_, err := c.do(req)
		var se *statusError
		if !errors.As(err, &se) || se.Code != tt.want || !strings.Contains(se.Body, `"error"`) {
			t.Errorf("%s %s: got %v, want status %d with an error body", tt.method, tt.path, err, tt.want)
		}
	}
}

func TestNoopClientID(t *testing.T) {
	c := mustClient(t, mustStartNoop(t).URL())
	post := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPost, c.base+"/api/rooms/general/messages",
			strings.NewReader(`{"author":"a","text":"hi","client_id":"c1"}`))
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ev struct{ ID string }
		json.NewDecoder(resp.Body).Decode(&ev)
		return resp.StatusCode, ev.ID
	}
	code1, id1 := post()
	code2, id2 := post()
	if code1 != 201 || code2 != 200 || id1 != id2 {
		t.Fatalf("got %d %s then %d %s, want 201 then 200 with the same id", code1, id1, code2, id2)
	}
}

func TestNoopStreams(t *testing.T) {
	c := mustClient(t, mustStartNoop(t).URL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a1 := mustPost(t, c, "a", "a1")
	mustPost(t, c, "b", "b1")
	mustPost(t, c, "a", "a2")

	t.Run("resume by header across rooms", func(t *testing.T) {
		st, err := c.openStream(ctx, "/api/events?rooms=a,b", a1, 4096)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if got := mustReadEvents(t, st, 2); got[0][1] != "b1" || got[1][1] != "a2" {
			t.Fatalf("got %v, want b1 then a2", got)
		}
		if st.sse.Retry != 2*time.Second {
			t.Fatalf("got retry %v, want 2s", st.sse.Retry)
		}
		mustPost(t, c, "b", "b2")
		if got := mustReadEvents(t, st, 1); got[0][1] != "b2" {
			t.Fatalf("got %v, want live b2", got)
		}
	})
	t.Run("resume by query from the start", func(t *testing.T) {
		st, err := c.openStream(ctx, "/api/rooms/a/events?last_event_id="+zeroID, "", 4096)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if got := mustReadEvents(t, st, 2); got[0][0] != a1 || got[1][1] != "a2" {
			t.Fatalf("got %v, want a1 then a2", got)
		}
	})
	t.Run("rooms list", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, c.base+"/api/rooms", nil)
		b, err := c.do(req)
		if err != nil || !strings.Contains(string(b), `"name":"a","events":2`) {
			t.Fatalf("got %s, %v", b, err)
		}
	})
}

func TestNoopCloseTwice(t *testing.T) {
	s := mustStartNoop(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: got %v, want nil", err)
	}
}
