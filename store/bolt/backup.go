package bolt

import (
	"errors"
	"fmt"
	"io"
	"os"

	bbolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole db file to w while the log
// keeps serving: one read transaction, which never blocks writers. size, if
// set, is called with the copy's length before any byte is written.
func (d *DB) Backup(w io.Writer, size func(int64)) (int64, error) {
	var n int64
	err := d.view(func(tx *bbolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// BackupFiles implements store.Files: one read transaction writes the
// copy and lists the objects it references; the eraser waits for it (as
// the scrubber waits for readers), so each is still there to read.
func (d *DB) BackupFiles(w io.Writer, size func(int64), object func(sum string) error) (int64, error) {
	var n int64
	err := d.view(func(tx *bbolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		if n, err = tx.WriteTo(w); err != nil {
			return err
		}
		return tx.Bucket(bucketFileObjs).ForEach(func(k, _ []byte) error { return object(string(k)) })
	})
	return n, err
}

// Compact copies the db at src into a new, minimal file at dst, leaving src
// untouched. bbolt never shrinks a file: after deleting or pruning much of a
// log, compacting a stopped server's file gives the space back. It fails if
// dst exists or src is in use.
func Compact(src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("compact: %s already exists", dst)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	in, err := openBolt(src, true, defaultLockTimeout)
	if err != nil {
		return fmt.Errorf("compact: open %s: %w", src, err)
	}
	defer in.Close()
	out, err := bbolt.Open(dst, 0o600, &bbolt.Options{NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("compact: create %s: %w", dst, err)
	}
	if err := bbolt.Compact(out, in, 64<<20); err != nil {
		out.Close()
		os.Remove(dst)
		return fmt.Errorf("compact: %w", err)
	}
	return out.Close()
}
