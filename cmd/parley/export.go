package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// export downloads one room, or every room, in one of the server's formats:
// to stdout, a file, a directory (one file per room) or a tar stream.
func (m *Main) export(ctx context.Context, args []string) error {
	fs := m.newFlagSet("export", "")
	c := clientFlags(fs)
	room := fs.String("room", "", "room to export")
	all := fs.Bool("all", false, "export every room: one file each into the -o directory, or a tar stream to stdout")
	format := fs.String("format", "jsonl", "jsonl (the raw log, lossless), json, md, txt, html, csv, or zip or tar (the log, an HTML page and the files)")
	since := fs.String("since", "", "only events after this event id, or from this RFC 3339 time, or this long ago (24h)")
	until := fs.String("until", "", "only events up to this event id, RFC 3339 time, or this long ago")
	out := fs.String("o", "", "write to this file (with -all, into this directory, created if missing) instead of stdout")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		fs.Usage()
		return fmt.Errorf("export takes no arguments, got %q", fs.Args())
	case *all && *room != "":
		return errors.New("export: use -room or -all, not both")
	case !*all && *room == "":
		fs.Usage()
		return errors.New("export needs -room or -all")
	}
	ex := exporter{client: c, query: url.Values{"format": {*format}}}
	if *since != "" {
		ex.query.Set("since", *since)
	}
	if *until != "" {
		ex.query.Set("until", *until)
	}
	if !*all {
		return ex.download(ctx, *room, func(_ string, body io.Reader) error {
			if *out == "" {
				_, err := io.Copy(m.Stdout, body)
				return err
			}
			_, err := writeFile(*out, body)
			return err
		})
	}
	rooms, err := ex.rooms(ctx)
	if err != nil {
		return err
	}
	if len(rooms) == 0 {
		fmt.Fprintln(m.Stderr, "parley: the server has no rooms")
	}
	if *out == "" {
		return ex.tar(ctx, m.Stdout, rooms)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("export -o %s: %w", *out, err)
	}
	for _, r := range rooms {
		err := ex.download(ctx, r, func(name string, body io.Reader) error {
			path := filepath.Join(*out, name)
			n, err := writeFile(path, body)
			if err == nil {
				fmt.Fprintf(m.Stderr, "parley: wrote %s (%d bytes)\n", path, n)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// exporter downloads exports from one server with the same query.
type exporter struct {
	client *client
	query  url.Values // format, since, until
}

// rooms lists the server's rooms by name.
func (ex exporter) rooms(ctx context.Context) ([]string, error) {
	resp, err := ex.get(ctx, "/api/rooms")
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	defer resp.Body.Close()
	var list struct {
		Rooms []struct {
			Name string `json:"name"`
		} `json:"rooms"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	names := make([]string, len(list.Rooms))
	for i, r := range list.Rooms {
		names[i] = r.Name
	}
	return names, nil
}

// download exports room and hands write the body and the server's name
// for the file.
func (ex exporter) download(ctx context.Context, room string, write func(name string, body io.Reader) error) error {
	resp, err := ex.get(ctx, "/api/rooms/"+url.PathEscape(room)+"/export?"+ex.query.Encode())
	if err != nil {
		return fmt.Errorf("export %s: %w", room, err)
	}
	defer resp.Body.Close()
	if err := write(attachmentName(resp.Header.Get("Content-Disposition"), room+"."+ex.query.Get("format")), resp.Body); err != nil {
		return fmt.Errorf("export %s: %w", room, err)
	}
	return nil
}

// get GETs path and fails unless the server answers 200.
func (ex exporter) get(ctx context.Context, path string) (*http.Response, error) {
	return ex.client.do(ctx, http.MethodGet, path, nil)
}

// tar writes every room's export to w as a tar stream. A tar header needs
// the file's size first, so each export is spooled to a temporary file:
// memory stays bounded however large the rooms.
func (ex exporter) tar(ctx context.Context, w io.Writer, rooms []string) error {
	tw := tar.NewWriter(w)
	for _, room := range rooms {
		err := ex.download(ctx, room, func(name string, body io.Reader) error {
			tmp, err := os.CreateTemp("", "parley-export-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			defer tmp.Close()
			n, err := io.Copy(tmp, body)
			if err != nil {
				return err
			}
			if _, err := tmp.Seek(0, io.SeekStart); err != nil {
				return err
			}
			hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: n, ModTime: time.Now().Truncate(time.Second)}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			_, err = io.Copy(tw, tmp)
			return err
		})
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// attachmentName is the file name a Content-Disposition header suggests,
// if it is a plain name (no directories, not hidden), else fallback.
func attachmentName(header, fallback string) string {
	_, params, err := mime.ParseMediaType(header)
	name := params["filename"]
	if err != nil || name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") || filepath.Base(name) != name {
		return fallback
	}
	return name
}

// writeFile writes body to path through a temporary file in the same
// directory, renamed into place once complete: a failed download leaves no
// partial file behind.
func writeFile(path string, body io.Reader) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // not the temporary name
		}
		return 0, fmt.Errorf("create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	n, err := io.Copy(tmp, body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return n, err
}
