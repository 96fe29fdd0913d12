package store_test

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parleychat/parley/store"
)

func TestMentionsIn(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"@alice hello", []string{"alice"}},
		{"hi @Alice, @BOB and @alice again", []string{"alice", "bob"}},
		{"(@carol) [@dave] \"@eve\" '@frank' @gina: @hal; @ivan!", []string{"carol", "dave", "eve", "frank", "gina", "hal", "ivan"}},
		{"thanks @bob.", []string{"bob"}},
		{"@bob... and @sam-", []string{"bob", "sam"}},
		{"@j.doe and @x_y-z.1 and @bob_", []string{"j.doe", "x_y-z.1", "bob_"}},
		{"line one\n@alice\t@bob", []string{"alice", "bob"}},
		{"mail bob@example.com or a.b@c", nil},
		{"@@alice and x@alice and _@alice", nil},
		{"@zoë and @名前 and @ and @ alice", nil},
		{"@_alice and @.alice and @-alice", nil},
		{"@" + strings.Repeat("a", 32), []string{strings.Repeat("a", 32)}},
		{"@" + strings.Repeat("a", 33), nil},
		{"«@alice» and —@bob", []string{"alice", "bob"}},
		{"", nil},
	} {
		if got := store.MentionsIn(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("MentionsIn(%q): got %q, want %q", tc.text, got, tc.want)
		}
	}
	var many strings.Builder
	for i := 0; i < 40; i++ {
		many.WriteString("@user" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + " ")
	}
	if got := store.MentionsIn(many.String()); len(got) != store.MaxMentions {
		t.Errorf("40 names: got %d mentions, want %d", len(got), store.MaxMentions)
	}
}

func TestMentionName(t *testing.T) {
	for author, want := range map[string]string{
		"alice": "alice", "Alice": "alice", "j.doe": "j.doe", "Bob (guest)": "", "Zoë": "", "bob.": "", "x-": "", "": "",
	} {
		if got := store.MentionName(author); got != want {
			t.Errorf("MentionName(%q): got %q, want %q", author, got, want)
		}
	}
}

// FuzzMentionsIn: whatever the text, the names found are valid, lower-case,
// distinct, at most MaxMentions, and each is mentioned in the text as
// "@name" in some case; a name that can be mentioned is found when written
// alone.
func FuzzMentionsIn(f *testing.F) {
	for _, s := range []string{"@alice", "hi @Bob.", "a@b @c@d", "@@x", "@zoë", "\xff@a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got := store.MentionsIn(text)
		if len(got) > store.MaxMentions {
			t.Fatalf("%d mentions", len(got))
		}
		lower := strings.ToLower(text)
		for i, name := range got {
			if store.ValidateUserName(name) != nil || slices.Contains(got[:i], name) || !strings.Contains(lower, "@"+name) {
				t.Fatalf("MentionsIn(%q): bad name %q in %q", text, name, got)
			}
		}
		if name := store.MentionName(text); name != "" && utf8.ValidString(text) {
			if m := store.MentionsIn("@" + text); !slices.Equal(m, []string{name}) {
				t.Fatalf("MentionsIn(@%s): got %q, want [%s]", text, m, name)
			}
		}
	})
}
