package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleychat/parley/store/jetstream/natstest"
)

// raw sends a request with a body of its own type and returns the
// response's status, headers and body.
func (cc clusterClient) raw(method, path, contentType string, body []byte, header ...string) (int, http.Header, []byte) {
	cc.tb.Helper()
	req, err := http.NewRequest(method, cc.url+path, bytes.NewReader(body))
	if err != nil {
		cc.tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+cc.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cc.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		cc.tb.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestClusterFilesAcrossNodes: an image uploaded through node A, posted
// through node B, is served by B byte for byte, with Range and a
// thumbnail; deleting the message through A makes it 404 on both.
func TestClusterFilesAcrossNodes(t *testing.T) {
	c := natstest.Start(t, 3)
	a, b := startClusterNode(t, c, "a", ""), startClusterNode(t, c, "b", "")
	tok := newToken(t, a.url)
	ca, cb := clusterClient{t, a.url, tok}, clusterClient{t, b.url, tok}

	img := image.NewRGBA(image.Rect(0, 0, 300, 200))
	for x := range 300 {
		for y := range 200 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	var pic bytes.Buffer
	if err := png.Encode(&pic, img); err != nil {
		t.Fatal(err)
	}
	status, _, body := ca.raw(http.MethodPost, "/api/rooms/r/files?name=pic.png", "image/png", pic.Bytes())
	var up struct{ ID, SHA256 string }
	if status != http.StatusCreated || json.Unmarshal(body, &up) != nil {
		t.Fatalf("upload through A: %d %s", status, body)
	}
	status, _, body = cb.raw(http.MethodPost, "/api/rooms/r/messages", "application/json",
		fmt.Appendf(nil, `{"text":"a picture","files":[%q]}`, up.ID))
	var msg struct{ ID string }
	if status != http.StatusCreated || json.Unmarshal(body, &msg) != nil {
		t.Fatalf("post through B carrying A's upload: %d %s", status, body)
	}

	status, _, got := cb.raw(http.MethodGet, "/api/rooms/r/files/"+up.ID, "", nil)
	if sum := sha256.Sum256(got); status != http.StatusOK || hex.EncodeToString(sum[:]) != up.SHA256 {
		t.Fatalf("B serves the file: %d, %d bytes, want the upload's %s", status, len(got), up.SHA256)
	}
	status, h, part := cb.raw(http.MethodGet, "/api/rooms/r/files/"+up.ID, "", nil, "Range", "bytes=10-19")
	if status != http.StatusPartialContent || !bytes.Equal(part, got[10:20]) || h.Get("Content-Range") == "" {
		t.Fatalf("B's Range answer: %d %q %q", status, part, h.Get("Content-Range"))
	}
	if !waitFor(func() bool {
		status, h, _ := cb.raw(http.MethodGet, "/api/rooms/r/files/"+up.ID+"/thumb", "", nil)
		return status == http.StatusOK && h.Get("Content-Type") != ""
	}) {
		t.Fatal("B never served the thumbnail A made")
	}

	// A backup from B holds the file's bytes.
	if status, _, backup := cb.raw(http.MethodGet, "/api/admin/backup?format=tar", "", nil); status != http.StatusOK || !bytes.Contains(backup, got) {
		t.Fatalf("backup from B: %d, %d bytes, the file's bytes in it: %v", status, len(backup), bytes.Contains(backup, got))
	}

	// A zip export from A imported into another cluster (on streams of
	// its own, on the same NATS servers) through its node C: the imported
	// file is registered through that cluster's stream and served by D.
	status, _, zipped := ca.raw(http.MethodGet, "/api/rooms/r/export?format=zip", "", nil)
	if status != http.StatusOK {
		t.Fatalf("zip export from A: %d %s", status, zipped)
	}
	other := func(name string) clusterClient {
		n := startBinary(t, os.Args[0], []string{"PARLEY_TEST_CHILD=1", "PARLEY_ADMIN_PASSWORD=" + clusterPassword},
			"serve", "-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), name+".db"), "-auth", "on", "-limits=false",
			"-cluster", strings.Join(c.URLs(), ","), "-node", name, "-cluster-stream", "OTHER")
		return clusterClient{t, n.url, newToken(t, n.url)}
	}
	cc, cd := other("c"), other("d")
	status, _, body = cc.raw(http.MethodPost, "/api/rooms/r/import", "application/zip", zipped)
	if status != http.StatusOK && status != http.StatusCreated {
		t.Fatalf("zip import through C: %d %s", status, body)
	}
	if !waitFor(func() bool {
		status, _, got2 := cd.raw(http.MethodGet, "/api/rooms/r/files/"+up.ID, "", nil)
		return status == http.StatusOK && bytes.Equal(got2, got)
	}) {
		t.Fatal("D does not serve the file C imported")
	}
	if status, _, _ := ca.raw(http.MethodGet, "/api/rooms/r/files/"+up.ID, "", nil); status != http.StatusOK {
		t.Fatalf("the first cluster lost its file to the second's import: %d", status)
	}

	status, _, body = ca.raw(http.MethodDelete, "/api/rooms/r/messages/"+msg.ID, "", nil)
	if status != http.StatusOK && status != http.StatusNoContent && status != http.StatusCreated {
		t.Fatalf("delete through A: %d %s", status, body)
	}
	for _, cc := range []clusterClient{ca, cb} {
		for _, path := range []string{"/api/rooms/r/files/" + up.ID, "/api/rooms/r/files/" + up.ID + "/thumb"} {
			if !waitFor(func() bool {
				status, _, _ := cc.raw(http.MethodGet, path, "", nil)
				return status == http.StatusNotFound
			}) {
				t.Fatalf("%s still serves %s after the delete", cc.url, path)
			}
		}
	}
}
