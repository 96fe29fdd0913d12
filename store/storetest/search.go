package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/search"
)

// searchTexts runs query over rooms and returns the texts found, in order,
// failing tb on an error.
func searchTexts(tb testing.TB, l store.Log, rooms []string, query string, before ulid.ULID, limit int) []string {
	tb.Helper()
	var out []string
	for _, h := range mustSearch(tb, l, rooms, query, before, limit) {
		out = append(out, hitText(tb, h))
	}
	return out
}

func mustSearch(tb testing.TB, l store.Log, rooms []string, query string, before ulid.ULID, limit int) []store.SearchHit {
	tb.Helper()
	q, err := search.Parse(query)
	if err != nil {
		tb.Fatalf("parse %q: %v", query, err)
	}
	hits, err := l.Search(context.Background(), rooms, q, before, limit)
	if err != nil {
		tb.Fatalf("search %q: %v", query, err)
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Record.ID.Compare(hits[i-1].Record.ID) >= 0 {
			tb.Fatalf("search %q: results not newest first: %s then %s", query, hits[i-1].Record.ID, hits[i].Record.ID)
		}
	}
	return hits
}

func hitText(tb testing.TB, h store.SearchHit) string {
	tb.Helper()
	var m store.Message
	if err := m.UnmarshalJSON(h.Record.JSON); err != nil || m.ID != h.Record.ID || h.Record.Type != store.TypeMessage {
		tb.Fatalf("hit %s: %s, %v", h.Record.ID, h.Record.JSON, err)
	}
	return m.Text
}

// testSearchFindsInEveryLanguage: words (all of them, the last one as a
// prefix), phrases, exclusions and filters; Chinese and Japanese by any
// substring, Latin text without case or accents, German spellings, emoji;
// highlights are byte ranges of the text; only the rooms passed are read.
func testSearchFindsInEveryLanguage(t *testing.T, open Opener) {
	l := open(t, Options{})
	texts := []struct{ room, author, text string }{
		{"dev", "alice", "We deploy the server on Friday"},
		{"dev", "bob", "Deployment failed: the server is down"},
		{"ops", "Zoë", "Café au lait at the CAFE"},
		{"ops", "bob", "我们明天在东京见面"},
		{"ops", "alice", "東京タワーに行きました"},
		{"dev", "carol", "Wir treffen uns in München"},
		{"dev", "carol", "Great job 👍🏽 everyone"},
		{"secret", "mallory", "the server password is hunter2"},
	}
	var recs []store.Record
	for _, m := range texts {
		recs = append(recs, MustAppend(t, l, m.room, m.author, m.text))
	}
	public := []string{"dev", "ops"}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"server", []string{texts[1].text, texts[0].text}},
		{"deploy server", []string{texts[1].text, texts[0].text}},
		{"depl", []string{texts[1].text, texts[0].text}},
		{"deploy serv", []string{texts[1].text, texts[0].text}},
		{`"deploy the server"`, []string{texts[0].text}},
		{"server -failed", []string{texts[0].text}},
		{"server from:bob", []string{texts[1].text}},
		{"from:zoe", []string{texts[2].text}},
		{"cafe", []string{texts[2].text}},
		{"CAFÉ", []string{texts[2].text}},
		{"东京", []string{texts[3].text}},
		{"明天在", []string{texts[3].text}},
		{"タワー", []string{texts[4].text}},
		{"東京", []string{texts[4].text}},
		{"muenchen", []string{texts[5].text}},
		{"munchen", []string{texts[5].text}},
		{"👍", []string{texts[6].text}},
		{"server in:ops", nil},
		{"server -in:dev", nil},
		{"hunter2", nil}, // room secret is not passed
		{"xylophone", nil},
	} {
		if got := searchTexts(t, l, public, tc.query, ulid.ULID{}, 10); !slices.Equal(got, tc.want) {
			t.Errorf("search %q: got %q, want %q", tc.query, got, tc.want)
		}
	}
	if got := searchTexts(t, l, []string{"secret", "dev"}, "server", ulid.ULID{}, 10); len(got) != 3 || got[0] != texts[7].text {
		t.Errorf("with room secret: got %q, want its message first of 3", got)
	}
	hits := mustSearch(t, l, public, "depl serv", ulid.ULID{}, 10)
	if len(hits) != 2 || !slices.Equal(hits[1].Highlights, []search.Range{{3, 9}, {14, 20}}) {
		t.Errorf("highlights of %q: got %v, want [[3 9] [14 20]] in the second", texts[0].text, hits)
	}
	// Paging: below the last id returned, and bounded by before: / after:.
	first := mustSearch(t, l, public, "server", ulid.ULID{}, 1)
	if len(first) != 1 || first[0].Record.ID != recs[1].ID {
		t.Fatalf("page 1: got %v", first)
	}
	if got := searchTexts(t, l, public, "server", first[0].Record.ID, 1); !slices.Equal(got, []string{texts[0].text}) {
		t.Errorf("page 2: got %q", got)
	}
	if got := searchTexts(t, l, public, "server after:"+recs[0].ID.String(), ulid.ULID{}, 10); !slices.Equal(got, []string{texts[1].text}) {
		t.Errorf("after: got %q", got)
	}
	if got := searchTexts(t, l, public, "server before:"+recs[1].ID.String(), ulid.ULID{}, 10); !slices.Equal(got, []string{texts[0].text}) {
		t.Errorf("before: got %q", got)
	}
}

