package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/parleychat/parley/store"
)

// unpackBackup writes a backup tar (GET /api/admin/backup?format=tar) as
// out and out.files/, the layout of a live server. Both are written under
// .partial names and renamed when complete, so a cut download never looks
// like a backup.
func (m *Main) unpackBackup(body io.Reader, out string) error {
	for _, p := range []string{out, out + ".files"} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("backup: %s already exists", p)
		}
	}
	db, dir := out+".partial", out+".files.partial"
	if err := os.MkdirAll(filepath.Join(dir, "objects"), 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(dir)
	defer os.Remove(db)
	var dbBytes int64
	objects := 0
	tr := tar.NewReader(body)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		var dst string
		switch rest, ok := strings.CutPrefix(h.Name, "parley.db.files/objects/"); {
		case h.Name == "parley.db":
			dst, dbBytes = db, h.Size
		case ok && len(rest) == 67 && rest[2] == '/' && rest[:2] == rest[3:5] && store.ValidateSHA256(rest[3:]) == nil:
			if err := os.MkdirAll(filepath.Join(dir, "objects", rest[:2]), 0o700); err != nil {
				return err
			}
			dst = filepath.Join(dir, "objects", rest[:2], rest[3:])
			objects++
		default:
			return fmt.Errorf("backup: unexpected entry %q", h.Name)
		}
		if err := writeSynced(dst, tr); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	if dbBytes == 0 {
		return errors.New("backup: the archive has no parley.db")
	}
	if err := os.Rename(dir, out+".files"); err != nil {
		return err
	}
	if err := os.Rename(db, out); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "wrote %s (%d bytes) and %s (%d files)\n", out, dbBytes, out+".files", objects)
	return nil
}

// writeSynced writes r to a new file at path and fsyncs it.
func writeSynced(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// linkFiles gives a compacted copy of a db its files: dst gets every
// object of src, hard-linked (objects are immutable), or copied where
// links fail. It returns how many; none if src does not exist.
func linkFiles(src, dst string) (int, error) {
	objects, err := filepath.Glob(filepath.Join(src, "objects", "*", "*"))
	if err != nil || len(objects) == 0 {
		return 0, err
	}
	if _, err := os.Stat(dst); err == nil {
		return 0, fmt.Errorf("%s already exists", dst)
	}
	for _, p := range objects {
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
			return 0, err
		}
		if os.Link(p, to) == nil {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return 0, err
		}
		err = writeSynced(to, f)
		f.Close()
		if err != nil {
			return 0, err
		}
	}
	return len(objects), nil
}
