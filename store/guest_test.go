package store

import (
	"errors"
	"testing"
)

func TestCleanGuestName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"  Bob ", "Bob", true},
		{"José Müller", "José Müller", true},
		{"Bob (ACME)", "Bob (ACME)", true},
		{"", "", false},
		{"   ", "", false},
		{"Bob (guest)", "", false},
		{"Bob (Guest 7)", "", false},
		{"Bob\x07", "", false},
		{"0123456789012345678901234567890123456789x", "", false}, // 41
	} {
		got, err := CleanGuestName(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("CleanGuestName(%q): got %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("CleanGuestName(%q): got %q, %v; want ErrInvalid", tc.in, got, err)
		}
	}
}

func TestGuestAuthorRoundTrip(t *testing.T) {
	for _, n := range []int{1, 2, 10, 123} {
		author := GuestAuthor("Bob (ACME)", n)
		name, got, ok := ParseGuestAuthor(author)
		if !ok || name != "Bob (ACME)" || got != n {
			t.Errorf("ParseGuestAuthor(%q): got %q %d %v, want Bob (ACME) %d", author, name, got, ok, n)
		}
	}
	for _, author := range []string{"bob", "Bob (guest 0)", "Bob (guest 02)", " (guest)", "Bob(guest)"} {
		if _, _, ok := ParseGuestAuthor(author); ok {
			t.Errorf("ParseGuestAuthor(%q): ok, want not a guest's name", author)
		}
	}
}
