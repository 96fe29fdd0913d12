package api

import (
	"archive/tar"
	"fmt"
	"io"
	"net/http"
)

// backupTar: GET /api/admin/backup?format=tar streams a tar of parley.db
// (the consistent copy a plain backup is) followed by every object that
// copy references, as parley.db.files/objects/<xx>/<sha256>: unpacked, it
// is a server's files, ready to start on (docs/files.md, "Backup").
func (s *Server) backupTar(w http.ResponseWriter, r *http.Request) {
	started := false
	tw := tar.NewWriter(w)
	now := s.Now().UTC()
	_, err := s.Files.BackupFiles(tw, func(size int64) {
		started = true
		h := w.Header()
		h.Set("Content-Type", "application/x-tar")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="parley-%s.tar"`, now.Format("20060102")))
		tw.WriteHeader(&tar.Header{Name: "parley.db", Mode: 0o600, Size: size, ModTime: now, Typeflag: tar.TypeReg})
	}, func(sum string) error {
		b, err := s.Files.Blobs().Open(sum)
		if err != nil {
			return fmt.Errorf("object %s: %w", sum, err)
		}
		defer b.Close()
		if err := tw.WriteHeader(&tar.Header{Name: "parley.db.files/objects/" + sum[:2] + "/" + sum, Mode: 0o400,
			Size: b.Size(), ModTime: b.ModTime(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = io.Copy(tw, b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	switch {
	case err == nil:
	case !started:
		s.writeError(w, r, err)
	default:
		s.Logger.Error("backup", "err", err)
		panic(http.ErrAbortHandler)
	}
}
