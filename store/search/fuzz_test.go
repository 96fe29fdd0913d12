package search

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	"deploy server", `"exact phrase" -java from:alice in:general`, "before:2026-11-01 after:2026-10-01 x",
	"Straße Müller café", "東京タワーに行きました", "我用Go写程序", "สวัสดีครับ", "I ❤️ Go 👍🏽 🇩🇪 👩‍💻",
	"ｶﾞｷﾞ ＡＢＣ ① ﬃ", "e\u0301\u0301\u0301", "\u200d\u200d👍\u200d", "\xff\xfe bad utf8", `from:"Bob (guest)" “x”`,
	"-", `"`, "on:2026-02-30 x", "🇩🇪🇫", "a\u00adb",
}

// FuzzParse: any input either parses or fails with an ErrQuery, and a
// parsed query has only non-empty tokens with sane offsets, and can be
// matched against any text.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		q, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrQuery) {
				t.Fatalf("Parse(%q): error %v does not wrap ErrQuery", in, err)
			}
			return
		}
		for _, g := range append(q.Words, q.Not...) {
			if len(g.Tokens) == 0 {
				t.Fatalf("Parse(%q): empty group %+v", in, g)
			}
			prev := -1
			for _, tok := range g.Tokens {
				if tok.Term == "" || !utf8.ValidString(tok.Term) || tok.Offset <= prev {
					t.Fatalf("Parse(%q): bad token %+v in %+v", in, tok, g)
				}
				prev = tok.Offset
			}
		}
		q.Match(in)
	})
}

// FuzzTokenize: tokens of any text lie inside it, in order, on rune
// boundaries, with terms that are already folded; and a text matches the
// phrase of itself.
func FuzzTokenize(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		toks := Tokenize(text)
		prev := 0
		for _, tok := range toks {
			if tok.Start < prev || tok.Start >= tok.End || tok.End > len(text) || tok.Split <= tok.Start || tok.Split > tok.End {
				t.Fatalf("Tokenize(%q): token %+v out of place (previous start %d)", text, tok, prev)
			}
			if utf8.ValidString(text) && !utf8.RuneStart(text[tok.Start]) || utf8.ValidString(text) && tok.End < len(text) && !utf8.RuneStart(text[tok.End]) {
				t.Fatalf("Tokenize(%q): token %+v not on rune boundaries", text, tok)
			}
			if tok.Term == "" || !utf8.ValidString(tok.Term) {
				t.Fatalf("Tokenize(%q): bad term in %+v", text, tok)
			}
			prev = tok.Start
		}
		if !utf8.ValidString(text) || len(text) > MaxQueryBytes-2 {
			return
		}
		plain := strings.Map(func(r rune) rune {
			if strings.ContainsRune(quotes, r) {
				return ' '
			}
			return r
		}, text)
		q, err := Parse(`"` + plain + `"`)
		if err != nil || len(q.Words) == 0 {
			return // nothing to search for, or too many groups
		}
		if ok, hl := q.Match(plain); !ok || len(hl) == 0 {
			t.Fatalf("%q does not match the phrase of itself (tokens %+v)", plain, q.Words[0].Tokens)
		}
	})
}
