package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/parleychat/parley/web"
)

// contentSecurityPolicy allows the page only its own scripts, styles and
// connections, and nothing framing it.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// asset is one embedded file with its validator.
type asset struct {
	body  []byte
	etag  string
	ctype string
}

// assets holds the web client, read once at start.
type assets struct {
	files map[string]asset // by path in web.FS
}

func loadAssets() (*assets, error) {
	a := &assets{files: map[string]asset{}}
	err := fs.WalkDir(web.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web.FS, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = http.DetectContentType(b)
		}
		a.files[p] = asset{body: b, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`, ctype: ctype}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load web assets: %w", err)
	}
	if _, ok := a.files["index.html"]; !ok {
		return nil, fmt.Errorf("load web assets: index.html missing")
	}
	return a, nil
}

// handleIndex serves the single page for / and for /r/:room links.
func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.serveAsset(w, r, "index.html")
}

// handleAsset serves /assets/NAME.
func (s *Server) handleAsset(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	p := strings.TrimPrefix(ps.ByName("path"), "/")
	s.serveAsset(w, r, "assets/"+p)
}

// serveAsset answers with the file and its ETag. Browsers must revalidate
// (no-cache), so an upgraded server's assets are picked up at once, and an
// unchanged file costs a 304.
func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := s.assets.files[name]
	if !ok {
		s.writeError(w, r, errorf(http.StatusNotFound, "no such file: /%s", name))
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Referrer-Policy", "no-referrer")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
