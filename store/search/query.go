package search

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
)

// Limits of a query, so that one request cannot ask for unbounded work.
const (
	MaxQueryBytes = 1024
	MaxGroups     = 16 // words and phrases, included and excluded
	MaxFilters    = 16 // from: and in: values
)

// ErrQuery is wrapped by every error Parse returns: the query is malformed
// (the API answers 400 with the error's text).
var ErrQuery = errors.New("bad search query")

// QueryError says what is wrong with a query, in words for the person who
// typed it. It wraps ErrQuery.
type QueryError struct{ Reason string }

func (e *QueryError) Error() string { return "search: " + e.Reason }

// Unwrap makes errors.Is(err, ErrQuery) true.
func (e *QueryError) Unwrap() error { return ErrQuery }

func queryErr(format string, args ...any) error {
	return &QueryError{Reason: fmt.Sprintf(format, args...)}
}

// Query is a parsed search query. The text part (Words, Not) is decided by
// Match; the filters (From, In, After, Before) by the caller's index, with
// MatchAuthor and MatchRoom for the names.
type Query struct {
	Words []Group // each must occur in the text
	Not   []Group // none may occur
	// From and In, if not empty, keep messages by one of these authors
	// (compared folded) or in one of these rooms; NotFrom and NotIn drop
	// them. Room names are as typed: the caller checks them.
	From, NotFrom []string
	In, NotIn     []string
	// After and Before bound the message ids, exclusively; zero is no
	// bound. A date bounds by the ids of that day in UTC.
	After, Before ulid.ULID
}

// Group is one word or phrase of a query: tokens that must occur in the
// text one after the other.
type Group struct {
	Text   string // as typed, for messages
	Phrase bool   // typed in quotes: every token exact
	Tokens []QueryToken
}

// QueryToken is one token of a group.
type QueryToken struct {
	Term string
	Alt  string // another form that also matches, or ""
	// Prefix lets the token match any text token that starts with Term (or
	// Alt): the last token of a word of two or more characters ("depl"
	// finds deploy), and a single character of unspaced text, which may
	// be the start of any bigram.
	Prefix bool
	// Offset is the token's position relative to the group's first token.
	Offset int
}

// Parse parses a query typed by a person:
//
//	deploy server     messages with both words (each also as a prefix)
//	"exact phrase"    the words in this order, next to each other
//	-word -"a phrase" messages without them
//	from:alice        by alice (from:"Bob (guest)" for names with spaces)
//	in:general        in room general; -from: and -in: exclude
//	before:2026-11-01 after:2026-11-01 on:2026-11-01
//	                  before that day, after that day, on that day (UTC);
//	                  before: and after: also take an RFC 3339 time or an
//	                  event id
//
// Curly quotes (“ ” „) work as quotes. Errors wrap ErrQuery and say what to
// fix.
func Parse(q string) (*Query, error) {
	if len(q) > MaxQueryBytes {
		return nil, queryErr("the query is %d bytes; the limit is %d", len(q), MaxQueryBytes)
	}
	if !utf8.ValidString(q) {
		return nil, queryErr("the query is not valid UTF-8")
	}
	p := &parser{src: q, q: &Query{}}
	for {
		p.skipSpace()
		if p.pos >= len(p.src) {
			break
		}
		if err := p.item(); err != nil {
			return nil, err
		}
	}
	return p.q, p.check()
}

type parser struct {
	src string
	pos int
	q   *Query
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		r, n := utf8.DecodeRuneInString(p.src[p.pos:])
		if !unicode.IsSpace(r) {
			return
		}
		p.pos += n
	}
}

// item parses one space-separated item: a word, a phrase or a filter, each
// possibly negated.
func (p *parser) item() error {
	neg := false
	if p.src[p.pos] == '-' {
		neg = true
		p.pos++
		if p.pos >= len(p.src) || startsSpace(p.src[p.pos:]) {
			return queryErr(`"-" excludes the word right after it, like -word`)
		}
	}
	if isQuote(p.src[p.pos:]) {
		text, err := p.quoted()
		if err != nil {
			return err
		}
		return p.addGroup(text, true, neg)
	}
	start := p.pos
	for p.pos < len(p.src) && !startsSpace(p.src[p.pos:]) {
		if p.src[p.pos] == ':' {
			if op := strings.ToLower(p.src[start:p.pos]); isOperator(op) {
				p.pos++
				return p.filter(op, neg)
			}
		}
		_, n := utf8.DecodeRuneInString(p.src[p.pos:])
		p.pos += n
	}
	return p.addGroup(p.src[start:p.pos], false, neg)
}

