package main

import (
	"bytes"
	"errors"
	"io"
	"time"
)

// ErrLineTooLong is returned by SSEReader.Next when a line does not fit in
// the reader's maximum buffer size.
var ErrLineTooLong = errors.New("sse: line too long")

// Event is one dispatched server-sent event. Its slices belong to the
// SSEReader and are valid only until the next call to Next.
type Event struct {
	ID   []byte // the last event ID buffer at dispatch time
	Type []byte // "message" unless an event field said otherwise
	Data []byte // data lines joined with LF
}

var (
	bom         = []byte("\xef\xbb\xbf")
	messageType = []byte("message")
)

// SSEReader parses a text/event-stream as the HTML standard's "interpreting
// an event stream" says: lines end in CR, LF or CRLF; a leading BOM is
// dropped; one space after the colon is dropped; data lines are joined with
// LF; an event is dispatched on a blank line unless it has no data; an id
// containing NUL is ignored; an incomplete event at the end is discarded.
//
// It reads straight from r into one buffer that grows up to a limit, and once
// warmed up it allocates nothing per event. It is not safe for concurrent use.
type SSEReader struct {
	r       io.Reader
	buf     []byte
	start   int // unread bytes are buf[start:end]
	end     int
	scanned int // bytes after start known to hold no line end, so a slow drip is not rescanned
	maxSize int
	err     error // sticky error from r
	skipLF  bool  // the last line ended in CR, so a following LF ends nothing
	started bool  // the BOM check is done

	lastID []byte
	typ    []byte
	data   []byte

	// Retry is the reconnection time from the last valid retry field, or 0.
	Retry time.Duration
	// Comments counts comment lines (heartbeats).
	Comments int
}

// NewSSEReader returns a reader with a size-byte buffer that may grow to
// maxSize bytes, the longest line it accepts.
func NewSSEReader(r io.Reader, size, maxSize int) *SSEReader {
	size = max(size, 16)
	return &SSEReader{r: r, buf: make([]byte, size), maxSize: max(size, maxSize)}
}

// Next returns the next event. At the end of the stream it returns io.EOF
// (or the underlying read error), discarding any incomplete event. A line
// longer than the maximum buffer size gives ErrLineTooLong.
func (s *SSEReader) Next() (Event, error) {
	s.data = s.data[:0]
	s.typ = s.typ[:0]
	for {
		line, err := s.readLine()
		if err != nil {
			return Event{}, err
		}
		if !s.started {
			s.started = true
			line = bytes.TrimPrefix(line, bom)
		}
		if len(line) == 0 {
			if len(s.data) == 0 {
				s.typ = s.typ[:0]
				continue
			}
			ev := Event{ID: s.lastID, Type: s.typ, Data: s.data[:len(s.data)-1]}
			if len(ev.Type) == 0 {
				ev.Type = messageType
			}
			return ev, nil
		}
		if line[0] == ':' {
			s.Comments++
			continue
		}
		s.field(line)
	}
}

// field processes one non-blank, non-comment line.
func (s *SSEReader) field(line []byte) {
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) { // the conversion does not allocate in a switch
	case "data":
		s.data = append(s.data, value...)
		s.data = append(s.data, '\n')
	case "event":
		s.typ = append(s.typ[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			s.lastID = append(s.lastID[:0], value...)
		}
	case "retry":
		if ms, ok := parseDigits(value); ok {
			s.Retry = time.Duration(ms) * time.Millisecond
		}
	}
}

// parseDigits parses a non-empty run of ASCII digits that fits in a sane
// reconnection time (under about 11 days, in ms).
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// readLine returns the next complete line without its terminator. The slice
// aliases the buffer and is valid until the next call.
func (s *SSEReader) readLine() ([]byte, error) {
	for {
		if s.skipLF && s.start < s.end {
			if s.buf[s.start] == '\n' {
				s.start++
			}
			s.skipLF = false
		}
		b := s.buf[s.start:s.end]
		rest := b[s.scanned:]
		lf := bytes.IndexByte(rest, '\n')
		var cr int
		if lf >= 0 {
			cr = bytes.IndexByte(rest[:lf], '\r')
		} else {
			cr = bytes.IndexByte(rest, '\r')
		}
		switch {
		case cr >= 0:
			n := s.scanned + cr
			s.start += n + 1
			s.scanned = 0
			s.skipLF = true
			return b[:n], nil
		case lf >= 0:
			n := s.scanned + lf
			s.start += n + 1
			s.scanned = 0
			return b[:n], nil
		}
		s.scanned = len(b)
		if s.err != nil {
			return nil, s.err
		}
		if err := s.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more bytes, first moving the partial line to the front of the
// buffer and growing the buffer if the line fills it.
func (s *SSEReader) fill() error {
	if s.start > 0 {
		s.end = copy(s.buf, s.buf[s.start:s.end])
		s.start = 0
	}
	if s.end == len(s.buf) {
		if len(s.buf) >= s.maxSize {
			return ErrLineTooLong
		}
		grown := make([]byte, min(2*len(s.buf), s.maxSize))
		copy(grown, s.buf[:s.end])
		s.buf = grown
	}
	for range 100 {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.err = err
		}
		if n > 0 || err != nil {
			return nil
		}
	}
	s.err = io.ErrNoProgress
	return nil
}
