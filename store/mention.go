package store

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxMentions is how many names one message can mention; past it, the
// rest of its @names are text.
const MaxMentions = 32

// MentionsIn returns the names text mentions, lower-case, each once, in the
// order they first appear, at most MaxMentions. A mention is '@' and a name
// as user names are made, [a-z0-9][a-z0-9_.-]{0,31} in any case, such that:
//
//   - the '@' starts the text or follows a character that is not a letter,
//     a digit or one of "_.+-@" (so an e-mail address mentions nobody);
//   - the name ends the text or a character other than a letter, a digit
//     or one of "_.-" follows it (so "@zoë" mentions nobody);
//   - a '.' or '-' that ends the name is punctuation, not part of it
//     ("thanks @bob." mentions bob).
//
// A name with spaces, or any other character, cannot be mentioned.
func MentionsIn(text string) []string {
	var out []string
	prev := ' '
	for i := 0; i < len(text) && len(out) < MaxMentions; {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r != '@' || !mentionMayFollow(prev) {
			prev = r
			i += size
			continue
		}
		end := i + 1
		for end < len(text) && isNameByte(text[end]) {
			end++
		}
		if next, _ := utf8.DecodeRuneInString(text[end:]); end == len(text) || !unicode.IsLetter(next) && !unicode.IsDigit(next) {
			name := strings.ToLower(strings.TrimRight(text[i+1:end], ".-"))
			if ValidateUserName(name) == nil && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
		prev = rune(text[end-1])
		i = end
	}
	return out
}

// MentionName returns the name by which author can be mentioned: the
// author in lower case, if it is a name MentionsIn finds; else "" (a guest's
// "Bob (guest)", a name with spaces).
func MentionName(author string) string {
	name := strings.ToLower(author)
	if ValidateUserName(name) != nil || strings.TrimRight(name, ".-") != name {
		return ""
	}
	return name
}

// mentionMayFollow reports whether an '@' after r can start a mention.
func mentionMayFollow(r rune) bool {
	return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("_.+-@", r)
}

// isNameByte reports whether c can be part of a mentioned name.
func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// Notified returns whom message m notifies now: the names it mentions but
// its author's own; none once it is deleted. Mention lists and counts of
// every Log implementation follow it.
func (m Message) Notified() []string {
	if m.Redacted {
		return nil
	}
	self := MentionName(m.Author)
	return slices.DeleteFunc(slices.Clone(m.Mentions), func(n string) bool { return n == self })
}
