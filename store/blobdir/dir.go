// Package blobdir keeps file contents (store.Blobs) in a directory beside
// the database: objects/<2 hex>/<sha256>, each written to tmp/, fsynced,
// renamed into place and its directory fsynced before Commit returns. See
// docs/files.md ("Where the bytes live", "Crash safety").
package blobdir

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/parleychat/parley/store"
)

// Dir is a store.Blobs in a directory. It is safe for concurrent use.
type Dir struct {
	path string
}

// Open opens (creating it, mode 0700) the directory at path and empties its
// tmp/: what is there is uploads a crash cut short, never visible.
func Open(path string) (*Dir, error) {
	for _, p := range []string{path, filepath.Join(path, "objects"), filepath.Join(path, "tmp")} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, fmt.Errorf("files directory: %w", err)
		}
	}
	tmp := filepath.Join(path, "tmp")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil, fmt.Errorf("files directory: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return nil, fmt.Errorf("empty %s: %w", tmp, err)
		}
	}
	return &Dir{path: path}, nil
}

// View returns the directory at path for reading (Open, Stat, Walk)
// without preparing it: offline checks use it on a stopped server's files.
func View(path string) *Dir { return &Dir{path: path} }

// Path returns the directory.
func (d *Dir) Path() string { return d.path }

// objectPath is where object sum lives.
func (d *Dir) objectPath(sum string) (string, error) {
	if err := store.ValidateSHA256(sum); err != nil {
		return "", err
	}
	return filepath.Join(d.path, "objects", sum[:2], sum), nil
}

// Create implements store.Blobs.
func (d *Dir) Create() (store.BlobWriter, error) {
	f, err := os.CreateTemp(filepath.Join(d.path, "tmp"), "up-*")
	if err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	return &writer{d: d, f: f, h: sha256.New()}, nil
}

// writer streams one object to tmp/, hashing it.
type writer struct {
	d    *Dir
	f    *os.File
	h    hash.Hash
	n    int64
	done bool
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// Commit implements store.BlobWriter: fsync, rename into place (or drop
// the copy if the content is there already), fsync the directory.
func (w *writer) Commit() (string, int64, error) {
	if w.done {
		return "", 0, errors.New("blobdir: commit after commit or abort")
	}
	w.done = true
	sum := hex.EncodeToString(w.h.Sum(nil))
	tmp := w.f.Name()
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		os.Remove(tmp)
		return "", 0, fmt.Errorf("fsync upload: %w", err)
	}
	if err := w.f.Close(); err != nil {
		os.Remove(tmp)
		return "", 0, err
	}
	dst, _ := w.d.objectPath(sum)
	dir := filepath.Dir(dst)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			os.Remove(tmp)
			return "", 0, err
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			os.Remove(tmp)
			return "", 0, err
		}
	}
	if st, err := os.Stat(dst); err == nil && st.Size() == w.n {
		// The same content is stored: keep the one in place, made young
		// again, so the collection of unreferenced objects, which spares
		// recent ones, leaves it to the upload about to register it.
		os.Remove(tmp)
		now := time.Now()
		if err := os.Chtimes(dst, now, now); err != nil {
			return "", 0, err
		}
		return sum, w.n, nil
	}
	if err := os.Chmod(tmp, 0o400); err != nil {
		os.Remove(tmp)
		return "", 0, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return "", 0, fmt.Errorf("place object: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return "", 0, err
	}
	return sum, w.n, nil
}

// Abort implements store.BlobWriter.
func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.f.Name())
}

// Open implements store.Blobs.
func (d *Dir) Open(sum string) (store.Blob, error) {
	p, err := d.objectPath(sum)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, store.NotFound("object " + sum)
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &blob{File: f, size: st.Size(), mod: st.ModTime()}, nil
}

type blob struct {
	*os.File
	size int64
	mod  time.Time
}

func (b *blob) Size() int64        { return b.size }
func (b *blob) ModTime() time.Time { return b.mod }

// Stat implements store.Blobs.
func (d *Dir) Stat(sum string) (int64, error) {
	p, err := d.objectPath(sum)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0, store.NotFound("object " + sum)
	}
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Erase implements store.Blobs: zeros over the bytes, fsync, unlink, fsync
// the directory. Copy-on-write file systems and SSDs may keep old blocks
// (docs/files.md, "Deletion and redaction").
func (d *Dir) Erase(sum string) error {
	p, err := d.objectPath(sum)
	if err != nil {
		return err
	}
	if err := os.Chmod(p, 0o600); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err == nil {
		zeros := make([]byte, 64<<10)
		for left := st.Size(); left > 0 && err == nil; {
			n := min(left, int64(len(zeros)))
			_, err = f.Write(zeros[:n])
			left -= n
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("overwrite object %s: %w", sum, err)
	}
	if err := os.Remove(p); err != nil {
		return err
	}
	return syncDir(filepath.Dir(p))
}

// Walk implements store.Blobs.
func (d *Dir) Walk(fn func(sum string, size int64, mod time.Time) error) error {
	root := filepath.Join(d.path, "objects")
	dirs, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil // no object yet
	}
	if err != nil {
		return err
	}
	for _, sub := range dirs {
		if !sub.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(root, sub.Name()))
		if err != nil {
			return err
		}
		for _, e := range entries {
			if store.ValidateSHA256(e.Name()) != nil {
				continue
			}
			info, err := e.Info()
			if errors.Is(err, os.ErrNotExist) {
				continue // erased meanwhile
			}
			if err != nil {
				return err
			}
			if err := fn(e.Name(), info.Size(), info.ModTime()); err != nil {
				return err
			}
		}
	}
	return nil
}

// syncDir fsyncs a directory, so an entry created or removed in it survives
// a crash.
func syncDir(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return nil
}

var _ io.Writer = (*writer)(nil)
