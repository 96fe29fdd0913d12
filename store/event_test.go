package store_test

import (
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

func TestValidateEmojiAcceptsRealEmoji(t *testing.T) {
	for _, e := range []string{"👍", "👍🏽", "❤️", "👨‍👩‍👧", "#️⃣", "🇫🇷", "©️"} {
		if err := store.ValidateEmoji(e); err != nil {
			t.Errorf("ValidateEmoji(%q): got %v, want nil", e, err)
		}
	}
}

// TestAppendJSONMatchesMarshal: the JSON a log's writer splices together
// once it knows the id is byte for byte what MarshalJSON produces, escaping
// included.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	id := ulid.MustParse("01M802EGKM2R908TN6558B93Q5")
	reply := ulid.MustParse("01M802EGKM2R908TN6558B93Q4")
	for _, e := range []store.Event{
		{Room: "a", Type: store.TypeMessage, Author: "alice", Text: "hello"},
		{Room: "a-b_c", Type: store.TypeMessage, Author: "Zoë 🎉", Text: "<script>&\"\\\n\r\t\u2028 é", ClientID: "x-1", ReplyTo: reply},
		{Room: "a", Type: store.TypeMessage, Author: "bob", Text: "plain ASCII: ~!@#$%^*()_+{}|:?[];',./`\x7f\x00 \xff"},
		{Room: "a", Type: store.TypeReaction, Author: "bob", Target: reply, Emoji: "👍", Remove: true},
		{Room: "a", Type: store.TypeEdit, Author: "bob", Target: reply, Redacted: true},
		{Room: "a", Type: store.TypeMessage, Author: "bob", Text: "@ann and @b.o-b_", ClientID: "c", ReplyTo: reply, Mentions: []string{"ann", "b.o-b_"}},
		{Room: "a", Type: store.TypeEdit, Author: "bob", Text: "@ann", Target: reply, Mentions: []string{"ann"}},
	} {
		got := e.EncodeParts().AppendJSON([]byte("prefix"), id)
		e.ID, e.Time = id, time.UnixMilli(int64(id.Time()))
		want, err := e.MarshalJSON()
		if err != nil || string(got) != "prefix"+string(want) {
			t.Fatalf("got %s, want prefix%s (%v)", got, want, err)
		}
		if n := len(got) - len("prefix"); n > e.EncodeParts().Len() {
			t.Fatalf("AppendJSON added %d bytes, more than Len's %d", n, e.EncodeParts().Len())
		}
	}
}
