package api

import (
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeInputFast: whatever the fast path accepts, encoding/json
// decodes alike.
func FuzzDecodeInputFast(f *testing.F) {
	for _, s := range []string{
		`{"author":"alice","text":"hello","client_id":"c1"}`,
		` { "text" : "héllo 🎉" , "author":"b" } `,
		`{}`,
		`{"text":"a","text":"b"}`,
		`{"Text":"a"}`,
		`{"text":"a\nb"}`,
		`{"text":"a",}`,
		`{"text":null}`,
		`{"text":"a"} {}`,
		`{"reply_to":"01M802EGKM2R908TN6558B93Q5","emoji":"👍"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if !utf8.ValidString(body) {
			t.Skip("the server refuses invalid UTF-8 before decoding")
		}
		var fast input
		if !decodeInputFast([]byte(body), &fast) {
			return
		}
		var slow input
		if err := decodeJSON([]byte(body), &slow); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", body, fast, slow)
		}
	})
}

func TestDecodeInputFastDeclines(t *testing.T) {
	for _, body := range []string{
		`{"text":"a","text":"b"}`, // duplicates: encoding/json keeps the last
		`{"Text":"a"}`,            // encoding/json matches keys case-insensitively
		`{"text":"a\u0041"}`,      // escapes
		`{"text":"a",}`,
		`{"text":null}`,
		`{"text":"a"} {}`,
		`{"other":"a"}`,
		`[]`,
	} {
		var in input
		if decodeInputFast([]byte(body), &in) {
			t.Errorf("fast path took %s", body)
		}
	}
}
