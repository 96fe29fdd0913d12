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

// FuzzCleanGuestName: every name CleanGuestName accepts makes valid author
// names that split back into it, and no accepted name hides a character
// that would make it look like another.
func FuzzCleanGuestName(f *testing.F) {
	for _, s := range []string{"Bob", " Bob ", "Bob (guest)", "Bob\u200b", "محمد", "Bob (ACME) (guest 2", "👨‍👩‍👧"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, err := CleanGuestName(s)
		if err != nil {
			return
		}
		for _, n := range []int{1, 2, 1000} {
			author := GuestAuthor(name, n)
			if err := ValidateAuthor(author); err != nil {
				t.Fatalf("GuestAuthor(%q, %d) = %q: %v", name, n, author, err)
			}
			if got, m, ok := ParseGuestAuthor(author); !ok || got != name || m != n {
				t.Fatalf("ParseGuestAuthor(%q): got %q %d %v, want %q %d", author, got, m, ok, name, n)
			}
		}
	})
}
