package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
)

func TestImportOverHTTPRoundTrips(t *testing.T) {
	a := mustStartServer(t)
	m := a.post(t, "r", map[string]string{"author": "ann", "text": "multi\nline <i>", "client_id": "k"}, 201)
	a.post(t, "r", map[string]string{"author": "bo", "text": "re", "reply_to": m.ID.String()}, 201)
	a.do(t, "PATCH", "/api/rooms/r/messages/"+m.ID.String(), "application/json", []byte(`{"author":"ann","text":"edited"}`))
	a.do(t, "POST", "/api/rooms/r/messages/"+m.ID.String()+"/reactions", "application/json", []byte(`{"author":"bo","emoji":"🎉"}`))
	export := a.do(t, "GET", "/api/rooms/r/export", "", nil).body

	b := mustStartServer(t, func(s *api.Server) { s.MaxImportBytes = 1 << 20 })
	resp := b.do(t, "POST", "/api/rooms/r/import", "application/jsonl", export)
	var rep store.ImportReport
	if json.Unmarshal(resp.body, &rep); resp.status != 200 || rep.Imported != 4 {
		t.Fatalf("import: %d %s", resp.status, resp.body)
	}
	if again := b.do(t, "GET", "/api/rooms/r/export", "", nil).body; !bytes.Equal(again, export) {
		t.Fatalf("re-export differs:\n%s\nwant\n%s", again, export)
	}
	if got, want := b.do(t, "GET", "/api/rooms/r/messages", "", nil).body, a.do(t, "GET", "/api/rooms/r/messages", "", nil).body; !bytes.Equal(got, want) {
		t.Fatalf("history differs:\n%s\nwant\n%s", got, want)
	}
	resp = b.do(t, "POST", "/api/rooms/r/import", "application/jsonl", export)
	if json.Unmarshal(resp.body, &rep); resp.status != 200 || rep.Imported != 0 || rep.Skipped != 4 {
		t.Fatalf("second import: %d %s", resp.status, resp.body)
	}

	lines := strings.SplitAfter(string(export), "\n")
	bad := lines[0] + "{oops\n" + strings.Join(lines[1:], "")
	for _, tc := range []struct {
		name, room string
		body       []byte
		want       int
		msg        string
	}{
		{"bad line", "r", []byte(bad), 400, "line 2:"},
		{"wrong room", "other", export, 400, "line 1:"},
		{"too large", "fresh", bytes.Repeat([]byte("x"), 2<<20), 413, "larger than"},
		{"bad room name", "Bad", export, 400, "room"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := b.do(t, "POST", "/api/rooms/"+tc.room+"/import", "application/jsonl", tc.body)
			if resp.status != tc.want || !strings.Contains(resp.errorMessage(t), tc.msg) {
				t.Fatalf("got %d %s, want %d with %q", resp.status, resp.body, tc.want, tc.msg)
			}
		})
	}
	if resp := b.do(t, "GET", "/api/rooms/fresh/export", "", nil); resp.status != 404 {
		t.Fatalf("a failed import left a room behind: %d", resp.status)
	}
}

func TestBackupOverHTTPWhileWriting(t *testing.T) {
	s := mustStartServer(t)
	var (
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e := s.post(t, "r", map[string]string{"author": "w", "text": fmt.Sprint(w, i)}, 201)
				mu.Lock()
				acked = append(acked, e.ID.String())
				mu.Unlock()
			}
		}(w)
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 50 })
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	resp := s.do(t, "GET", "/api/admin/backup", "", nil)
	close(stop)
	wg.Wait()
	if resp.status != 200 || !strings.HasPrefix(resp.header.Get("Content-Disposition"), `attachment; filename="parley-`) ||
		resp.header.Get("Content-Length") != fmt.Sprint(len(resp.body)) {
		t.Fatalf("backup: %d %v", resp.status, resp.header)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	os.WriteFile(path, resp.body, 0o600)
	rep, err := bolt.Verify(path)
	if err != nil || !rep.OK() {
		t.Fatalf("backup does not verify: %v %+v", err, rep)
	}
	db := bolt.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	have := map[string]bool{}
	recs, _ := db.ReadAfter(t.Context(), []string{"r"}, [16]byte{}, 1_000_000)
	for _, r := range recs {
		have[r.ID.String()] = true
	}
	for _, id := range before {
		if !have[id] {
			t.Fatalf("event %s, acknowledged before the backup began, is not in it", id)
		}
	}
}