func isOperator(op string) bool {
	return op == "from" || op == "in" || op == "before" || op == "after" || op == "on"
}

func startsSpace(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

// quotes open and close phrases: straight and typographic ones, which
// phones put in by themselves.
const quotes = "\"“”„"

func isQuote(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r != utf8.RuneError && strings.ContainsRune(quotes, r)
}

// quoted reads a quoted string at p.pos and returns what is inside.
func (p *parser) quoted() (string, error) {
	_, n := utf8.DecodeRuneInString(p.src[p.pos:])
	start := p.pos + n
	end := strings.IndexAny(p.src[start:], quotes)
	if end < 0 {
		return "", queryErr("a quote opened at %q is not closed", excerpt(p.src[p.pos:]))
	}
	_, m := utf8.DecodeRuneInString(p.src[start+end:])
	p.pos = start + end + m
	return p.src[start : start+end], nil
}

// value reads a filter's value: a quoted string or up to the next space.
func (p *parser) value() (string, error) {
	if p.pos < len(p.src) && isQuote(p.src[p.pos:]) {
		v, err := p.quoted()
		return strings.TrimSpace(v), err
	}
	start := p.pos
	for p.pos < len(p.src) && !startsSpace(p.src[p.pos:]) {
		_, n := utf8.DecodeRuneInString(p.src[p.pos:])
		p.pos += n
	}
	return p.src[start:p.pos], nil
}

// filter parses the value of from:, in:, before: or after:.
func (p *parser) filter(op string, neg bool) error {
	v, err := p.value()
	if err != nil {
		return err
	}
	q := p.q
	switch {
	case v == "" && (op == "from" || op == "in"):
		return queryErr("%s: needs a name, like %s:%s", op, op, map[string]string{"from": "alice", "in": "general"}[op])
	case v == "":
		return queryErr("%s: needs a date, like %s:2026-11-01", op, op)
	case neg && (op == "before" || op == "after" || op == "on"):
		return queryErr("-%s: cannot be excluded; use before: and after:", op)
	}
	if len(q.From)+len(q.NotFrom)+len(q.In)+len(q.NotIn) >= MaxFilters {
		return queryErr("too many from: and in: filters; the limit is %d", MaxFilters)
	}
	switch op {
	case "from":
		add(&q.From, &q.NotFrom, neg, v)
	case "in":
		add(&q.In, &q.NotIn, neg, strings.ToLower(v))
	case "before":
		id, err := parseBound(op, v, false)
		if err != nil {
			return err
		}
		q.lowerBefore(id)
	case "after":
		id, err := parseBound(op, v, true)
		if err != nil {
			return err
		}
		q.raiseAfter(id)
	case "on":
		day, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return queryErr("on:%s is not a date, like on:2026-11-01", v)
		}
		before, _ := parseBound(op, day.AddDate(0, 0, 1).Format(time.DateOnly), false)
		after, _ := parseBound(op, day.AddDate(0, 0, -1).Format(time.DateOnly), true)
		q.lowerBefore(before)
		q.raiseAfter(after)
	}
	return nil
}

// raiseAfter and lowerBefore narrow the id range: several bounds keep the
// narrowest.
func (q *Query) raiseAfter(id ulid.ULID) {
	if id.Compare(q.After) > 0 {
		q.After = id
	}
}

func (q *Query) lowerBefore(id ulid.ULID) {
	if q.Before == (ulid.ULID{}) || id.Compare(q.Before) < 0 {
		q.Before = id
	}
}

func add(yes, no *[]string, neg bool, v string) {
	if neg {
		*no = append(*no, v)
	} else {
		*yes = append(*yes, v)
	}
}

