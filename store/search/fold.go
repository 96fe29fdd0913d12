package search

import (
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Folding makes two spellings that a reader takes for the same word equal:
// compatibility forms (full-width ＡＢＣ, ligatures, half-width katakana)
// become their plain characters (NFKD), diacritics are dropped where they
// are optional in search (Latin, Greek, Cyrillic, Arabic, Hebrew: café =
// cafe), case is folded the full Unicode way (Straße = strasse), and the
// result is recomposed (NFC), so a Japanese が stays が instead of か.

// optionalMarks are the scripts whose combining marks search ignores.
// Elsewhere (Devanagari, Thai, Japanese voicing marks, …) a mark changes
// the letter, so it is kept.
var optionalMarks = []*unicode.RangeTable{unicode.Latin, unicode.Greek, unicode.Cyrillic, unicode.Arabic, unicode.Hebrew, unicode.Common, unicode.Inherited}

// isMark is the set of combining marks that search may drop.
var isMark = runes.In(unicode.Mn)

// letterFolds are the few Latin letters that have no decomposition in
// Unicode but that readers expect to find without their stroke or ligature
// (Łódź = lodz, Ørsted = orsted, Æsir = aesir), applied after case folding.
// This is the one table of its kind here; everything else comes from
// golang.org/x/text.
var letterFolds = map[rune]string{
	'ł': "l", 'ø': "o", 'đ': "d", 'ħ': "h", 'ı': "i", 'æ': "ae", 'œ': "oe", 'ŀ': "l",
}

// folder holds the buffers and the stateful case folder of one fold; they
// are pooled because a Caser may not be shared between goroutines.
type folder struct {
	caser cases.Caser
	dec   []byte // NFKD of the input
	out   []byte
}

var folders = sync.Pool{New: func() any { return &folder{caser: cases.Fold()} }}

// Fold returns the search form of s: what the tokenizer compares, with the
// folding described above applied to the whole string. Callers use it to
// compare names (from:alice) the way words are compared.
func Fold(s string) string {
	f := folders.Get().(*folder)
	defer folders.Put(f)
	out, _ := f.fold(s, false)
	return string(out)
}

// fold returns the search form of s, and with alt set also its German form
// (ä, ö, ü spelled ae, oe, ue) when that differs. The results are only
// valid until the next call.
func (f *folder) fold(s string, alt bool) (folded []byte, german []byte) {
	f.dec = norm.NFKD.AppendString(f.dec[:0], s)
	// Drop optional marks, noting the umlauts for the German form.
	keep := f.dec[:0]
	var base rune
	umlaut := false
	for i := 0; i < len(f.dec); {
		r, n := utf8.DecodeRune(f.dec[i:])
		drop := false
		switch {
		case r == '\u200d' || r == '\u00ad' || unicode.Is(unicode.Cf, r):
			drop = true // joiners, soft hyphens and bidi marks are invisible
		case isMark.Contains(r) && unicode.In(base, optionalMarks...):
			drop = true
			umlaut = umlaut || r == '\u0308' && isAOU(base)
		default:
			base = r
		}
		if !drop {
			keep = append(keep, f.dec[i:i+n]...)
		}
		i += n
	}
	f.dec = keep
	if needsCaseFold(f.dec) {
		f.dec = caseFold(f.caser, f.dec)
	}
	f.dec = foldLetters(f.dec)
	f.out = norm.NFC.Append(f.out[:0], f.dec...)
	if !alt || !umlaut {
		return f.out, nil
	}
	return f.out, germanForm(f.out, s)
}

func isAOU(r rune) bool {
	switch r {
	case 'a', 'o', 'u', 'A', 'O', 'U':
		return true
	}
	return false
}

// needsCaseFold reports whether any rune of b changes under case folding.
// Most text outside Latin, Greek and Cyrillic has no case: skip the work.
func needsCaseFold(b []byte) bool {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				return true
			}
		} else if unicode.SimpleFold(r) != r {
			return true
		}
		i += n
	}
	return false
}

func caseFold(c cases.Caser, b []byte) []byte {
	c.Reset()
	out, _, err := transform.Bytes(c, b)
	if err != nil {
		return b // cannot happen for valid UTF-8; keep the text as is
	}
	return out
}

// foldLetters applies letterFolds in place when it can, else in a copy.
func foldLetters(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if rep, ok := letterFolds[r]; ok {
			if out == nil {
				out = append(make([]byte, 0, len(b)+4), b[:i]...)
			}
			out = append(out, rep...)
		} else if out != nil {
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	if out == nil {
		return b
	}
	return out
}

// germanForm rebuilds folded with the umlauts of the original s spelled
// the German way. It walks s, which has one umlaut per a/o/u that lost
// its diaeresis in folded, in the same order.
func germanForm(folded []byte, s string) []byte {
	// The folded form is short (one word); doing it again on a rewritten
	// source keeps the rules in one place.
	var src []byte
	dec := norm.NFD.String(s)
	for i := 0; i < len(dec); {
		r, n := utf8.DecodeRuneInString(dec[i:])
		if r == '\u0308' && i > 0 && isAOU(rune(dec[i-1])) {
			src = append(src, 'e')
		} else {
			src = append(src, dec[i:i+n]...)
		}
		i += n
	}
	f := folders.Get().(*folder)
	defer folders.Put(f)
	out, _ := f.fold(string(src), false)
	if string(out) == string(folded) {
		return nil
	}
	return append([]byte(nil), out...)
}
