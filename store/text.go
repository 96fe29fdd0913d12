package store

import (
	"strings"
	"unicode"
)

// zwj is the zero-width joiner that glues emoji into one, as in 👨‍👩‍👧.
const zwj = '\u200d'

// checkName fails with ErrInvalid, naming field, if s holds a character no
// name may: a control character, or one that makes two different names
// look alike (see invisible), or a space other than the ASCII one (and the
// ideographic space of CJK names).
func checkName(field, s string) error {
	switch {
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return invalid(field, "contains control characters")
	case strings.IndexFunc(s, invisible) >= 0:
		return invalid(field, "contains invisible or bidi control characters")
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) && r != ' ' && r != '\u3000' }) >= 0:
		return invalid(field, "contains spaces other than the plain space")
	}
	return nil
}

// invisible reports whether r shows nothing by itself, or reorders the text
// around it, so that a name with it looks like a name without: format
// characters (Unicode category Cf: zero-width spaces and joiners, bidi
// marks, embeddings, overrides and isolates, the byte order mark, the soft
// hyphen), the other default-ignorable code points (Hangul fillers among
// them) and variation selectors.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// emojiInvisible is invisible but for what emoji are made of: the joiner of
// sequences, variation selectors (❤️) and the tag characters of
// subdivision flags (🏴󠁧󠁢󠁳󠁣󠁴󠁿).
func emojiInvisible(r rune) bool {
	return invisible(r) && r != zwj && !unicode.Is(unicode.Variation_Selector, r) && !(r >= '\U000E0020' && r <= '\U000E007F')
}

// looseJoiner reports whether s has a joiner that joins nothing (first,
// last, or after another joiner) or a variation selector that selects
// nothing (first, or after a joiner or another selector). Such an emoji
// would look like the one without it.
func looseJoiner(s string) bool {
	prev := zwj // as if s started after a joiner
	for _, r := range s {
		switch {
		case r == zwj && prev == zwj:
			return true
		case unicode.Is(unicode.Variation_Selector, r) && (prev == zwj || unicode.Is(unicode.Variation_Selector, prev)):
			return true
		}
		prev = r
	}
	return prev == zwj
}