// parseBound turns a before:/after: value into an exclusive id bound: an
// event id as is; a day (UTC) by its first id (before) or its last
// (after: later than that day); a time by its millisecond.
func parseBound(op, v string, after bool) (ulid.ULID, error) {
	if len(v) == ulid.EncodedSize {
		if id, err := ulid.ParseStrict(strings.ToUpper(v)); err == nil {
			return id, nil
		}
	}
	var t time.Time
	var err error
	day := false
	if t, err = time.Parse(time.DateOnly, v); err == nil {
		day = true
	} else if t, err = time.Parse(time.RFC3339Nano, v); err != nil {
		return ulid.ULID{}, queryErr("%s:%s is not a date (2026-11-01), a time (2026-11-01T15:04:05Z) or an event id", op, v)
	}
	if t.Before(time.UnixMilli(0)) || t.After(ulid.Time(ulid.MaxTime())) {
		return ulid.ULID{}, queryErr("%s:%s is outside the range of event times", op, v)
	}
	ms := uint64(t.UnixMilli())
	if !after {
		return boundID(ms, 0x00), nil
	}
	if day {
		ms += uint64(24*time.Hour/time.Millisecond) - 1 // later than the whole day
	}
	return boundID(ms, 0xff), nil
}

// boundID is the id of time ms whose random part is all fill bytes: the
// lowest (0x00) or highest (0xff) id of that millisecond.
func boundID(ms uint64, fill byte) ulid.ULID {
	var id ulid.ULID
	for i := 6; i < len(id); i++ {
		id[i] = fill
	}
	_ = id.SetTime(ms) // ms is within range: checked by the caller
	return id
}

// addGroup adds a word or phrase; text without tokens (punctuation) adds
// nothing.
func (p *parser) addGroup(text string, phrase, neg bool) error {
	toks := queryTokens(text, phrase)
	if len(toks) == 0 {
		if phrase {
			return queryErr("the phrase %q has nothing to search for", text)
		}
		return nil
	}
	if len(p.q.Words)+len(p.q.Not) >= MaxGroups {
		return queryErr("too many words and phrases; the limit is %d", MaxGroups)
	}
	g := Group{Text: text, Phrase: phrase, Tokens: toks}
	if neg {
		p.q.Not = append(p.q.Not, g)
	} else {
		p.q.Words = append(p.q.Words, g)
	}
	return nil
}

// check fails a query that would select nothing sensible.
func (p *parser) check() error {
	q := p.q
	switch {
	case len(q.Words) == 0 && len(q.From) == 0 && len(q.Not)+len(q.NotFrom)+len(q.In)+len(q.NotIn) == 0 &&
		q.After == (ulid.ULID{}) && q.Before == (ulid.ULID{}):
		return queryErr("nothing to search for: type a word")
	case len(q.Words) == 0 && len(q.From) == 0:
		return queryErr("search for at least one word, phrase or from:name")
	case q.After != (ulid.ULID{}) && q.Before != (ulid.ULID{}) && q.After.Compare(q.Before) >= 0:
		return queryErr("after: is not earlier than before:, so nothing can match")
	}
	return nil
}

// queryTokens tokenizes one word or phrase of a query.
func queryTokens(text string, phrase bool) []QueryToken {
	s := scanner{text: text}
	f := folders.Get().(*folder)
	defer folders.Put(f)
	var out []QueryToken
	var toks []Token
	pos := 0
	for s.next() {
		toks = s.appendUnit(toks[:0], f, true)
		for i, t := range toks {
			out = append(out, QueryToken{Term: t.Term, Alt: t.Alt, Offset: pos + i,
				Prefix: t.Kind == Gram && len(s.grams) == 1})
		}
		if s.unit.class == gram {
			pos += len(s.grams) // a run takes one position per character
		} else {
			pos += len(toks)
		}
	}
	if n := len(out); n > 0 && !phrase && !out[n-1].Prefix && utf8.RuneCountInString(out[n-1].Term) >= 2 && s.unit.class == word {
		out[n-1].Prefix = true
	}
	return out
}

// excerpt shortens s for an error message.
func excerpt(s string) string {
	if utf8.RuneCountInString(s) <= 20 {
		return s
	}
	return string([]rune(s)[:20]) + "…"
}

// MatchAuthor reports whether the query's from: filters keep a message by
// author. Names compare folded, so from:zoe finds Zoë.
func (q *Query) MatchAuthor(author string) bool {
	a := Fold(author)
	for _, n := range q.NotFrom {
		if Fold(n) == a {
			return false
		}
	}
	if len(q.From) == 0 {
		return true
	}
	for _, n := range q.From {
		if Fold(n) == a {
			return true
		}
	}
	return false
}

// MatchRoom reports whether the query's in: filters keep a message of room.
func (q *Query) MatchRoom(room string) bool {
	for _, r := range q.NotIn {
		if r == room {
			return false
		}
	}
	if len(q.In) == 0 {
		return true
	}
	for _, r := range q.In {
		if r == room {
			return true
		}
	}
	return false
}
