package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// testMessagesAround: a page centred on a message holds (limit-1)/2
// messages before it, itself and the rest after it, in their current
// state, cut short at either end of the room; anything but a message of
// the room is ErrNotFound.
func testMessagesAround(t *testing.T, open Opener) {
	l := open(t, Options{})
	ctx := context.Background()
	var ids []ulid.ULID
	for i := range 10 {
		ids = append(ids, MustAppend(t, l, "r", "ann", fmt.Sprint("m", i)).ID)
		MustAppend(t, l, "other", "bo", "noise")
	}
	edit, _, err := l.Append(ctx, store.Event{Room: "r", Type: store.TypeEdit, Author: "ann", Target: ids[5], Text: "m5 edited"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Append(ctx, store.Event{Room: "r", Type: store.TypeDelete, Author: "ann", Target: ids[3]}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		around, limit int
		want          string
	}{
		{5, 5, "(deleted) m4 m5_edited m6 m7"},
		{5, 1, "m5_edited"},
		{5, 2, "m5_edited m6"},
		{5, 4, "m4 m5_edited m6 m7"},
		{0, 5, "m0 m1 m2"},
		{1, 5, "m0 m1 m2 m3_deleted"},
		{9, 5, "m7 m8 m9"},
		{9, 1000, "m0 m1 m2 (deleted) m4 m5_edited m6 m7 m8 m9"},
	} {
		recs, err := l.Messages(ctx, "r", store.Page{Around: ids[tc.around], Limit: tc.limit})
		if err != nil {
			t.Fatalf("around m%d, limit %d: %v", tc.around, tc.limit, err)
		}
		want := strings.ReplaceAll(tc.want, "m3_deleted", "(deleted)")
		if got := pageTexts(t, recs); got != want {
			t.Errorf("around m%d, limit %d: got %s, want %s", tc.around, tc.limit, got, want)
		}
	}
	for name, p := range map[string]struct {
		room string
		id   ulid.ULID
	}{
		"unknown id":                {"r", ulid.Make()},
		"an edit, not a message":    {"r", edit.ID},
		"a message of another room": {"other", ids[0]},
		"unknown room":              {"nowhere", ids[0]},
	} {
		if recs, err := l.Messages(ctx, p.room, store.Page{Around: p.id, Limit: 5}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: got %d records, %v; want store.ErrNotFound", name, len(recs), err)
		}
	}
}

// pageTexts lists a page's messages by text, "_" for spaces, in order.
func pageTexts(tb testing.TB, recs []store.Record) string {
	tb.Helper()
	var out []string
	prev := ulid.ULID{}
	for _, rec := range recs {
		var m store.Message
		if err := m.UnmarshalJSON(rec.JSON); err != nil {
			tb.Fatal(err)
		}
		if rec.ID.Compare(prev) <= 0 || m.ID != rec.ID {
			tb.Fatalf("page out of order or ids disagree at %s", rec.ID)
		}
		prev = rec.ID
		if m.Redacted {
			out = append(out, "(deleted)")
		} else {
			out = append(out, strings.ReplaceAll(m.Text, " ", "_"))
		}
	}
	return strings.Join(out, " ")
}
