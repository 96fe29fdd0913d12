package search

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Match reports whether text matches the text part of q (every group of
// Words occurs, no group of Not does) and returns the ranges of text to
// highlight: every occurrence of every group of Words, in bytes, sorted and
// merged. A query without Words (from:alice alone) matches any text that
// has none of Not, with no highlights.
func (q *Query) Match(text string) (bool, []Range) {
	toks := Tokenize(text)
	for _, g := range q.Not {
		if len(g.occurrences(toks, nil)) > 0 {
			return false, nil
		}
	}
	var hl []Range
	for _, g := range q.Words {
		n := len(hl)
		hl = g.occurrences(toks, hl)
		if len(hl) == n {
			return false, nil
		}
	}
	return true, merge(hl)
}

// occurrences appends the ranges of every place g occurs in toks to hl.
func (g *Group) occurrences(toks []Token, hl []Range) []Range {
	if len(g.Tokens) == 0 {
		return hl
	}
	last := g.Tokens[len(g.Tokens)-1].Offset
next:
	for start := 0; start+last < len(toks); start++ {
		for _, qt := range g.Tokens {
			if !qt.matches(toks[start+qt.Offset]) {
				continue next
			}
		}
		// One range from the first token to the last, spaces included.
		qt := g.Tokens[len(g.Tokens)-1]
		t := toks[start+qt.Offset]
		end := t.End
		if qt.Prefix && t.Kind == Gram {
			end = t.Split // one character: the first of the bigram
		}
		hl = append(hl, Range{toks[start].Start, end})
	}
	return hl
}

// matches reports whether the query token qt matches the text token t.
func (qt QueryToken) matches(t Token) bool {
	for _, q := range [2]string{qt.Term, qt.Alt} {
		if q == "" {
			continue
		}
		for _, term := range [2]string{t.Term, t.Alt} {
			if term == q || qt.Prefix && term != "" && strings.HasPrefix(term, q) {
				return true
			}
		}
	}
	return false
}

// merge sorts ranges and joins those that overlap or touch.
func merge(rs []Range) []Range {
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b Range) int { return a[0] - b[0] })
	out := rs[:1]
	for _, r := range rs[1:] {
		if last := &out[len(out)-1]; r[0] <= last[1] {
			last[1] = max(last[1], r[1])
		} else {
			out = append(out, r)
		}
	}
	return out
}

// UTF16 converts byte ranges of text into ranges of UTF-16 code units, the
// indices of a JavaScript string: what the API returns, so a browser can
// highlight with String.slice. Ranges must lie on rune boundaries of text,
// as Match's do.
func UTF16(text string, rs []Range) []Range {
	out := make([]Range, len(rs))
	units, at := 0, 0 // UTF-16 units before byte offset at
	advance := func(to int) int {
		if to < at { // out of order: count again from the start
			units, at = 0, 0
		}
		for at < to && at < len(text) {
			r, n := utf8.DecodeRuneInString(text[at:])
			units += utf16Len(r)
			at += n
		}
		return units
	}
	for i, r := range rs {
		out[i] = Range{advance(r[0]), advance(r[1])}
	}
	return out
}

func utf16Len(r rune) int {
	if r >= 0x10000 && r <= utf8.MaxRune {
		return 2
	}
	return 1
}
