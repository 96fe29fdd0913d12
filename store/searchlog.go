package store

import (
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store/search"
)

// SearchHit is one message a search found: its current state, as Messages
// returns it, and the byte ranges of its text to highlight (search.UTF16
// converts them for a browser).
type SearchHit struct {
	Record     Record
	Highlights []search.Range
}

// SearchMatch is the one rule of what a search finds, applied by every Log:
// message m of room, in its current state, is a result of q on a page
// below before (zero: from the newest) when it is not deleted, its id is
// below before and within q's before:/after: bounds, q's in: and from:
// filters keep it, and its text matches q (search.Query.Match, which gives
// the highlights). An index only finds candidates; this decides.
func SearchMatch(q *search.Query, room string, m *Message, before ulid.ULID) (bool, []search.Range) {
	switch {
	case m.Redacted,
		before != (ulid.ULID{}) && m.ID.Compare(before) >= 0,
		q.Before != (ulid.ULID{}) && m.ID.Compare(q.Before) >= 0,
		q.After != (ulid.ULID{}) && m.ID.Compare(q.After) <= 0,
		!q.MatchRoom(room), !q.MatchAuthor(m.Author):
		return false, nil
	}
	return q.Match(m.Text)
}

// MaxTermBytes bounds an indexed term: a longer word is indexed by its
// first MaxTermBytes bytes (cut at a character), and looked up the same
// way; Match then decides on the whole text.
const MaxTermBytes = 64

// SearchTerm is the indexed form of a term: cut to MaxTermBytes.
func SearchTerm(t string) string {
	if len(t) <= MaxTermBytes {
		return t
	}
	n := MaxTermBytes
	for n > 0 && !utf8.RuneStart(t[n]) {
		n--
	}
	return t[:n]
}

// AuthorTerm is the term that indexes messages by author (what from:name
// looks up): a byte no text term starts with, then the folded name.
func AuthorTerm(name string) string { return SearchTerm("\x01" + search.Fold(name)) }

// SearchTerms returns what a full-text index keeps for message m in its
// current state: the distinct terms of its text (search.Terms, cut by
// SearchTerm) and its author's AuthorTerm, sorted. A deleted message has
// none: it is not indexed.
func SearchTerms(m *Message) []string {
	if m.Redacted {
		return nil
	}
	return WithAuthorTerm(TextTerms(m.Text), m.Author)
}

// TextTerms returns the distinct terms of text as SearchTerms indexes
// them, sorted, without the author's: a log may compute them before its
// writer needs them.
func TextTerms(text string) []string {
	// As search.Terms, without its map (sorting finds the duplicates), and
	// with a reused token buffer: appends run this for every message.
	buf := tokenBufs.Get().(*[]search.Token)
	toks := search.AppendTokens((*buf)[:0], text)
	defer func() {
		clear(toks) // the terms are strings of text: keep nothing alive
		*buf = toks[:0]
		tokenBufs.Put(buf)
	}()
	terms := make([]string, 0, len(toks)+len(toks)/4)
	for _, t := range toks {
		terms = append(terms, SearchTerm(t.Term))
		if t.Alt != "" {
			terms = append(terms, SearchTerm(t.Alt))
		}
	}
	slices.Sort(terms)
	return slices.Clip(slices.Compact(terms))
}

// tokenBufs recycles TextTerms's token buffers.
var tokenBufs = sync.Pool{New: func() any { b := make([]search.Token, 0, 64); return &b }}

// WithAuthorTerm returns TextTerms of a text by author as SearchTerms
// returns them: with AuthorTerm(author), sorted. terms is not changed.
func WithAuthorTerm(terms []string, author string) []string {
	a := AuthorTerm(author)
	i, found := slices.BinarySearch(terms, a)
	if found {
		return slices.Clone(terms)
	}
	return slices.Insert(slices.Clone(terms), i, a)
}