func TestRoomSettings(t *testing.T) {
	s := mustStartServer(t, func(s *api.Server) { s.DefaultRetention = store.Retention{Events: 1000} })
	s.post(t, "r", map[string]string{"author": "a", "text": "x"}, 201)
	if resp := s.do(t, "GET", "/api/rooms/r/settings", "", nil); string(resp.body) != `{"retention":null,"default_retention":{"events":1000}}`+"\n" {
		t.Fatalf("got %d %s", resp.status, resp.body)
	}
	resp := s.do(t, "PUT", "/api/rooms/r/settings", "application/json", []byte(`{"retention":{"events":50,"for":"720h"}}`))
	if resp.status != 200 {
		t.Fatalf("put: %d %s", resp.status, resp.body)
	}
	if resp := s.do(t, "GET", "/api/rooms/r/settings", "", nil); !strings.Contains(string(resp.body), `"retention":{"events":50,"for":"720h0m0s"}`) {
		t.Fatalf("after put: %s", resp.body)
	}
	for _, tc := range []struct {
		name, path, ct, body string
		want                 int
	}{
		{"bad room name", "/api/rooms/No%20Room/settings", "application/json", `{"retention":null}`, 400},
		{"negative", "/api/rooms/r/settings", "application/json", `{"retention":{"events":-1}}`, 400},
		{"bad duration", "/api/rooms/r/settings", "application/json", `{"retention":{"for":"soon"}}`, 400},
		{"too short", "/api/rooms/r/settings", "application/json", `{"retention":{"for":"1s"}}`, 400},
		{"unknown field", "/api/rooms/r/settings", "application/json", `{"retain":1}`, 400},
		{"form", "/api/rooms/r/settings", "application/x-www-form-urlencoded", `retention=1`, 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.do(t, "PUT", tc.path, tc.ct, []byte(tc.body))
			if resp.status != tc.want {
				t.Fatalf("got %d %s, want %d", resp.status, resp.body, tc.want)
			}
			resp.errorMessage(t)
		})
	}
	if resp := s.do(t, "PUT", "/api/rooms/r/settings", "application/json", []byte(`{"retention":null}`)); !strings.Contains(string(resp.body), `"retention":null`) {
		t.Fatalf("reset to default: %s", resp.body)
	}
}

// TestRoomSettingsBeforeFirstMessage: an admin can read and set a room's
// retention before anyone posts in it, and it holds once someone does.
func TestRoomSettingsBeforeFirstMessage(t *testing.T) {
	s := mustStartServer(t)
	if resp := s.do(t, "GET", "/api/rooms/support/settings", "", nil); resp.status != 200 || !strings.Contains(string(resp.body), `"retention":null`) {
		t.Fatalf("get: got %d %s, want 200 and the default", resp.status, resp.body)
	}
	want := `"retention":{"events":5000,"for":"720h0m0s"}`
	if resp := s.do(t, "PUT", "/api/rooms/support/settings", "application/json", []byte(`{"retention":{"events":5000,"for":"720h"}}`)); resp.status != 200 || !strings.Contains(string(resp.body), want) {
		t.Fatalf("put: got %d %s, want 200", resp.status, resp.body)
	}
	s.post(t, "support", map[string]string{"author": "a", "text": "first"}, 201)
	if resp := s.do(t, "GET", "/api/rooms/support/settings", "", nil); resp.status != 200 || !strings.Contains(string(resp.body), want) {
		t.Fatalf("after the first message: got %d %s, want %s", resp.status, resp.body, want)
	}
}

// waitFor polls cond until it holds, for up to a minute: generous, because
// the machine may be busy with other tests, and a met condition ends the
// wait at once.
func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met within a minute")
		}
	}
}

// importLine is one event line of room r dated at, for import tests.
func importLine(at time.Time, fields string) string {
	id := ulid.MustNew(ulid.Timestamp(at), strings.NewReader(strings.Repeat("\x07", 16)))
	return fmt.Sprintf(`{"id":"%s","room":"r","type":"message","author":"ann","time":"%s"%s}`+"\n",
		id, time.UnixMilli(int64(id.Time())).UTC().Format(store.TimeFormat), fields)
}

// TestImportRulesOverHTTP: an import is refused with a 400 naming the line,
// and nothing stored, when it would date the id sequence into the future,
// has a line longer than any event, text over the limit, or a change an
// append would refuse; afterwards posts carry the server's time.
func TestImportRulesOverHTTP(t *testing.T) {
	s := mustStartServerWith(t, func(d *bolt.DB) { d.MaxTextBytes = 64 }, nil, func(s *api.Server) { s.MaxMessageBytes = 64 })
	past := time.Now().Add(-time.Hour)
	first := importLine(past, `,"text":"hello"`)
	var msg store.Event
	msg.UnmarshalJSON([]byte(first))
	edit := strings.Replace(importLine(past.Add(time.Second), `,"text":"hijacked","target":"`+msg.ID.String()+`"`), `"type":"message","author":"ann"`, `"type":"edit","author":"mallory"`, 1)
	for _, tc := range []struct {
		name, body, want string
	}{
		{"an id from the year 9999", importLine(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), `,"text":"from the future"`), "line 1: id: "},
		{"an id a day ahead", first + importLine(time.Now().Add(24*time.Hour), `,"text":"tomorrow"`), "line 2: id: "},
		{"a line over 4 MiB", first + strings.Repeat("x", 5<<20) + "\n", "line 2: longer than"},
		{"text over the limit", importLine(past, `,"text":"`+strings.Repeat("y", 65)+`"`), "line 1: text too large"},
		{"an edit by another author", first + edit, "line 2: edit by \"mallory\" of a message by \"ann\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.do(t, "POST", "/api/rooms/r/import", "application/jsonl", []byte(tc.body))
			if got := resp.errorMessage(t); resp.status != 400 || !strings.HasPrefix(got, tc.want) {
				t.Fatalf("got %d %q, want 400 %q", resp.status, got, tc.want)
			}
		})
	}
	if resp := s.do(t, "GET", "/api/rooms/r/export", "", nil); resp.status != 404 {
		t.Fatalf("a refused import stored something: %d %s", resp.status, resp.body)
	}
	e := s.post(t, "r", map[string]string{"author": "ann", "text": "now"}, 201)
	if d := time.Since(e.Time); d.Abs() > time.Hour {
		t.Fatalf("a post after the refused imports is dated %s", e.Time)
	}
}
