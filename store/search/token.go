// Package search is Parley's text analysis for full-text search: how a
// message's text becomes tokens (normalised, in every language), the query
// language people type, and deciding whether a text matches a query with the
// ranges to highlight. It stores nothing: a log's index is built from the
// tokens this package makes, and every candidate it finds is confirmed with
// Match, so the index and the rules here cannot disagree.
//
// Text is cut into tokens three ways:
//
//   - Words of scripts that separate words with spaces (Latin, Greek,
//     Cyrillic, Arabic, Hebrew, Hangul, Devanagari, …): maximal runs of
//     letters, marks and digits, folded (see Fold): café = cafe, Straße =
//     strasse, Müller = muller and mueller.
//   - Text without spaces (Chinese, Japanese kanji and kana, Thai, Lao,
//     Khmer, Myanmar) as overlapping bigrams of characters, with the last
//     character of each run also alone, so that any substring of one or more
//     characters can be found: 東京タワー is 東京, 京タ, タワ, ワー and ー.
//   - Symbols, emoji among them, one token each (with their skin tone and
//     presentation selectors dropped, so 👍🏽 finds 👍; flags and ZWJ
//     sequences stay whole).
//
// Everything else (spaces, punctuation) separates tokens. Offsets are bytes
// of the original text, so highlights point at what the author wrote.
package search

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Kind is what a token was made from.
type Kind uint8

// Token kinds.
const (
	Word   Kind = iota + 1 // letters and digits of a spaced script
	Gram                   // one or two characters of unspaced text
	Symbol                 // an emoji or other symbol
)

// Token is one searchable unit of a text. A token's position is its index
// in the slice Tokenize returns: consecutive tokens are adjacent in the
// text, which is what phrases match.
type Token struct {
	Term  string // the folded form that is indexed and compared
	Alt   string // another form it also matches (mueller for Müller), or ""
	Kind  Kind
	Start int // byte offset of the token in the text
	End   int // byte offset just after it
	// Split is where the second character of a two-character Gram begins
	// (a one-character query matches only the first); End otherwise.
	Split int
}

// Range is a half-open range [start, end) of a text, in bytes unless said
// otherwise. It encodes in JSON as [start,end].
type Range [2]int

// class is what a cluster of the text takes part in.
type class uint8

const (
	none   class = iota // separates tokens
	word                // part of a word
	gram                // part of a run of unspaced text
	symbol              // a token alone
)

// cluster is one user-perceived character: a base rune with the marks,
// joiners and modifiers that follow it.
type cluster struct {
	start, end int
	class      class
}

// Tokenize returns the tokens of text in order. It never fails: text that
// is not valid UTF-8 is read as replacement characters, which separate.
func Tokenize(text string) []Token {
	return AppendTokens(nil, text)
}

// AppendTokens appends the tokens of text to dst and returns it, so a
// caller can reuse one slice.
func AppendTokens(dst []Token, text string) []Token {
	s := scanner{text: text}
	f := folders.Get().(*folder)
	defer folders.Put(f)
	for s.next() {
		dst = s.appendUnit(dst, f, false)
	}
	return dst
}

// appendUnit appends the tokens of the unit the scanner found.
func (s *scanner) appendUnit(dst []Token, f *folder, forQuery bool) []Token {
	switch s.unit.class {
	case word:
		return appendWord(dst, f, s.text, s.unit.start, s.unit.end)
	case symbol:
		return append(dst, symbolToken(s.text, s.unit.start, s.unit.end))
	case gram:
		return appendGrams(dst, f, s.text, s.grams, forQuery)
	}
	return dst
}

// Terms returns the distinct terms (and alternative forms) of text: what an
// index stores for it.
func Terms(text string) []string {
	toks := Tokenize(text)
	seen := make(map[string]bool, len(toks))
	out := make([]string, 0, len(toks))
	for _, t := range toks {
		for _, term := range [2]string{t.Term, t.Alt} {
			if term != "" && !seen[term] {
				seen[term] = true
				out = append(out, term)
			}
		}
	}
	return out
}

// scanner walks a text unit by unit: a word, a symbol, or a run of
// unspaced clusters (in grams).
type scanner struct {
	text  string
	pos   int
	unit  cluster   // the unit found: its class and extent
	grams []cluster // for a gram unit, its clusters
	held  cluster   // a cluster read past the end of the previous unit
	hold  bool      // held is set
}

// next finds the next unit; false at the end of the text.
func (s *scanner) next() bool {
	for {
		c, ok := s.cluster()
		if !ok {
			return false
		}
		switch c.class {
		case none:
			continue
		case symbol:
			s.unit = c
			return true
		case word, gram:
			s.unit, s.grams = c, append(s.grams[:0], c)
			for {
				d, ok := s.cluster()
				if !ok {
					return true
				}
				if d.class != c.class {
					s.held, s.hold = d, true
					return true
				}
				s.unit.end = d.end
				if c.class == gram {
					s.grams = append(s.grams, d)
				}
			}
		}
	}
}

