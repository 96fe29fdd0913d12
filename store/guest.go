package store

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A guest chooses a name when joining a room from an invite; its messages
// carry an author name made of that name and a suffix that says "guest"
// and, from the second guest of that name in the room on, a number: "Bob
// (guest)", "Bob (guest 2)". User names cannot contain spaces or
// parentheses, so a guest never looks like a member; and the store never
// issues an author name twice in a room (see Accounts.RedeemInvite), so two
// guests are never one author, whatever they call themselves.

// MaxGuestNameLen is the longest name a guest may choose, in runes, before
// the suffix.
const MaxGuestNameLen = 40

// guestLikeRE matches a name that already ends like a guest's suffix, in
// any case: "Bob (guest 2)" chosen as a name would pass for the second Bob.
var guestLikeRE = regexp.MustCompile(`(?i)\(\s*guest[^()]*\)$`)

// guestAuthorRE splits an author name GuestAuthor made.
var guestAuthorRE = regexp.MustCompile(`^(.+) \(guest(?: ([1-9][0-9]*))?\)$`)

// CleanGuestName returns the name a guest chose without surrounding
// spaces, or fails with ErrInvalid: empty, longer than MaxGuestNameLen, not
// a valid author name (control, invisible or bidi characters), or ending
// in "(guest …)", which is the server's to add.
func CleanGuestName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", invalid("name", "is required")
	case !utf8.ValidString(name):
		return "", invalid("name", "is not valid UTF-8")
	case utf8.RuneCountInString(name) > MaxGuestNameLen:
		return "", invalid("name", fmt.Sprintf("is longer than %d characters", MaxGuestNameLen))
	case guestLikeRE.MatchString(name):
		return "", invalid("name", `may not end in "(guest)": the server adds that`)
	}
	if err := checkName("name", name); err != nil {
		return "", err
	}
	return name, nil
}

// GuestAuthor is the author name of the nth guest (n ≥ 1) of a room who
// chose name: "Bob (guest)", then "Bob (guest 2)" and so on.
func GuestAuthor(name string, n int) string {
	if n <= 1 {
		return name + " (guest)"
	}
	return name + " (guest " + strconv.Itoa(n) + ")"
}

// ParseGuestAuthor splits an author name GuestAuthor made into the chosen
// name and the number; ok is false for any other name.
func ParseGuestAuthor(author string) (name string, n int, ok bool) {
	m := guestAuthorRE.FindStringSubmatch(author)
	if m == nil {
		return "", 0, false
	}
	n = 1
	if m[2] != "" {
		n, _ = strconv.Atoi(m[2])
	}
	return m[1], n, true
}

// GuestNameKey is what guests' names are numbered by: names that differ
// only in case or in runs of spaces look alike, so they share a count
// ("Bob (guest)", then "bob (guest 2)").
func GuestNameKey(name string) string {
	return strings.ToLower(strings.Join(strings.Fields(name), " "))
}
