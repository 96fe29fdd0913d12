package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
)

// export downloads a room's history as JSON lines to stdout or a file.
func (m *Main) export(ctx context.Context, args []string) error {
	fs := m.newFlagSet("export", "")
	server := serverFlag(fs)
	room := fs.String("room", "", "room to export (required)")
	out := fs.String("o", "", "write to this file instead of stdout")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if *room == "" {
		fs.Usage()
		return errors.New("export needs -room")
	}
	u, err := endpoint(*server, "/api/rooms/"+url.PathEscape(*room)+"/export?format=jsonl")
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readError(resp)
	}
	w := m.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("export %s: %w", *room, err)
	}
	if f, ok := w.(*os.File); ok && f != os.Stdout {
		return f.Close()
	}
	return nil
}