// cluster reads the next cluster of the text.
func (s *scanner) cluster() (cluster, bool) {
	if s.hold {
		s.hold = false
		return s.held, true
	}
	t := s.text
	if s.pos >= len(t) {
		return cluster{}, false
	}
	start := s.pos
	if b := t[start]; b < utf8.RuneSelf && (start+1 == len(t) || t[start+1] < utf8.RuneSelf) {
		// ASCII followed by ASCII: no marks can follow; the common case.
		s.pos++
		if 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' {
			return cluster{start, s.pos, word}, true
		}
		return cluster{start, s.pos, none}, true
	}
	r, n := utf8.DecodeRuneInString(t[start:])
	s.pos += n
	cl := classOf(r)
	// A bad byte (or the character that stands for one), or a mark with
	// nothing to attach to, separates.
	if r == utf8.RuneError || isExtender(r) {
		return cluster{start, s.pos, none}, true
	}
	flag := isRegional(r)
	for s.pos < len(t) {
		r2, n2 := utf8.DecodeRuneInString(t[s.pos:])
		switch {
		case flag && isRegional(r2):
			s.pos += n2 // a flag is a pair of regional indicators
			flag = false
			continue
		case r2 == '\u200d' && cl == symbol && s.pos+n2 < len(t):
			// A ZWJ sequence (👩‍💻) is one emoji.
			_, n3 := utf8.DecodeRuneInString(t[s.pos+n2:])
			s.pos += n2 + n3
			continue
		case isExtender(r2):
			s.pos += n2
			continue
		}
		break
	}
	return cluster{start, s.pos, cl}, true
}

// isExtender reports whether r belongs to the cluster before it: combining
// marks, invisible format characters (joiners, soft hyphens) and emoji
// skin tone modifiers; and the half-width voicing marks that become
// combining marks when normalised.
func isExtender(r rune) bool {
	return unicode.Is(unicode.M, r) || unicode.Is(unicode.Cf, r) || isSkinTone(r) || r == '\uff9e' || r == '\uff9f'
}

func isSkinTone(r rune) bool  { return r >= 0x1f3fb && r <= 0x1f3ff }
func isRegional(r rune) bool  { return r >= 0x1f1e6 && r <= 0x1f1ff }
func isSelector(r rune) bool  { return r >= 0xfe00 && r <= 0xfe0f }
func isProlonged(r rune) bool { return r == '\u30fc' || r == '\uff70' }

// unspaced are the scripts written without spaces between words.
var unspaced = []*unicode.RangeTable{unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar}

// classOf classifies a cluster by its base rune.
func classOf(r rune) class {
	switch {
	case unicode.In(r, unspaced...) || isProlonged(r):
		return gram
	case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.No, r):
		return word
	case unicode.Is(unicode.So, r):
		return symbol
	}
	return none
}

// appendWord appends the word text[start:end].
func appendWord(dst []Token, f *folder, text string, start, end int) []Token {
	w := text[start:end]
	t := Token{Kind: Word, Start: start, End: end, Split: end}
	switch ascii, lower := asciiWord(w); {
	case lower:
		t.Term = w // already its own search form: no copy
		return append(dst, t)
	case ascii:
		t.Term = strings.ToLower(w)
		return append(dst, t)
	}
	folded, german := f.fold(w, true)
	folded = keepWordRunes(folded)
	if len(folded) == 0 {
		return dst
	}
	t.Term = string(folded)
	if german != nil {
		t.Alt = string(keepWordRunes(german))
	}
	return append(dst, t)
}

// asciiWord reports whether w is ASCII, and whether it is lower case.
func asciiWord(w string) (ascii, lower bool) {
	lower = true
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case c >= utf8.RuneSelf:
			return false, false
		case 'A' <= c && c <= 'Z':
			lower = false
		}
	}
	return true, lower
}

// keepWordRunes drops from a folded word what compatibility decomposition
// may have brought in that is not a letter, mark or digit (the fraction
// slash of ½, say), in place.
func keepWordRunes(b []byte) []byte {
	out := b[:0]
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r) || unicode.Is(unicode.N, r) {
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}

// symbolToken makes the token of one symbol cluster.
func symbolToken(text string, start, end int) Token {
	var term []byte
	for _, r := range text[start:end] {
		if isSelector(r) || isSkinTone(r) {
			continue
		}
		term = utf8.AppendRune(term, r)
	}
	return Token{Term: string(term), Kind: Symbol, Start: start, End: end, Split: end}
}

// appendGrams appends the tokens of a run of unspaced clusters: each
// cluster with the next as a bigram, and the last alone. A query (forQuery)
// wants only the bigrams of a run of two or more, since its run may end
// anywhere in the text's.
func appendGrams(dst []Token, f *folder, text string, cs []cluster, forQuery bool) []Token {
	// The folded run in one string, terms cut from it: run[at[i]:at[i+1]]
	// is cluster i. Most unspaced text folds to itself: then the run is
	// the text, and no term is copied.
	run := text[cs[0].start:cs[len(cs)-1].end]
	at := make([]int, len(cs)+1)
	if isFolded(run) {
		for i, c := range cs {
			at[i+1] = c.end - cs[0].start
		}
	} else {
		var b []byte
		for i, c := range cs {
			folded, _ := f.fold(text[c.start:c.end], false)
			b = append(b, folded...)
			at[i+1] = len(b)
		}
		run = string(b)
	}
	for i := 0; i+1 < len(cs); i++ {
		dst = append(dst, Token{Term: run[at[i]:at[i+2]], Kind: Gram, Start: cs[i].start, End: cs[i+1].end, Split: cs[i+1].start})
	}
	if !forQuery || len(cs) == 1 {
		n := len(cs) - 1
		dst = append(dst, Token{Term: run[at[n]:at[n+1]], Kind: Gram, Start: cs[n].start, End: cs[n].end, Split: cs[n].end})
	}
	return dst
}

// isFolded reports whether s, unspaced text, is certainly its own folded
// form: composed, without compatibility characters (NFKC), without case,
// joiners or letters that fold.
func isFolded(s string) bool {
	if !norm.NFKC.IsNormalString(s) {
		return false
	}
	for _, r := range s {
		if unicode.SimpleFold(r) != r || unicode.Is(unicode.Cf, r) {
			return false
		}
		if _, ok := letterFolds[r]; ok {
			return false
		}
	}
	return true
}
