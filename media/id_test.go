package media

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

func TestID(t *testing.T) {
	seen := map[ID]bool{}
	for range 1000 {
		id := NewID()
		if seen[id] {
			t.Fatalf("id %s drawn twice", id)
		}
		seen[id] = true
		s := id.String()
		if len(s) != 26 || strings.ToLower(s) != s {
			t.Fatalf("id %q: want 26 lower-case characters", s)
		}
		if got, err := ParseID(s); err != nil || got != id {
			t.Fatalf("ParseID(%q) = %v, %v; want %v", s, got, err, id)
		}
	}
}

func TestParseIDRefuses(t *testing.T) {
	good := NewID().String()
	for _, s := range []string{"", "x", good[:25], good + "a", strings.ToUpper(good), good[:25] + "1", "01HZY3K4W6Q9V7X2M5N8P0R3ST", good[:25] + "b"} {
		if _, err := ParseID(s); !errors.Is(err, ErrBadID) && s != good {
			t.Errorf("ParseID(%q) = %v, want ErrBadID", s, err)
		}
	}
}

func TestSum(t *testing.T) {
	d := NewDigest()
	d.Write([]byte("hello, "))
	d.Write([]byte("world"))
	want := Sum(sha256.Sum256([]byte("hello, world")))
	if d.Sum() != want || d.Size() != 12 {
		t.Fatalf("got %s %d, want %s 12", d.Sum(), d.Size(), want)
	}
	if got, err := ParseSum(want.String()); err != nil || got != want {
		t.Errorf("ParseSum: %v %v", got, err)
	}
	for _, s := range []string{"", strings.ToUpper(want.String()), want.String()[:63], want.String() + "0", strings.Repeat("g", 64)} {
		if _, err := ParseSum(s); !errors.Is(err, ErrBadID) {
			t.Errorf("ParseSum(%q) = %v, want ErrBadID", s, err)
		}
	}
}

// FuzzParseID: an id parses only from its one canonical spelling.
func FuzzParseID(f *testing.F) {
	f.Add(NewID().String())
	f.Add("aaaaaaaaaaaaaaaaaaaaaaaaab")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err == nil && id.String() != s {
			t.Fatalf("ParseID(%q) accepted another spelling of %s", s, id)
		}
		if sum, err := ParseSum(s); err == nil && sum.String() != s {
			t.Fatalf("ParseSum(%q) accepted another spelling of %s", s, sum)
		}
	})
}
