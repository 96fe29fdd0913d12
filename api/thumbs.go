package api

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"

	"github.com/parleychat/parley/media"
	"github.com/parleychat/parley/store"
)

// thumbnailer makes thumbnails after uploads are answered, one per two
// cores, at least one (decoding is memory- and CPU-hungry: docs/files.md;
// the other cores stay for text), from a bounded
// queue; when the queue is full the work is dropped, and the file shows
// without a preview.
type thumbnailer struct {
	files  store.Files
	make   *media.Thumbnailer
	logger *slog.Logger

	queue chan store.File
	wg    sync.WaitGroup
	once  sync.Once
	// made and refused count thumbnails, for tests and metrics.
	mu            sync.Mutex // guards made, refused
	made, refused int
}

func newThumbnailer(files store.Files, logger *slog.Logger) *thumbnailer {
	t := &thumbnailer{files: files, make: media.NewThumbnailer(), logger: logger, queue: make(chan store.File, 64)}
	for range max(1, runtime.NumCPU()/2) {
		t.wg.Add(1)
		go t.work()
	}
	return t
}

// submit queues f for a thumbnail if its type has one. A nil thumbnailer
// does nothing.
func (t *thumbnailer) submit(f store.File) {
	if t == nil || !media.Thumbnailable(f.Type) {
		return
	}
	select {
	case t.queue <- f:
	default:
		t.logger.Warn("thumbnail queue full: no preview", "file", f.ID)
	}
}

// stop finishes the thumbnails under way and drops the queue.
func (t *thumbnailer) stop() {
	if t == nil {
		return
	}
	t.once.Do(func() { close(t.queue) })
	t.wg.Wait()
}

func (t *thumbnailer) work() {
	defer t.wg.Done()
	for f := range t.queue {
		err := t.thumb(f)
		if errors.Is(err, media.ErrTooManyPixels) || errors.Is(err, media.ErrMalformed) || errors.Is(err, media.ErrNoThumbnail) {
			// Final: say so, so the file's page stops waiting for one.
			if serr := t.files.SetThumb(context.Background(), f.ID, store.Thumb{None: true}); serr != nil && !errors.Is(serr, store.ErrNotFound) {
				t.logger.Error("thumbnail", "file", f.ID, "err", serr)
			}
		}
		t.mu.Lock()
		if err != nil {
			t.refused++
		} else {
			t.made++
		}
		t.mu.Unlock()
		if err != nil && !errors.Is(err, media.ErrTooManyPixels) && !errors.Is(err, media.ErrMalformed) &&
			!errors.Is(err, media.ErrNoThumbnail) && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrClosed) {
			t.logger.Error("thumbnail", "file", f.ID, "err", err)
		}
	}
}

func (t *thumbnailer) thumb(f store.File) error {
	b, err := t.files.Blobs().Open(f.SHA256)
	if err != nil {
		return err
	}
	th, err := t.make.Make(b, f.Type)
	b.Close()
	if err != nil {
		return err
	}
	w, err := t.files.Blobs().Create()
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := w.Write(th.Data); err != nil {
		return err
	}
	sum, _, err := w.Commit()
	if err != nil {
		return err
	}
	return t.files.SetThumb(context.Background(), f.ID, store.Thumb{SHA256: sum, Type: th.Type, Width: th.Width, Height: th.Height})
}
