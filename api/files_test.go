package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/api"
	"github.com/parleychat/parley/store"
)

// tinyPNG is a small opaque PNG with a thumbnail.
func tinyPNG(tb testing.TB) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	for x := 0; x < 40; x++ {
		img.Set(x, 0, color.RGBA{255, 0, 0, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "media", "testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// upload posts data raw as name to room and returns the answer.
func (s *testServer) upload(tb testing.TB, room, name string, data []byte, header ...string) response {
	tb.Helper()
	return s.do(tb, http.MethodPost, "/api/rooms/"+room+"/files?name="+name, "application/octet-stream", data, header...)
}

// mustUpload uploads and decodes the 201 answer.
func (s *testServer) mustUpload(tb testing.TB, room, name string, data []byte, header ...string) map[string]any {
	tb.Helper()
	resp := s.upload(tb, room, name, data, header...)
	if resp.status != http.StatusCreated {
		tb.Fatalf("upload %s: got %d %s", name, resp.status, resp.body)
	}
	var m map[string]any
	json.Unmarshal(resp.body, &m)
	return m
}

// mustPostFile uploads an image to room, posts a message carrying it and
// waits for its thumbnail; it returns the file's id.
func (s *testServer) mustPostFile(tb testing.TB, room string, data []byte, header ...string) string {
	tb.Helper()
	f := s.mustUpload(tb, room, "pic.png", data, header...)
	id := f["id"].(string)
	b, _ := json.Marshal(map[string]any{"text": "a picture", "files": []string{id}})
	if resp := s.do(tb, http.MethodPost, "/api/rooms/"+room+"/messages", "application/json", b, header...); resp.status != http.StatusCreated {
		tb.Fatalf("post with file: got %d %s", resp.status, resp.body)
	}
	waitUntil(tb, "the thumbnail", func() bool {
		return s.do(tb, http.MethodGet, "/api/rooms/"+room+"/files/"+id+"/thumb", "", nil, header...).status == http.StatusOK
	})
	return id
}

// waitUntil polls cond until it holds, failing after two minutes.
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUploadDownloadRange(t *testing.T) {
	s := mustStartServer(t)
	data := []byte("0123456789 hello, files")
	if r := s.upload(t, "general", "x", data); r.status != http.StatusBadRequest || !strings.Contains(r.errorMessage(t), "author") {
		t.Fatalf("no uploader without access control: got %d %s", r.status, r.body)
	}
	f := s.mustUpload(t, "general", "notes.txt&author=ann", data)
	if f["size"].(float64) != float64(len(data)) || f["name"] != "notes.txt" || len(f["sha256"].(string)) != 64 || len(f["id"].(string)) != 26 {
		t.Fatalf("answer: got %v", f)
	}
	url := "/api/rooms/general/files/" + f["id"].(string)
	full := s.do(t, http.MethodGet, url, "", nil)
	if full.status != http.StatusOK || !bytes.Equal(full.body, data) {
		t.Fatalf("GET: got %d %q", full.status, full.body)
	}
	for k, want := range map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"Content-Type":            "application/octet-stream",
		"Content-Security-Policy": "sandbox; default-src 'none'",
		"ETag":                    `"` + f["sha256"].(string) + `"`,
		"Accept-Ranges":           "bytes",
	} {
		if got := full.header.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(full.header.Get("Content-Disposition"), "attachment") {
		t.Errorf("Content-Disposition: got %q", full.header.Get("Content-Disposition"))
	}
	part := s.do(t, http.MethodGet, url, "", nil, "Range", "bytes=2-5")
	if part.status != http.StatusPartialContent || string(part.body) != "2345" || part.header.Get("Content-Range") != "bytes 2-5/23" {
		t.Fatalf("Range: got %d %q %q", part.status, part.body, part.header.Get("Content-Range"))
	}
	if r := s.do(t, http.MethodGet, url, "", nil, "Range", "bytes=100-"); r.status != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("Range past the end: got %d", r.status)
	}
	if r := s.do(t, http.MethodGet, url, "", nil, "If-None-Match", full.header.Get("ETag")); r.status != http.StatusNotModified {
		t.Fatalf("If-None-Match: got %d", r.status)
	}
	if r := s.do(t, http.MethodHead, url, "", nil); r.status != http.StatusOK || r.header.Get("Content-Length") != "23" {
		t.Fatalf("HEAD: got %d, length %q", r.status, r.header.Get("Content-Length"))
	}
}

func TestUploadAuthorWithoutAccessControl(t *testing.T) {
	s := mustStartServer(t)
	resp := s.do(t, http.MethodPost, "/api/rooms/general/files?name=a.txt&author=ann", "text/plain", []byte("from ann"))
	if resp.status != http.StatusCreated {
		t.Fatalf("upload: got %d %s", resp.status, resp.body)
	}
	var f map[string]any
	json.Unmarshal(resp.body, &f)
	post := func(author string) response {
		b, _ := json.Marshal(map[string]any{"author": author, "files": []string{f["id"].(string)}})
		return s.do(t, http.MethodPost, "/api/rooms/general/messages", "application/json", b)
	}
	if r := post("bob"); r.status != http.StatusBadRequest {
		t.Fatalf("another author attaches ann's upload: got %d %s", r.status, r.body)
	}
	r := post("ann")
	if r.status != http.StatusCreated || !bytes.Contains(r.body, []byte(`"files":[{"id":"`+f["id"].(string)+`","name":"a.txt","size":8`)) {
		t.Fatalf("post: got %d %s", r.status, r.body)
	}
}

func TestUploadMultipart(t *testing.T) {
	s := mustStartServer(t)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, name := range []string{"one.txt", "two.png"} {
		w, _ := mw.CreateFormFile("file", name)
		if name == "two.png" {
			w.Write(tinyPNG(t))
		} else {
			w.Write([]byte("one"))
		}
	}
	mw.Close()
	resp := s.do(t, http.MethodPost, "/api/rooms/general/files?author=ann", mw.FormDataContentType(), body.Bytes())
	var out struct {
		Files []struct {
			ID, Name, Type string
			Inline         bool
		}
	}
	if err := json.Unmarshal(resp.body, &out); resp.status != http.StatusCreated || err != nil || len(out.Files) != 2 {
		t.Fatalf("multipart: got %d %s", resp.status, resp.body)
	}
	if out.Files[1].Type != "image/png" || !out.Files[1].Inline || out.Files[0].Inline {
		t.Fatalf("types: got %+v", out.Files)
	}
}

func TestUploadLimits(t *testing.T) {
	s := mustStartServer(t, func(srv *api.Server) {
		srv.FileLimits.MaxFileBytes = 1000
		srv.FileLimits.UserQuota = 1500
		srv.FileLimits.UploadsPerMinute = 12 // a burst of 4
	})
	big := bytes.Repeat([]byte("x"), 1001)
	if r := s.upload(t, "general", "big&author=ann", big); r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.errorMessage(t), "1000 bytes") {
		t.Fatalf("over the limit: got %d %s", r.status, r.body)
	}
	if r := s.upload(t, "general", "a&author=ann", bytes.Repeat([]byte("y"), 1000)); r.status != http.StatusCreated {
		t.Fatalf("at the limit: got %d %s", r.status, r.body)
	}
	if r := s.upload(t, "general", "b&author=ann", bytes.Repeat([]byte("z"), 600)); r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.errorMessage(t), "quota") {
		t.Fatalf("over the quota: got %d %s", r.status, r.body)
	}
	// ann has spent three of her burst of four.
	var got429 bool
	for i := 0; i < 4 && !got429; i++ {
		r := s.upload(t, "general", "c&author=ann", []byte("tiny"))
		got429 = r.status == http.StatusTooManyRequests && r.header.Get("Retry-After") != ""
	}
	if !got429 {
		t.Fatal("no 429 after the burst")
	}
	if r := s.upload(t, "general", "bad.png&author=ann", fixture(t, "gps.png")[:200]); r.status != http.StatusBadRequest && r.status != http.StatusTooManyRequests {
		t.Fatalf("a damaged PNG: got %d %s", r.status, r.body)
	}
}

