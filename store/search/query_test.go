package search

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

// describe writes a query compactly: groups as their tokens (term@offset,
// * for a prefix, /alt), then the filters that are set.
func describe(q *Query) string {
	var b strings.Builder
	groups := func(name string, gs []Group) {
		for _, g := range gs {
			b.WriteString(name)
			if g.Phrase {
				b.WriteString(`"`)
			}
			for i, t := range g.Tokens {
				if i > 0 {
					b.WriteString(" ")
				}
				b.WriteString(t.Term)
				if t.Alt != "" {
					b.WriteString("/" + t.Alt)
				}
				if t.Prefix {
					b.WriteString("*")
				}
				if t.Offset != i {
					fmt.Fprintf(&b, "@%d", t.Offset)
				}
			}
			b.WriteString("; ")
		}
	}
	groups("+", q.Words)
	groups("-", q.Not)
	for _, f := range []struct {
		name string
		v    []string
	}{{"from", q.From}, {"-from", q.NotFrom}, {"in", q.In}, {"-in", q.NotIn}} {
		if len(f.v) > 0 {
			fmt.Fprintf(&b, "%s=%s; ", f.name, strings.Join(f.v, ","))
		}
	}
	bound := func(name string, id ulid.ULID) {
		if id != (ulid.ULID{}) {
			fmt.Fprintf(&b, "%s=%s; ", name, ulid.Time(id.Time()).UTC().Format("2006-01-02T15:04:05.000"))
		}
	}
	bound("after", q.After)
	bound("before", q.Before)
	return strings.TrimSuffix(b.String(), "; ")
}

func TestParse(t *testing.T) {
	id := ulid.MustParse("01KAKM0S5QK8TF5X0V9K3FJ1ZZ")
	for _, tc := range []struct{ in, want string }{
		{"deploy", "+deploy*"},
		{"Deploy  SERVER", "+deploy*; +server*"},
		{"a", "+a"},                          // one letter: no prefix
		{"depl serv", "+depl*; +serv*"},      // every word is a prefix
		{`"exact phrase"`, `+"exact phrase`}, // phrases are exact
		{`“smart quotes”`, `+"smart quotes`}, // as phones type them
		{`x -java -"old stuff"`, `+x; -java*; -"old stuff`},
		{`go -java`, "+go*; -java*"},
		{"don't", "+don t"}, // one word cut in two: adjacent, last exact (one letter)
		{"v1.2", "+v1 2"},
		{"Café", "+cafe*"},
		{"Straße", "+strasse*"},
		{"Müller", "+muller/mueller*"},
		{"東京タワー", "+東京 京タ タワ ワー"},
		{"東京", "+東京"},
		{"京", "+京*"},
		{"Go语言", "+go 语言"},
		{"用Go", "+用* go*"},
		{"我用Go写", "+我用 go@2 写*@3"},
		{"👍🏽", "+👍"},
		{"!!!", ""}, // punctuation only: added nothing… (checked below with a word)
		{"from:alice deploy", "+deploy*; from=alice"},
		{`from:"Bob (guest)"`, "from=Bob (guest)"},
		{"FROM:alice", "from=alice"},
		{"from:alice -from:bot in:General -in:random x", "+x; from=alice; -from=bot; in=general; -in=random"},
		{"deploy before:2026-11-01", "+deploy*; before=2026-11-01T00:00:00.000"},
		{"deploy after:2026-11-01", "+deploy*; after=2026-11-01T23:59:59.999"},
		{"deploy on:2026-11-01", "+deploy*; after=2026-10-31T23:59:59.999; before=2026-11-02T00:00:00.000"},
		{"deploy after:2026-11-01T12:00:00Z", "+deploy*; after=2026-11-01T12:00:00.000"},
		{"deploy before:2026-11-01 before:2026-10-01", "+deploy*; before=2026-10-01T00:00:00.000"},
		{"x before:" + id.String(), "+x; before=" + ulid.Time(id.Time()).UTC().Format("2006-01-02T15:04:05.000")},
		{"12:30", "+12 30*"},                         // not an operator: text
		{"http://example.com", "+http example com*"}, // nor this
	} {
		t.Run(tc.in, func(t *testing.T) {
			in := tc.in
			if tc.want == "" {
				in += " word"
				tc.want = "+word*"
			}
			q, err := Parse(in)
			if err != nil {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
			if got := describe(q); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseBoundsAreIDs(t *testing.T) {
	id := ulid.MustParse("01KAKM0S5QK8TF5X0V9K3FJ1ZZ")
	q, err := Parse("x after:" + strings.ToLower(id.String()) + " before:2100-01-01")
	if err != nil {
		t.Fatal(err)
	}
	if q.After != id {
		t.Fatalf("after: got %s, want the id %s itself", q.After, id)
	}
	day := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := ulid.Time(q.Before.Time()); !got.Equal(day) || q.Before[15] != 0 {
		t.Fatalf("before: got %s at %v, want the lowest id of %v", q.Before, got, day)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "nothing to search for"},
		{"   ", "nothing to search for"},
		{"!!! ...", "nothing to search for"},
		{`"unclosed phrase`, "is not closed"},
		{`deploy "`, "is not closed"},
		{`""`, "nothing to search for"},
		{`"!!"`, "has nothing to search for"},
		{"- word", `"-" excludes the word right after it`},
		{"word -", `"-" excludes the word right after it`},
		{"-java", "at least one word"},
		{"in:general", "at least one word"},
		{"from:", "from: needs a name"},
		{"x in:", "in: needs a name"},
		{`from:"unclosed`, "is not closed"},
		{"x before:", "before: needs a date"},
		{"x before:yesterday", "is not a date"},
		{"x after:2026-13-01", "is not a date"},
		{"x on:2026-11-01T10:00:00Z", "on:2026-11-01T10:00:00Z is not a date"},
		{"x -before:2026-11-01", "cannot be excluded"},
		{"x before:1969-01-01", "outside the range"},
		{"x after:2026-11-02 before:2026-11-01", "after: is not earlier than before:"},
		{strings.Repeat("x", MaxQueryBytes+1), "limit is 1024"},
		{strings.Repeat("w ", MaxGroups+1), "too many words"},
		{strings.Repeat("from:a ", MaxFilters+1), "too many from: and in:"},
		{"caf\xe9", "not valid UTF-8"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			q, err := Parse(tc.in)
			if !errors.Is(err, ErrQuery) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (%v), want an ErrQuery saying %q", err, q, tc.want)
			}
		})
	}
}

func TestMatchAuthorAndRoom(t *testing.T) {
	q, err := Parse("x from:zoe from:\"Bob (guest)\" -from:bot in:a in:b -in:c")
	if err != nil {
		t.Fatal(err)
	}
	for author, want := range map[string]bool{"Zoë": true, "ZOE": true, "bob (GUEST)": true, "bob": false, "bot": false, "alice": false} {
		if got := q.MatchAuthor(author); got != want {
			t.Errorf("MatchAuthor(%q): got %v, want %v", author, got, want)
		}
	}
	for room, want := range map[string]bool{"a": true, "b": true, "c": false, "d": false} {
		if got := q.MatchRoom(room); got != want {
			t.Errorf("MatchRoom(%q): got %v, want %v", room, got, want)
		}
	}
	q, _ = Parse("x -from:bot -in:c")
	if !q.MatchAuthor("alice") || q.MatchAuthor("BOT") || !q.MatchRoom("a") || q.MatchRoom("c") {
		t.Error("exclusions alone: want everyone but bot, every room but c")
	}
}
