package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// importFails imports input into a fresh log and fails t unless it is
// refused whole with an *ImportError on line whose text has want.
func importFails(t *testing.T, l store.Log, input string, line int, want string) {
	t.Helper()
	_, err := l.Import(context.Background(), "r", strings.NewReader(input))
	var ie *store.ImportError
	if !errors.As(err, &ie) || ie.Line != line || !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want an error on line %d saying %q", err, line, want)
	}
}

// lineAfter returns an event line of room r dated 1 ms after the id of the
// last line, so it sorts after every line; fields go after time.
func lineAfter(lines []string, typ, author, fields string) string {
	var last store.Event
	_ = last.UnmarshalJSON([]byte(lines[len(lines)-1]))
	id := ulid.MustNew(last.ID.Time()+1, strings.NewReader(strings.Repeat("\x01", 16)))
	return fmt.Sprintf(`{"id":"%s","room":"r","type":"%s","author":"%s"%s,"time":"%s"}`,
		id, typ, author, fields, time.UnixMilli(int64(id.Time())).UTC().Format(store.TimeFormat))
}

// testImportAppliesAppendRules: an import obeys what an append obeys: the
// text limit, only the author (or a moderated change) edits and deletes, a
// deleted message takes no edit or reaction; and a line too long for any
// event is refused by number.
func testImportAppliesAppendRules(t *testing.T, open Opener) {
	src := open(t, Options{})
	ctx := context.Background()
	a := MustAppend(t, src, "r", "alice", "hello")
	b := MustAppend(t, src, "r", "bob", "hi")
	for _, e := range []store.Event{
		{Type: store.TypeEdit, Author: "alice", Target: a.ID, Text: "hello, world"},             // line 3
		{Type: store.TypeEdit, Author: "root", Target: b.ID, Text: "[removed]", Moderate: true}, // line 4
		{Type: store.TypeReaction, Author: "bob", Target: a.ID, Emoji: "👍"},                     // line 5
		{Type: store.TypeDelete, Author: "alice", Target: a.ID},                                 // line 6
		{Type: store.TypeDelete, Author: "root", Target: b.ID, Moderate: true},                  // line 7
	} {
		e.Room = "r"
		if _, created, err := src.Append(ctx, e); err != nil || !created {
			t.Fatalf("append %s: created %v, %v", e.Type, created, err)
		}
	}
	lines := strings.Split(strings.TrimSuffix(string(exportRaw(t, src, "r")), "\n"), "\n")
	join := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	replace := func(i int, old, new string) string {
		ls := append([]string(nil), lines...)
		if !strings.Contains(ls[i], old) {
			t.Fatalf("line %d has no %q: %s", i+1, old, ls[i])
		}
		ls[i] = strings.Replace(ls[i], old, new, 1)
		return join(ls...)
	}
	if _, err := open(t, Options{}).Import(ctx, "r", strings.NewReader(join(lines...))); err != nil {
		t.Fatalf("a live log's export, moderated changes included: %v", err)
	}
	for _, tc := range []struct {
		name, input string
		line        int
		want        string
	}{
		{"edit by another author", replace(2, `"author":"alice"`, `"author":"mallory"`), 3, "only the author"},
		{"moderated flag taken off", replace(3, `,"moderated":true`, ""), 4, "only the author"},
		{"delete by another author", replace(5, `"author":"alice"`, `"author":"bob"`), 6, "only the author"},
		{"moderated on a message", replace(0, `"type":"message"`, `"type":"message","moderated":true`), 1, "moderated"},
		{"edit of a deleted message", join(append(lines, lineAfter(lines, "edit", "alice", `,"text":"back"`+`,"target":"`+a.ID.String()+`"`))...), 8, "deleted"},
		{"reaction to a deleted message", join(append(lines, lineAfter(lines, "reaction", "bob", `,"target":"`+a.ID.String()+`","emoji":"👍"`))...), 8, "deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			importFails(t, open(t, Options{}), tc.input, tc.line, tc.want)
		})
	}
	t.Run("edit of a message the room has deleted", func(t *testing.T) {
		dst := open(t, Options{})
		if _, err := dst.Import(ctx, "r", strings.NewReader(join(lines...))); err != nil {
			t.Fatal(err)
		}
		importFails(t, dst, join(lineAfter(lines, "edit", "alice", `,"text":"back","target":"`+a.ID.String()+`"`)), 1, "deleted")
	})
	t.Run("text over the limit", func(t *testing.T) {
		long := open(t, Options{})
		MustAppend(t, long, "r", "alice", strings.Repeat("x", 100))
		importFails(t, open(t, Options{MaxTextBytes: 64}), string(exportRaw(t, long, "r")), 1, "limit is 64")
	})
	t.Run("line longer than any event", func(t *testing.T) {
		huge := `{"id":"` + strings.Repeat("x", store.ImportLineLimit(64)) + `"}`
		importFails(t, open(t, Options{MaxTextBytes: 64}), join(lines[0], huge, lines[1]), 2, "longer than")
	})
}

// testImportRefusesFutureIDs: no import can date the id sequence ahead of
// the log's clock (later appends are drawn above the newest id), nor past
// what an event's time can say.
func testImportRefusesFutureIDs(t *testing.T, open Opener) {
	// The wall clock, and exports written by hand: a cluster log's clock is
	// its servers', which a test cannot set.
	now := time.Now()
	exportAt := func(at time.Time) string {
		id := ulid.MustNew(ulid.Timestamp(at), strings.NewReader(strings.Repeat("\x01", 16)))
		return fmt.Sprintf(`{"id":"%s","room":"r","type":"message","author":"x","text":"from the past","time":"%s"}`+"\n", id, time.UnixMilli(int64(id.Time())).UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	dst := open(t, Options{})
	if _, err := dst.Import(context.Background(), "r", strings.NewReader(exportAt(now.Add(-time.Hour)))); err != nil {
		t.Fatalf("an export from an hour ago: %v", err)
	}
	id := ulid.MustNew(ulid.Timestamp(store.MaxTime)+1, strings.NewReader(strings.Repeat("\x01", 16)))
	for _, tc := range []struct {
		name, input, want string
	}{
		{"an hour ahead", exportAt(now.Add(time.Hour)), "after the server's clock"},
		{"the year 9999", exportAt(store.MaxTime.Add(-time.Hour)), "after the server's clock"},
		{"past the year 9999", fmt.Sprintf(`{"id":"%s","room":"r","type":"message","author":"x","text":"t","time":"10000-01-01T00:00:00.000Z"}`+"\n", id), "time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			importFails(t, dst, tc.input, 1, tc.want)
		})
	}
	rec := MustAppend(t, dst, "r", "x", "now")
	if got := time.UnixMilli(int64(rec.ID.Time())); got.Sub(time.Now()).Abs() > time.Minute {
		t.Fatalf("an append after the refused imports is dated %s, want about %s", got, time.Now())
	}
}