func TestMaxFilesPerMessage(t *testing.T) {
	s := mustStartServer(t, func(srv *api.Server) { srv.FileLimits.MaxFilesPerMessage = 2 })
	var ids []string
	for i := range 3 {
		ids = append(ids, s.mustUpload(t, "general", fmt.Sprintf("f%d&author=ann", i), []byte{byte(i)})["id"].(string))
	}
	post := func(ids []string) response {
		b, _ := json.Marshal(map[string]any{"author": "ann", "files": ids})
		return s.do(t, http.MethodPost, "/api/rooms/general/messages", "application/json", b)
	}
	if r := post(ids); r.status != http.StatusBadRequest || !strings.Contains(r.errorMessage(t), "at most 2 files") {
		t.Fatalf("three files: got %d %s", r.status, r.body)
	}
	if r := post(ids[:2]); r.status != http.StatusCreated {
		t.Fatalf("two files: got %d %s", r.status, r.body)
	}
}

func TestDamagedImageRefused(t *testing.T) {
	s := mustStartServer(t)
	r := s.upload(t, "general", "bad.png&author=ann", fixture(t, "gps.png")[:200])
	if r.status != http.StatusBadRequest || !strings.Contains(r.errorMessage(t), "damaged") {
		t.Fatalf("a damaged PNG: got %d %s", r.status, r.body)
	}
}

