package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store"
)

// seed appends n events to room through the log, 16 at a time.
func seed(tb testing.TB, s *testServer, room string, n int) {
	tb.Helper()
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				if _, _, err := s.db.Append(context.Background(), store.Event{Room: room, Type: store.TypeMessage, Author: "seed", Text: fmt.Sprint(i)}); err != nil {
					tb.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
}

func TestExportStreamsTheWholeLog(t *testing.T) {
	s := mustStartServer(t, func(s *api.Server) {
		s.Now = func() time.Time { return time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC) }
	})
	const n = 2500 // several read chunks
	seed(t, s, "big", n)
	seed(t, s, "other", 10)
	resp := s.do(t, "GET", "/api/rooms/big/export?format=jsonl", "", nil)
	if resp.status != http.StatusOK {
		t.Fatalf("got %d %s", resp.status, resp.body)
	}
	if got, want := resp.header.Get("Content-Disposition"), `attachment; filename="big-20261121.jsonl"`; got != want {
		t.Errorf("Content-Disposition: got %q, want %q", got, want)
	}
	lines := strings.Split(strings.TrimSuffix(string(resp.body), "\n"), "\n")
	recs, err := s.db.ReadAfter(context.Background(), []string{"big"}, ulid.ULID{}, n+1)
	if err != nil || len(recs) != n {
		t.Fatalf("log has %d, %v", len(recs), err)
	}
	if len(lines) != n {
		t.Fatalf("got %d lines, want %d", len(lines), n)
	}
	for i := range lines {
		if lines[i] != string(recs[i].JSON) {
			t.Fatalf("line %d: got %s, want %s", i, lines[i], recs[i].JSON)
		}
	}
	for path, want := range map[string]int{
		"/api/rooms/nope/export":            http.StatusNotFound,
		"/api/rooms/Bad/export":             http.StatusBadRequest,
		"/api/rooms/big/export?format=docx": http.StatusBadRequest,
	} {
		resp := s.do(t, "GET", path, "", nil)
		if resp.status != want {
			t.Errorf("%s: got %d, want %d", path, resp.status, want)
		}
		resp.errorMessage(t)
	}
}
