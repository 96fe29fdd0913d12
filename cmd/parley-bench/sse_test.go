package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

type sseEvent struct{ ID, Type, Data string }

// readAll drains an SSEReader, copying each event.
func readAll(tb testing.TB, r *SSEReader) ([]sseEvent, error) {
	tb.Helper()
	var out []sseEvent
	for range 100000 {
		ev, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, sseEvent{string(ev.ID), string(ev.Type), string(ev.Data)})
	}
	tb.Fatal("reader never ended")
	return nil, nil
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []sseEvent
	}{
		{"empty", "", nil},
		{"one", "id: 1\nevent: message\ndata: {\"a\":1}\n\n", []sseEvent{{"1", "message", `{"a":1}`}}},
		{"default type", "data: x\n\n", []sseEvent{{"", "message", "x"}}},
		{"custom type", "event: ping\ndata: x\n\n", []sseEvent{{"", "ping", "x"}}},
		{"CRLF", "id: 7\r\ndata: a\r\n\r\n", []sseEvent{{"7", "message", "a"}}},
		{"CR only", "id: 7\rdata: a\r\r", []sseEvent{{"7", "message", "a"}}},
		{"mixed endings", "data: a\r\ndata: b\rdata: c\n\r\n", []sseEvent{{"", "message", "a\nb\nc"}}},
		{"multi data joined with LF", "data: a\ndata: b\n\n", []sseEvent{{"", "message", "a\nb"}}},
		{"only one space dropped", "data:  two\n\n", []sseEvent{{"", "message", " two"}}},
		{"no space after colon", "data:x\n\n", []sseEvent{{"", "message", "x"}}},
		{"empty data line dispatches", "data\n\n", []sseEvent{{"", "message", ""}}},
		{"data lines empty and blank", "data:\ndata:\n\n", []sseEvent{{"", "message", "\n"}}},
		{"no data no event", "id: 3\nevent: x\n\ndata: y\n\n", []sseEvent{{"3", "message", "y"}}},
		{"id persists", "id: 1\ndata: a\n\ndata: b\n\n", []sseEvent{{"1", "message", "a"}, {"1", "message", "b"}}},
		{"empty id resets", "id: 1\ndata: a\n\nid\ndata: b\n\n", []sseEvent{{"1", "message", "a"}, {"", "message", "b"}}},
		{"id with NUL ignored", "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", []sseEvent{{"1", "message", "a"}, {"1", "message", "b"}}},
		{"comments and retry", "retry: 2000\n: hi\n\n: beat\ndata: z\n\n", []sseEvent{{"", "message", "z"}}},
		{"unknown field", "foo: bar\ndata: z\n\n", []sseEvent{{"", "message", "z"}}},
		{"field name case matters", "Data: z\n\ndata: y\n\n", []sseEvent{{"", "message", "y"}}},
		{"colon in value", "data: a:b: c\n\n", []sseEvent{{"", "message", "a:b: c"}}},
		{"BOM dropped", "\xef\xbb\xbfdata: a\n\n", []sseEvent{{"", "message", "a"}}},
		{"second BOM kept", "\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n", []sseEvent{{"", "message", "b"}}},
		{"incomplete event discarded", "data: a\n\ndata: b\n", []sseEvent{{"", "message", "a"}}},
		{"partial line discarded", "data: a\n\ndata: b", []sseEvent{{"", "message", "a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, wrap := range []func(io.Reader) io.Reader{
				func(r io.Reader) io.Reader { return r },
				iotest.OneByteReader,
				iotest.HalfReader,
			} {
				got, err := readAll(t, NewSSEReader(wrap(strings.NewReader(tt.input)), 16, 1<<10))
				if err != io.EOF {
					t.Fatalf("got error %v, want io.EOF", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestSSEReaderRetry(t *testing.T) {
	tests := []struct {
		input string
		want  time.Duration
	}{
		{"retry: 1500\n\n", 1500 * time.Millisecond},
		{"retry: 15x\n\n", 0},
		{"retry:\n\n", 0},
		{"retry: 100\nretry: -1\n\n", 100 * time.Millisecond},
	}
	for _, tt := range tests {
		r := NewSSEReader(strings.NewReader(tt.input), 64, 64)
		if _, err := readAll(t, r); err != io.EOF {
			t.Fatalf("%q: got error %v, want io.EOF", tt.input, err)
		}
		if r.Retry != tt.want {
			t.Errorf("%q: got retry %v, want %v", tt.input, r.Retry, tt.want)
		}
	}
}

func TestSSEReaderLongLines(t *testing.T) {
	long := strings.Repeat("x", 3000)
	r := NewSSEReader(strings.NewReader("data: "+long+"\n\n"), 16, 4096)
	got, err := readAll(t, r)
	if err != io.EOF || len(got) != 1 || got[0].Data != long {
		t.Fatalf("got %d events, error %v; want the long event and io.EOF", len(got), err)
	}
	r = NewSSEReader(strings.NewReader("data: "+long+"\n\n"), 16, 1024)
	if _, err := readAll(t, r); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("got error %v, want ErrLineTooLong", err)
	}
}

func TestSSEReaderNoAllocs(t *testing.T) {
	frame := "id: 01JD0000000000000000000000\nevent: message\ndata: {\"id\":\"01JD0000000000000000000000\",\"text\":\"hello\"}\n\n"
	r := NewSSEReader(&repeatReader{s: frame}, 4096, 4096)
	for range 10 { // warm up the buffers
		r.Next()
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("got %v allocations per event, want 0", allocs)
	}
}

// repeatReader yields s forever.
type repeatReader struct {
	s   string
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.off:])
		n += c
		r.off = (r.off + c) % len(r.s)
	}
	return n, nil
}

// refParse is a direct, slow transcription of the HTML standard's algorithm,
// the oracle for FuzzSSEReader.
func refParse(in string) []sseEvent {
	in = strings.TrimPrefix(in, "\xef\xbb\xbf")
	var lines []string
	start := 0
	for i := 0; i < len(in); i++ {
		switch in[i] {
		case '\r':
			lines = append(lines, in[start:i])
			if i+1 < len(in) && in[i+1] == '\n' {
				i++
			}
			start = i + 1
		case '\n':
			lines = append(lines, in[start:i])
			start = i + 1
		}
	}
	var out []sseEvent
	var id, typ string
	var data strings.Builder
	for _, line := range lines {
		field, value, found := strings.Cut(line, ":")
		switch {
		case line == "":
			if data.Len() != 0 {
				t := typ
				if t == "" {
					t = "message"
				}
				out = append(out, sseEvent{id, t, strings.TrimSuffix(data.String(), "\n")})
			}
			data.Reset()
			typ = ""
			continue
		case field == "" && found:
			continue
		}
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
		case "event":
			typ = value
		case "id":
			if !strings.Contains(value, "\x00") {
				id = value
			}
		}
	}
	return out
}

func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"id: 1\nevent: message\ndata: {}\n\n",
		"data: a\r\ndata: b\r\r: c\ndata\n\n",
		"\xef\xbb\xbfretry: 10\nid: \x00\ndata:x\n\n",
		"event: e\n\nid\ndata: y\r\n\r\n",
	} {
		f.Add(s, uint8(1))
	}
	f.Fuzz(func(t *testing.T, in string, chunk uint8) {
		want := refParse(in)
		r := NewSSEReader(&chunkReader{s: in, n: int(chunk%7) + 1}, 16, 1<<20)
		got, err := readAll(t, r)
		if err != io.EOF {
			t.Fatalf("got error %v, want io.EOF", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	s string
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	c := copy(p[:min(len(p), r.n)], r.s)
	r.s = r.s[c:]
	return c, nil
}

func (e sseEvent) String() string { return fmt.Sprintf("{%q %q %q}", e.ID, e.Type, e.Data) }

func BenchmarkSSEReader(b *testing.B) {
	frame := "id: 01JD0000000000000000000000\nevent: message\ndata: {\"id\":\"01JD0000000000000000000000\",\"room\":\"bench\",\"type\":\"message\",\"author\":\"bench\",\"text\":\"r1:123:456\",\"time\":\"2026-11-21T20:00:00.123Z\"}\n\n"
	r := NewSSEReader(&repeatReader{s: frame}, 8192, 8192)
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
