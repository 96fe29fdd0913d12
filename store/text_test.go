package store_test

import (
	"errors"
	"testing"

	"github.com/parleychat/parley/store"
)

// TestNamesRefuseInvisibleCharacters: characters that show nothing, or
// reorder what is around them, are refused in authors and guest names, so
// two names never look alike by them.
func TestNamesRefuseInvisibleCharacters(t *testing.T) {
	for _, tc := range []struct{ name, s string }{
		{"zero-width space", "Bob\u200b"},
		{"zero-width non-joiner", "Bo\u200cb"},
		{"zero-width joiner", "Bo\u200db"},
		{"left-to-right mark", "\u200eBob"},
		{"right-to-left mark", "Bob\u200f"},
		{"right-to-left override", "Bob\u202e"},
		{"left-to-right embedding", "\u202aBob"},
		{"right-to-left isolate", "Bob\u2067x"},
		{"pop directional isolate", "Bob\u2069"},
		{"arabic letter mark", "Bob\u061c"},
		{"word joiner", "Bo\u2060b"},
		{"byte order mark", "\ufeffBob"},
		{"soft hyphen", "Bo\u00adb"},
		{"Hangul filler", "Bob\u3164"},
		{"variation selector", "Bob\ufe0f"},
		{"tag character", "Bob\U000e0041"},
		{"no-break space", "Bob\u00a0Smith"},
		{"thin space", "Bob\u2009Smith"},
		{"line separator", "Bob\u2028Smith"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := store.ValidateAuthor(tc.s); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("ValidateAuthor(%q): got %v, want ErrInvalid", tc.s, err)
			}
			if _, err := store.CleanGuestName(tc.s); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("CleanGuestName(%q): got %v, want ErrInvalid", tc.s, err)
			}
		})
	}
	for _, s := range []string{"Bob", "Bob Smith", "José", "Zoë 🎉", "李雷", "山田\u3000太郎", "محمد", "Ελένη"} {
		if err := store.ValidateAuthor(s); err != nil {
			t.Errorf("ValidateAuthor(%q): got %v, want nil", s, err)
		}
	}
}

// TestValidateEmojiRefusesInvisibleCharacters: a reaction cannot hide a
// character that makes it look like another, but emoji sequences still
// work.
func TestValidateEmojiRefusesInvisibleCharacters(t *testing.T) {
	for _, s := range []string{
		"👍\u200b", "\u200b", "\u202e👍", "👍\u2066", "\ufeff👍", "\u00ad👍", "👍\u200e",
		"👍\u200d", "\u200d👍", "👍\u200d\u200d👍", "\ufe0f👍", "👍\ufe0f\ufe0f", "👍\u200d\ufe0f",
	} {
		if err := store.ValidateEmoji(s); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ValidateEmoji(%+q): got %v, want ErrInvalid", s, err)
		}
	}
	for _, s := range []string{
		"👨‍👩‍👧", "❤️", "❤️‍🔥", "🏳️‍🌈", "👩🏽‍💻", "#️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🇫🇷", "👍🏽",
	} {
		if err := store.ValidateEmoji(s); err != nil {
			t.Errorf("ValidateEmoji(%+q): got %v, want nil", s, err)
		}
	}
}
