package stream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/oklog/ulid/v2"
	"github.com/parleychat/parley/store"
)

// Event is one Server-Sent Event as it travels on the wire.
type Event struct {
	// ID is the event's id or, for an event without an id line, the last
	// id the stream set before it: what a client resumes from.
	ID   string
	Type string
	Data string
	// NoID marks an event that had no id line of its own: a stream marker
	// (hello, live, reset) or an ephemeral event, never part of history.
	NoID bool
}

// ErrUnencodable is returned by AppendEvent for an event the SSE format
// cannot carry: an id or type with a line break (or an id with NUL), or
// empty data, which a client would never dispatch.
var ErrUnencodable = errors.New("event cannot be encoded as SSE")

// AppendEvent appends e in SSE framing to dst, without an id line if
// e.NoID is set. Data is split at every CR, LF or CRLF into data lines, so
// no text can break the framing; a client sees the data with its line
// breaks turned into LF.
func AppendEvent(dst []byte, e Event) ([]byte, error) {
	if strings.ContainsAny(e.ID, "\r\n\x00") || strings.ContainsAny(e.Type, "\r\n") || e.Data == "" {
		return dst, ErrUnencodable
	}
	if !e.NoID {
		dst = append(dst, "id: "...)
		dst = append(dst, e.ID...)
		dst = append(dst, '\n')
	}
	if e.Type != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, e.Type...)
		dst = append(dst, '\n')
	}
	return appendData(dst, []byte(e.Data)), nil
}

// appendData writes data as data lines and ends the event.
func appendData(dst, data []byte) []byte {
	for {
		i := indexLineBreak(data)
		dst = append(dst, "data: "...)
		if i < 0 {
			dst = append(dst, data...)
			return append(dst, '\n', '\n')
		}
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
}

// indexLineBreak returns the index of the first CR or LF in s, or -1. Two
// vectorised IndexByte scans beat one byte loop on the long JSON lines that
// make up nearly all data (which holds neither). It takes bytes only: a
// generic version copied its argument into a string on every call.
func indexLineBreak(s []byte) int {
	i := bytes.IndexByte(s, '\n')
	end := len(s)
	if i >= 0 {
		end = i
	}
	if j := bytes.IndexByte(s[:end], '\r'); j >= 0 {
		return j
	}
	return i
}

// appendRecord frames a stored record: its id, its type as the event name
// and its JSON (always one line) as data.
func appendRecord(dst []byte, rec store.Record) []byte {
	var id [ulid.EncodedSize]byte
	_ = rec.ID.MarshalTextTo(id[:]) // cannot fail: the buffer has the size
	dst = append(dst, "id: "...)
	dst = append(dst, id[:]...)
	dst = append(dst, "\nevent: "...)
	dst = append(dst, rec.Type...)
	dst = append(dst, '\n')
	return appendData(dst, rec.JSON)
}

// appendMarker frames an event without id: a stream marker or an
// ephemeral event, whose JSON data is one line.
func appendMarker(dst []byte, typ string, data []byte) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, typ...)
	dst = append(dst, '\n')
	return appendData(dst, data)
}

// appendHello frames the hello that starts every stream: the server, the
// rooms, where it resumes from and whether it lost nothing there
// (recovered), its connection id and who it belongs to.
func appendHello(dst []byte, server string, req Request, conn string, recovered bool) []byte {
	type you struct {
		Name  string `json:"name"`
		Guest bool   `json:"guest"`
	}
	h := struct {
		Server      string   `json:"server"`
		Rooms       []string `json:"rooms"`
		ResumedFrom string   `json:"resumed_from"`
		Recovered   bool     `json:"recovered"`
		Connection  string   `json:"connection"`
		You         *you     `json:"you"`
	}{Server: server, Rooms: req.Rooms, Recovered: recovered, Connection: conn}
	if req.Resume {
		h.ResumedFrom = req.Cursor.String()
	}
	if !req.Who.Anonymous() {
		h.You = &you{req.Who.Name, req.Who.Guest}
	}
	b, _ := json.Marshal(h)
	return appendMarker(dst, "hello", b)
}

// appendLive frames the live marker: the stream has sent everything up to
// last (zero: nothing), and what follows is live.
func appendLive(dst []byte, last ulid.ULID) []byte {
	id := ""
	if last != (ulid.ULID{}) {
		id = last.String()
	}
	return appendMarker(dst, "live", []byte(`{"last_id":"`+id+`"}`))
}

// appendReset frames a reset: events of room after requested were deleted
// by retention, and oldest is the oldest left (zero: none). It carries no
// id, so the client's last event id stays where it was.
func appendReset(dst []byte, room string, requested, oldest ulid.ULID) []byte {
	var o string
	if oldest != (ulid.ULID{}) {
		o = `"` + oldest.String() + `"`
	} else {
		o = "null"
	}
	return appendMarker(dst, "reset", []byte(`{"room":"`+room+`","requested":"`+requested.String()+`","oldest":`+o+`}`))
}

// Reader parses an SSE stream by the rules of the HTML standard: lines end in
// CR, LF or CRLF; comments are skipped; data lines are joined with LF; an
// event without data is not dispatched; the last event id carries over.
type Reader struct {
	sc      *bufio.Scanner
	lastID  string
	started bool // past the first line, where a BOM may stand
	// Retry is the last reconnection time the server sent, in ms (0: none).
	Retry int
}

// NewReader returns a Reader of r that accepts lines up to maxLine bytes.
func NewReader(r io.Reader, maxLine int) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	sc.Split(scanLines)
	return &Reader{sc: sc}
}

// Next returns the next dispatched event, or io.EOF (or the read error) when
// the stream ends; an unfinished event at the end is discarded.
func (r *Reader) Next() (Event, error) {
	var (
		typ     string
		data    strings.Builder
		hasData bool
		hasID   bool
	)
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if !r.started {
			line = bytes.TrimPrefix(line, []byte("\ufeff"))
			r.started = true
		}
		if len(line) == 0 {
			if !hasData {
				typ, hasID = "", false
				continue
			}
			if typ == "" {
				typ = "message"
			}
			d := data.String()
			return Event{ID: r.lastID, Type: typ, Data: d[:len(d)-1], NoID: !hasID}, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			typ = string(value)
		case "data":
			data.Write(value)
			data.WriteByte('\n')
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.lastID, hasID = string(value), true
			}
		case "retry":
			if n, err := strconv.Atoi(string(value)); err == nil && n >= 0 && isDigits(value) {
				r.Retry = n
			}
		}
	}
	if err := r.sc.Err(); err != nil {
		return Event{}, err
	}
	return Event{}, io.EOF
}

// LastID returns the last event id the stream set.
func (r *Reader) LastID() string { return r.lastID }

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// scanLines splits at CRLF, LF or CR.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	i := indexLineBreak(data)
	switch {
	case i < 0:
		if atEOF && len(data) > 0 {
			// A last line without a line break is not a complete line.
			return len(data), nil, nil
		}
		return 0, nil, nil
	case data[i] == '\n':
		return i + 1, data[:i], nil
	case i+1 < len(data):
		if data[i+1] == '\n' {
			return i + 2, data[:i], nil
		}
		return i + 1, data[:i], nil
	case atEOF:
		return i + 1, data[:i], nil
	}
	return 0, nil, nil // a CR at the end: wait to see if LF follows
}
