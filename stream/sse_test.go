package stream

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestAppendEventFraming(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Event
		want string
	}{
		{"plain", Event{ID: "1", Type: "message", Data: `{"a":1}`}, "id: 1\nevent: message\ndata: {\"a\":1}\n\n"},
		{"LF", Event{ID: "1", Data: "a\nb"}, "id: 1\ndata: a\ndata: b\n\n"},
		{"CR", Event{ID: "1", Data: "a\rb"}, "id: 1\ndata: a\ndata: b\n\n"},
		{"CRLF", Event{ID: "1", Data: "a\r\nb"}, "id: 1\ndata: a\ndata: b\n\n"},
		{"injection", Event{ID: "1", Type: "message", Data: "x\n\nevent: admin\ndata: y"}, "id: 1\nevent: message\ndata: x\ndata: \ndata: event: admin\ndata: data: y\n\n"},
		{"trailing newline", Event{ID: "1", Data: "a\n"}, "id: 1\ndata: a\ndata: \n\n"},
		{"no id", Event{Type: "typing", Data: "{}", NoID: true}, "event: typing\ndata: {}\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendEvent(nil, tc.in)
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	for _, bad := range []Event{{ID: "a\nb", Data: "x"}, {ID: "a\x00", Data: "x"}, {ID: "1", Type: "a\rb", Data: "x"}, {ID: "1"}} {
		if _, err := AppendEvent(nil, bad); !errors.Is(err, ErrUnencodable) {
			t.Errorf("AppendEvent(%+v): got %v, want ErrUnencodable", bad, err)
		}
	}
}

func TestReaderFollowsTheSpec(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		want  []Event
	}{
		{"LF", "id: 1\nevent: e\ndata: a\n\n", []Event{{"1", "e", "a", false}}},
		{"CR", "id: 1\revent: e\rdata: a\r\r", []Event{{"1", "e", "a", false}}},
		{"CRLF", "id: 1\r\ndata: a\r\ndata: b\r\n\r\n", []Event{{"1", "message", "a\nb", false}}},
		{"BOM and comments", "\ufeff: hi\ndata: a\n\n:\n\n", []Event{{"", "message", "a", true}}},
		{"no space after colon, and two spaces", "data:a\ndata:  b\n\n", []Event{{"", "message", "a\n b", true}}},
		{"field without colon", "data\n\n", []Event{{"", "message", "", true}}},
		{"no data: no dispatch, type resets", "event: x\n\ndata: a\n\n", []Event{{"", "message", "a", true}}},
		{"id carries over to an event without one", "id: 7\ndata: a\n\ndata: b\n\n", []Event{{"7", "message", "a", false}, {"7", "message", "b", true}}},
		{"id with NUL ignored", "id: 7\ndata: a\n\nid: 8\x00\ndata: b\n\n", []Event{{"7", "message", "a", false}, {"7", "message", "b", true}}},
		{"an id without data does not count", "id: 7\n\ndata: b\n\n", []Event{{"7", "message", "b", true}}},
		{"unfinished event dropped", "data: a\n\ndata: b\n", []Event{{"", "message", "a", true}}},
		{"unknown field ignored", "foo: bar\ndata: a\n\n", []Event{{"", "message", "a", true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := readAll(t, tc.input)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	r := NewReader(strings.NewReader("retry: 1500\n\nretry: x\n\n"), 1024)
	if _, err := r.Next(); err != io.EOF || r.Retry != 1500 {
		t.Fatalf("retry: got %d (%v), want 1500", r.Retry, err)
	}
}

func readAll(t testing.TB, input string) []Event {
	t.Helper()
	r := NewReader(strings.NewReader(input), 1<<20)
	var got []Event
	for {
		e, err := r.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		got = append(got, e)
	}
}

// FuzzEncoder checks that whatever events go in, a spec-conforming parser
// reads back exactly those events, line breaks in data becoming LF.
func FuzzEncoder(f *testing.F) {
	f.Add("01J", "message", "hello", "x", "\n\nevent: evil\ndata: y\r\n")
	f.Add("", "", "a\rb\r\nc", "id", "\r")
	f.Fuzz(func(t *testing.T, id, typ, data1, data2, data3 string) {
		var in []Event
		var wire []byte
		for _, data := range []string{data1, data2, data3} {
			e := Event{ID: id, Type: typ, Data: data}
			b, err := AppendEvent(wire, e)
			if err != nil {
				continue
			}
			wire = b
			if e.Type == "" {
				e.Type = "message"
			}
			e.Data = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(e.Data)
			in = append(in, e)
		}
		got := readAll(t, string(wire))
		if len(got) != len(in) {
			t.Fatalf("wire %q: got %d events, want %d", wire, len(got), len(in))
		}
		for i := range in {
			if got[i] != in[i] {
				t.Fatalf("wire %q: event %d: got %+v, want %+v", wire, i, got[i], in[i])
			}
		}
	})
}