// testSearchFollowsChanges: an edit is found by its new text only, a
// deleted message not at all, a reaction changes nothing, and what
// retention deleted is gone.
func testSearchFollowsChanges(t *testing.T, open Opener) {
	l := open(t, Options{Retention: store.Retention{Events: 6}, PruneEvery: 10 * time.Millisecond})
	ctx := context.Background()
	old := MustAppend(t, l, "r", "alice", "an old rhinoceros")
	msg := MustAppend(t, l, "r", "alice", "the quick brown fox")
	gone := MustAppend(t, l, "r", "bob", "a secret zebracorn")
	for _, e := range []store.Event{
		{Type: store.TypeEdit, Author: "alice", Target: msg.ID, Text: "the lazy dog"},
		{Type: store.TypeReaction, Author: "bob", Target: msg.ID, Emoji: "🦊"},
		{Type: store.TypeDelete, Author: "bob", Target: gone.ID},
	} {
		e.Room = "r"
		if _, created, err := l.Append(ctx, e); err != nil || !created {
			t.Fatalf("append %s: %v, %v", e.Type, created, err)
		}
	}
	r := []string{"r"}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"fox", nil},
		{"lazy", []string{"the lazy dog"}},
		{"zebracorn", nil},
		{"from:bob", nil},
		{"from:alice", []string{"the lazy dog", "an old rhinoceros"}},
	} {
		if got := searchTexts(t, l, r, tc.query, ulid.ULID{}, 10); !slices.Equal(got, tc.want) {
			t.Errorf("search %q: got %q, want %q", tc.query, got, tc.want)
		}
	}
	MustAppend(t, l, "r", "carol", "a newer rhinoceros") // 7 events: the first goes
	waitUntil(t, "retention deletes the first message", func() bool {
		got, err := l.ReadAfter(ctx, r, ulid.ULID{}, 10)
		return err == nil && len(got) == 6 && got[0].ID != old.ID
	})
	if got := searchTexts(t, l, r, "rhinoceros", ulid.ULID{}, 10); !slices.Equal(got, []string{"a newer rhinoceros"}) {
		t.Errorf("after retention: got %q", got)
	}
}

// testSearchImportedHistory: imported messages are found like appended
// ones, many of them, through every page.
func testSearchImportedHistory(t *testing.T, open Opener) {
	src := open(t, Options{})
	const n = 700
	words := []string{"alpha", "bravo", "charlie", "delta", "echo"}
	var all []string
	for i := 0; i < n; i += 100 {
		// Imported in one transaction each: fast however slow the disk.
		var lines []string
		for j := i; j < i+100; j++ {
			lines = append(lines, fmt.Sprintf("message %d %s %s", j, words[j%5], words[(j/5)%5]))
		}
		importTexts(t, src, "r", lines)
		all = append(all, lines...)
	}
	MustAppend(t, src, "r", "alice", "message live alpha bravo")
	all = append(all, "message live alpha bravo")
	for _, query := range []string{"alpha", "alpha bravo", "charl", "message", `"echo echo"`, "echo -delta", "7"} {
		q, err := search.Parse(query)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := len(all) - 1; i >= 0; i-- {
			if ok, _ := q.Match(all[i]); ok {
				want = append(want, all[i])
			}
		}
		var got []string
		before := ulid.ULID{}
		for {
			hits := mustSearch(t, src, []string{"r"}, query, before, 37)
			for _, h := range hits {
				got = append(got, hitText(t, h))
			}
			if len(hits) < 37 {
				break
			}
			before = hits[len(hits)-1].Record.ID
		}
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("search %q: got %d results, want %d (%.3q)", query, len(got), len(want), got[:min(3, len(got))])
		}
	}
}

// importTexts imports one message per text into room, dated after
// everything the log has.
func importTexts(tb testing.TB, l store.Log, room string, texts []string) {
	tb.Helper()
	last := ulid.ULID{}
	if recs, err := l.ReadBefore(context.Background(), room, ulid.ULID{}, 1); err == nil && len(recs) == 1 {
		last = recs[0].ID
	}
	ms := max(last.Time()+1, uint64(time.Now().Add(-time.Hour).UnixMilli()))
	var b strings.Builder
	for i, text := range texts {
		id := ulid.MustNew(ms+uint64(i), strings.NewReader(strings.Repeat("\x07", 16)))
		fmt.Fprintf(&b, `{"id":"%s","room":"%s","type":"message","author":"importer","text":"%s","time":"%s"}`+"\n",
			id, room, text, time.UnixMilli(int64(id.Time())).UTC().Format(store.TimeFormat))
	}
	if _, err := l.Import(context.Background(), room, strings.NewReader(b.String())); err != nil {
		tb.Fatalf("import: %v", err)
	}
}