// TestFileAccessEdges: the rows of the access table that need a pending
// file or a URL naming the wrong room.
func TestFileAccessEdges(t *testing.T) {
	s := mustStartAuthServer(t)
	alice := s.addUser(t, "alice")
	bob := s.addUser(t, "bob")
	s.mustCall(t, http.StatusOK, "PUT", "/api/rooms/priv/access", map[string]any{"private": true, "members": []string{"alice", "bob"}}, s.admin...)
	pending := s.mustUpload(t, "priv", "draft.txt", []byte("not sent yet"), alice...)["id"].(string)
	sent := s.mustPostFile(t, "priv", tinyPNG(t), alice...)
	guest := s.guest(t, "acme", "Carol")
	for _, tc := range []struct {
		name   string
		path   string
		header []string
		want   int
	}{
		{"uploader sees her pending upload", "/api/rooms/priv/files/" + pending, alice, 200},
		{"another member does not", "/api/rooms/priv/files/" + pending, bob, 404},
		{"nor an admin", "/api/rooms/priv/files/" + pending, s.admin, 404},
		{"a sent file", "/api/rooms/priv/files/" + sent, bob, 200},
		{"the wrong room in the URL", "/api/rooms/general/files/" + sent, bob, 404},
		{"the wrong room, thumbnail", "/api/rooms/general/files/" + sent + "/thumb", bob, 404},
		{"a guest of another room, by the file's room", "/api/rooms/priv/files/" + sent, guest, 403},
		{"a guest, by its own room", "/api/rooms/acme/files/" + sent, guest, 404},
		{"a guest, thumbnail by its own room", "/api/rooms/acme/files/" + sent + "/thumb", guest, 404},
		{"a malformed id", "/api/rooms/priv/files/NOT-AN-ID", bob, 404},
		{"an unknown id", "/api/rooms/priv/files/aaaaaaaaaaaaaaaaaaaaaaaaaa", bob, 404},
		{"anonymous", "/api/rooms/priv/files/" + sent, nil, 401},
	} {
		if got, body := s.status(t, http.MethodGet, tc.path, "", tc.header...); got != tc.want {
			t.Errorf("%s: got %d %s, want %d", tc.name, got, body, tc.want)
		}
	}
	// bob cannot send alice's upload, nor alice send it as bob.
	if got, body := s.status(t, http.MethodPost, "/api/rooms/priv/messages", `{"files":["`+pending+`"]}`, bob...); got != 400 {
		t.Errorf("bob posts alice's upload: got %d %s, want 400", got, body)
	}
	if got, body := s.status(t, http.MethodPost, "/api/rooms/priv/files?name=x&author=bob", "x", alice...); got != 403 {
		t.Errorf("alice uploads as bob: got %d %s, want 403", got, body)
	}
}

// TestHostileFilesAreAttachments: HTML and SVG are never inline.
func TestHostileFilesAreAttachments(t *testing.T) {
	s := mustStartServer(t)
	for _, name := range []string{"hostile.html", "script.svg"} {
		f := s.mustUpload(t, "general", name+"&author=ann", fixture(t, name))
		r := s.do(t, http.MethodGet, "/api/rooms/general/files/"+f["id"].(string), "", nil)
		if !strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment") ||
			r.header.Get("Content-Type") != "application/octet-stream" ||
			!strings.HasPrefix(r.header.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("%s: served with %v", name, r.header)
		}
	}
}

