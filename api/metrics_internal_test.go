package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/julienschmidt/httprouter"

	"github.com/parleychat/parley/store/bolt"
)

// discardWriter is a ResponseWriter that costs nothing, so the benchmark
// measures the wrapper alone.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkInstrument is the cost instrument adds to every request: the
// counter, the histogram and the status writer. Compare with /bare.
func BenchmarkInstrument(b *testing.B) {
	db := bolt.NewDB(filepath.Join(b.TempDir(), "parley.db"))
	if err := db.Open(); err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s := NewServer(db)
	s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	h := func(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) { w.WriteHeader(http.StatusCreated) }
	r := httptest.NewRequest(http.MethodPost, "/api/rooms/a/messages", nil)
	w := &discardWriter{h: http.Header{}}
	for _, bm := range []struct {
		name string
		h    httprouter.Handle
	}{
		{"bare", h},
		{"instrumented", s.instrument(http.MethodPost, "/api/rooms/:room/messages", false, h)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bm.h(w, r, nil)
			}
		})
	}
}
