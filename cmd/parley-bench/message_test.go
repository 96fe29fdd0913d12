package main

import (
	"testing"
	"time"
)

func TestJSONStringField(t *testing.T) {
	tests := []struct {
		name, data, key, want string
		ok                    bool
	}{
		{"plain", `{"id":"01J","text":"r1:2:3"}`, "text", "r1:2:3", true},
		{"spaces", `{"id": "01J", "text" : "x"}`, "text", "x", true},
		{"key as a value first", `{"author":"text","text":"x"}`, "text", "x", true},
		{"escaped value", `{"text":"a\"b"}`, "text", "", false},
		{"not a string", `{"text":5}`, "text", "", false},
		{"missing", `{"id":"01J"}`, "text", "", false},
		{"unterminated", `{"text":"abc`, "text", "", false},
		{"empty", `{"text":""}`, "text", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := jsonStringField([]byte(tt.data), tt.key)
			if string(got) != tt.want || ok != tt.ok {
				t.Fatalf("got %q %v, want %q %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestRunTagText(t *testing.T) {
	tag := runTag{tag: "rabc", start: time.Now()}
	seq, sent, ok := tag.parseText([]byte(tag.text(42, 1234567*time.Microsecond)))
	if !ok || seq != 42 || sent != 1234567*time.Microsecond {
		t.Fatalf("got %d %v %v, want 42 1.234567s true", seq, sent, ok)
	}
	for _, text := range []string{"", "rabc", "rabc:", "rabc:1", "rabc:1:", "rabc:x:1", "rabd:1:2", "rabc:1:2:3", "rabcd:1:2", "rabc:1:2x"} {
		if _, _, ok := tag.parseText([]byte(text)); ok {
			t.Errorf("parseText(%q): got ok, want not recognised", text)
		}
	}
	ev := []byte(`{"id":"01J","room":"r","type":"message","author":"bench","text":"rabc:7:99","time":"t"}`)
	if seq, sent, ok := tag.parseEvent(ev); !ok || seq != 7 || sent != 99 {
		t.Fatalf("parseEvent: got %d %v %v, want 7 99ns true", seq, sent, ok)
	}
}