// TestEXIFGPSGoneAfterUpload: what is stored and served has no metadata
// but the orientation; -keep-metadata keeps it.
func TestEXIFGPSGoneAfterUpload(t *testing.T) {
	for _, keep := range []bool{false, true} {
		s := mustStartServer(t, func(srv *api.Server) { srv.FileLimits.KeepMetadata = keep })
		for _, name := range []string{"gps.jpg", "gps.png"} {
			orig := fixture(t, name)
			f := s.mustUpload(t, "general", name+"&author=ann", orig)
			got := s.do(t, http.MethodGet, "/api/rooms/general/files/"+f["id"].(string), "", nil).body
			if keep {
				if !bytes.Equal(got, orig) {
					t.Errorf("%s with KeepMetadata: stored %d bytes, sent %d", name, len(got), len(orig))
				}
				continue
			}
			had := 0
			for _, secret := range []string{"GPS", "FixtureCam", "SN123456789", "Alice Fixture", "taken at home", "exif:GPSLatitude"} {
				if bytes.Contains(orig, []byte(secret)) {
					had++
				}
				if bytes.Contains(got, []byte(secret)) {
					t.Errorf("%s: %q survived the upload", name, secret)
				}
			}
			if had == 0 {
				t.Fatalf("%s holds none of the markers: the test proves nothing", name)
			}
			if len(got) >= len(orig) {
				t.Errorf("%s: stored %d bytes of %d", name, len(got), len(orig))
			}
		}
	}
}

// TestPNGBombRefused: a 20,000 × 20,000 PNG is stored as a file but no
// thumbnail is made of it, and the server never decodes its pixels.
func TestPNGBombRefused(t *testing.T) {
	s := mustStartServer(t)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	f := s.mustUpload(t, "general", "bomb.png&author=ann", fixture(t, "bomb.png"))
	url := "/api/rooms/general/files/" + f["id"].(string) + "/thumb"
	waitUntil(t, "the thumbnail's verdict", func() bool {
		r := s.do(t, http.MethodGet, url, "", nil)
		return r.status == http.StatusNotFound && strings.Contains(r.errorMessage(t), "has no thumbnail")
	})
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if m := s.do(t, http.MethodGet, "/metrics", "", nil); !strings.Contains(string(m.body), "parley_thumbnails_refused_total 1") ||
		!strings.Contains(string(m.body), "parley_files 1") {
		t.Errorf("metrics do not count the refused thumbnail and the file")
	}
	// Decoding would allocate 400 MB at least; the whole test far less.
	if got := after.TotalAlloc - before.TotalAlloc; got > 200<<20 {
		t.Fatalf("allocated %d MiB while refusing the bomb", got>>20)
	}
}

// TestDeleteErasesFileBytes: after a message is deleted, no byte of its
// file is left in the db file or the files directory; a file with the
// same content held by another message stays, once.
func TestDeleteErasesFileBytes(t *testing.T) {
	s := mustStartServer(t)
	gone := []byte("MARKER-gone-7f3a9c " + strings.Repeat("g", 5000))
	kept := []byte("MARKER-kept-41d2e8 " + strings.Repeat("k", 5000))
	post := func(room string, data []byte) string {
		name := "kept.bin"
		if bytes.Equal(data, gone) {
			name = "NAMEMARK-gone-5be1.bin" // the name goes too: records, event, stale copies
		}
		f := s.mustUpload(t, room, name+"&author=ann", data)
		b, _ := json.Marshal(map[string]any{"author": "ann", "text": "file", "files": []string{f["id"].(string)}})
		r := s.do(t, http.MethodPost, "/api/rooms/"+room+"/messages", "application/json", b)
		var m map[string]any
		json.Unmarshal(r.body, &m)
		return m["id"].(string)
	}
	doomed := post("a", gone)
	post("b", kept)
	alsoKept := post("a", kept)
	for _, id := range []string{doomed, alsoKept} {
		if r := s.do(t, http.MethodDelete, "/api/rooms/a/messages/"+id+"?author=ann", "", nil); r.status != http.StatusCreated {
			t.Fatalf("delete: got %d %s", r.status, r.body)
		}
	}
	count := func(marker string) int {
		n := 0
		filepath.Walk(filepath.Dir(s.db.Path), func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				b, _ := os.ReadFile(p)
				n += bytes.Count(b, []byte(marker))
			}
			return nil
		})
		return n
	}
	waitUntil(t, "the deleted file's bytes and name erased", func() bool {
		return count("MARKER-gone-7f3a9c") == 0 && count("NAMEMARK-gone-5be1") == 0
	})
	if n := count("MARKER-kept-41d2e8"); n != 1 {
		t.Fatalf("content another message holds: found %d times, want 1", n)
	}
	if _, err := s.db.File(t.Context(), "aaaaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown file: %v", err)
	}
}
