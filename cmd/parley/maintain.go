package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
)

// importCmd uploads a JSON-lines, zip or tar export into a room of a
// running server.
func (m *Main) importCmd(ctx context.Context, args []string) error {
	fs := m.newFlagSet("import", "FILE.jsonl, FILE.zip or FILE.tar (or - for stdin)")
	c := clientFlags(fs)
	room := fs.String("room", "", "room to import into (required)")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if *room == "" || fs.NArg() != 1 {
		fs.Usage()
		return errors.New("import needs -room and one file")
	}
	var body io.Reader = m.Stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		body = f
	}
	resp, err := c.do(ctx, http.MethodPost, "/api/rooms/"+url.PathEscape(*room)+"/import", body, "Content-Type", importType(fs.Arg(0)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var rep store.ImportReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "imported %d events, %d already there, from %d lines\n", rep.Imported, rep.Skipped, rep.Lines)
	return nil
}

// importType is the Content-Type of an export file, by its extension; the
// server knows a zip or tar sent as jsonl (from stdin) by its first bytes.
func importType(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".zip":
		return "application/zip"
	case ".tar":
		return "application/x-tar"
	}
	return "application/jsonl"
}

// backup downloads a consistent copy of a running server's db.
func (m *Main) backup(ctx context.Context, args []string) error {
	fs := m.newFlagSet("backup", "")
	c := clientFlags(fs)
	out := fs.String("o", "", "file to write (required; must not exist)")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return errors.New("backup needs -o FILE")
	}
	resp, err := c.do(ctx, http.MethodGet, "/api/admin/backup?format=tar", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") == "application/x-tar" {
		return m.unpackBackup(resp.Body, *out) // the db and its files
	}
	// Write next to the target and rename, so a cut download never looks
	// like a backup.
	f, err := os.OpenFile(*out+".partial", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	n, err := io.Copy(f, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("got %d of %d bytes", n, resp.ContentLength)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("backup: %s already exists", *out)
	}
	if err := os.Rename(f.Name(), *out); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "wrote %s (%d bytes)\n", *out, n)
	return nil
}

// verify checks a db file offline and fails if anything is wrong.
func (m *Main) verify(_ context.Context, args []string) error {
	fs := m.newFlagSet("verify", "")
	db := fs.String("db", "parley.db", "database file to check (stop the server first, or check a backup)")
	quick := fs.Bool("quick", false, "check the files' sizes, not their SHA-256 (faster: reads no file)")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	verify := bolt.Verify
	if *quick {
		verify = bolt.VerifyQuick
	}
	rep, err := verify(*db)
	if err != nil {
		return fmt.Errorf("verify %s: %w", *db, err)
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(m.Stdout, "problem:", p)
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(m.Stdout, "note:", n)
	}
	if !rep.OK() {
		return fmt.Errorf("verify %s: %d problems in %d rooms, %d events", *db, len(rep.Problems), rep.Rooms, rep.Events)
	}
	fmt.Fprintf(m.Stdout, "%s: ok, %d rooms, %d events", *db, rep.Rooms, rep.Events)
	if rep.Files > 0 {
		fmt.Fprintf(m.Stdout, ", %d files", rep.Files)
	}
	fmt.Fprintln(m.Stdout)
	return nil
}

// compact copies a stopped server's db into a new, minimal file.
func (m *Main) compact(_ context.Context, args []string) error {
	fs := m.newFlagSet("compact", "")
	db := fs.String("db", "parley.db", "database file to compact (the server must be stopped)")
	out := fs.String("o", "", "new file to write (required; must not exist)")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return errors.New("compact needs -o FILE")
	}
	before, err := os.Stat(*db)
	if err != nil {
		return err
	}
	if err := bolt.Compact(*db, *out); err != nil {
		return err
	}
	if n, err := linkFiles(*db+".files", *out+".files"); err != nil {
		return fmt.Errorf("compact: the files: %w", err)
	} else if n > 0 {
		fmt.Fprintf(m.Stdout, "linked %d files into %s\n", n, *out+".files")
	}
	after, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "wrote %s: %d bytes, was %d\n", *out, after.Size(), before.Size())
	return nil
}

// dropFuture removes the events of a stopped server's db that are dated in
// the future (an import before parley held imports to the clock could put
// them there; verify names them), keeping a copy of each in a file.
func (m *Main) dropFuture(_ context.Context, args []string) error {
	fs := m.newFlagSet("drop-future", "")
	db := fs.String("db", "parley.db", "database file to repair (the server must be stopped; back it up first)")
	out := fs.String("o", "", "file to write the removed events to, as JSON lines (required; must not exist)")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return errors.New("drop-future needs -o FILE for the removed events")
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := bolt.DropFutureEvents(*db, time.Now(), f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("drop-future %s: %w", *db, err)
	}
	fmt.Fprintf(m.Stdout, "%s: removed %d events dated in the future; they are in %s\n", *db, n, *out)
	return nil
}
