package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// richRoom fills room with every kind of event and returns its raw export.
func richRoom(tb testing.TB, l store.Log, room string) []byte {
	tb.Helper()
	ctx := context.Background()
	a, _, _ := l.Append(ctx, store.Event{Room: room, Type: store.TypeMessage, Author: "ann", Text: "hello\nworld <b>", ClientID: "c1"})
	b, _, _ := l.Append(ctx, store.Event{Room: room, Type: store.TypeMessage, Author: "bo", Text: "=1+1", ReplyTo: a.ID})
	l.Append(ctx, store.Event{Room: room, Type: store.TypeEdit, Author: "ann", Target: a.ID, Text: "hello, world"})
	l.Append(ctx, store.Event{Room: room, Type: store.TypeReaction, Author: "bo", Target: a.ID, Emoji: "👍"})
	l.Append(ctx, store.Event{Room: room, Type: store.TypeDelete, Author: "bo", Target: b.ID})
	for i := 0; i < 30; i++ {
		l.Append(ctx, store.Event{Room: room, Type: store.TypeMessage, Author: "cy", Text: fmt.Sprint("ünïcode ", i)})
	}
	return exportRaw(tb, l, room)
}

func exportRaw(tb testing.TB, l store.Log, room string) []byte {
	tb.Helper()
	recs, err := l.ReadAfter(context.Background(), []string{room}, ulid.ULID{}, 1_000_000)
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	for _, r := range recs {
		buf.Write(r.JSON)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func testImportRoundTrip(t *testing.T, open Opener) {
	src := open(t, Options{})
	export := richRoom(t, src, "r")
	srcPage, _ := src.Messages(context.Background(), "r", store.Page{Forward: true, Limit: 1000})

	dst := open(t, Options{})
	rep, err := dst.Import(context.Background(), "r", bytes.NewReader(export))
	if err != nil || rep.Imported != 35 || rep.Skipped != 0 {
		t.Fatalf("import: %+v, %v", rep, err)
	}
	if again := exportRaw(t, dst, "r"); !bytes.Equal(again, export) {
		t.Fatalf("re-export differs:\n%s\nwant\n%s", again, export)
	}
	dstPage, _ := dst.Messages(context.Background(), "r", store.Page{Forward: true, Limit: 1000})
	for i := range srcPage {
		if !bytes.Equal(srcPage[i].JSON, dstPage[i].JSON) {
			t.Fatalf("message %d: %s, want %s", i, dstPage[i].JSON, srcPage[i].JSON)
		}
	}
	// Idempotent.
	rep, err = dst.Import(context.Background(), "r", bytes.NewReader(export))
	if err != nil || rep.Imported != 0 || rep.Skipped != 35 {
		t.Fatalf("second import: %+v, %v", rep, err)
	}
	// The client id came along; new ids sort after imported ones.
	if _, created, _ := dst.Append(context.Background(), store.Event{Room: "r", Type: store.TypeMessage, Author: "ann", Text: "again", ClientID: "c1"}); created {
		t.Fatal("imported client id not remembered")
	}
	recs, _ := dst.ReadAfter(context.Background(), []string{"r"}, ulid.ULID{}, 1000)
	next := MustAppend(t, dst, "other", "x", "new")
	if next.ID.Compare(recs[len(recs)-1].ID) <= 0 {
		t.Fatalf("new id %s not above imported %s", next.ID, recs[len(recs)-1].ID)
	}
}

func testImportRejectsBadFilesWhole(t *testing.T, open Opener) {
	src := open(t, Options{})
	good := strings.Split(strings.TrimSuffix(string(richRoom(t, src, "r")), "\n"), "\n")
	replace := func(i int, line string) string {
		lines := append([]string(nil), good...)
		lines[i] = line
		return strings.Join(lines, "\n") + "\n"
	}
	swap := append([]string(nil), good...)
	swap[3], swap[4] = swap[4], swap[3]
	for _, tc := range []struct {
		name  string
		input string
		line  int
	}{
		{"malformed JSON", replace(2, `{"id":`), 3},
		{"unknown type", replace(5, strings.Replace(good[5], `"type":"message"`, `"type":"shout"`, 1)), 6},
		{"other room", replace(6, strings.Replace(good[6], `"room":"r"`, `"room":"x"`, 1)), 7},
		{"time not the id's", replace(7, strings.Replace(good[7], `"time":"20`, `"time":"19`, 1)), 8},
		{"out of order", strings.Join(swap, "\n") + "\n", 5},
		{"blank line", replace(9, ""), 10},
		{"empty file", "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := open(t, Options{})
			_, err := dst.Import(context.Background(), "r", strings.NewReader(tc.input))
			var ie *store.ImportError
			if !errors.As(err, &ie) || ie.Line != tc.line || !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("got %v, want an error on line %d", err, tc.line)
			}
			if rooms, _ := dst.Rooms(context.Background()); len(rooms) != 0 {
				t.Fatalf("a bad file was half applied: %+v", rooms)
			}
		})
	}
	t.Run("target outside the file and the room", func(t *testing.T) {
		dst := open(t, Options{})
		_, err := dst.Import(context.Background(), "r", strings.NewReader(strings.Join(good[2:], "\n")))
		var ie *store.ImportError
		if !errors.As(err, &ie) || ie.Line != 1 {
			t.Fatalf("got %v, want an error on line 1", err)
		}
	})
	t.Run("older than the room", func(t *testing.T) {
		// Later than the file: with the same millisecond, a fake's id
		// could be the file's first.
		dst := open(t, Options{Now: func() time.Time { return time.Now().Add(time.Hour) }})
		MustAppend(t, dst, "r", "x", "already here")
		_, err := dst.Import(context.Background(), "r", strings.NewReader(strings.Join(good, "\n")))
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "older than the room's newest") {
			t.Fatalf("got %v", err)
		}
	})
}

// testRoomRetentionSettings: a room's own retention reads back as set, and
// nil returns it to the default; bad settings are refused.
func testRoomRetentionSettings(t *testing.T, open Opener) {
	l := open(t, Options{})
	ctx := context.Background()
	MustAppend(t, l, "a", "x", "y")
	if r, err := l.RoomRetention(ctx, "a"); err != nil || r != nil {
		t.Fatalf("new room: got %+v, %v; want nil (the default)", r, err)
	}
	want := store.Retention{Events: 5, For: store.Duration(48 * time.Hour)}
	if err := l.SetRoomRetention(ctx, "a", &want); err != nil {
		t.Fatal(err)
	}
	if r, err := l.RoomRetention(ctx, "a"); err != nil || r == nil || *r != want {
		t.Fatalf("got %+v, %v; want %+v", r, err, want)
	}
	if err := l.SetRoomRetention(ctx, "a", &store.Retention{Events: -1}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("negative retention: got %v, want store.ErrInvalid", err)
	}
	if err := l.SetRoomRetention(ctx, "a", nil); err != nil {
		t.Fatal(err)
	}
	if r, err := l.RoomRetention(ctx, "a"); err != nil || r != nil {
		t.Fatalf("after reset: got %+v, %v; want nil", r, err)
	}
}

// testRoomSettingsBeforeFirstEvent: a room's settings can be set before it
// has events (an admin prepares a room), without making it a room with
// events, and still hold once it has some.
func testRoomSettingsBeforeFirstEvent(t *testing.T, open Opener) {
	l := open(t, Options{})
	ctx := context.Background()
	if r, err := l.RoomRetention(ctx, "support"); err != nil || r != nil {
		t.Fatalf("a room without events: got %+v, %v; want nil (the default)", r, err)
	}
	want := store.Retention{Events: 100, For: store.Duration(720 * time.Hour)}
	if err := l.SetRoomRetention(ctx, "support", &want); err != nil {
		t.Fatalf("set before the first event: %v", err)
	}
	if rooms, _ := l.Rooms(ctx); len(rooms) != 0 {
		t.Fatalf("settings made a room with events: %+v", rooms)
	}
	MustAppend(t, l, "support", "x", "first")
	if r, err := l.RoomRetention(ctx, "support"); err != nil || r == nil || *r != want {
		t.Fatalf("after the first event: got %+v, %v; want %+v", r, err, want)
	}
	if err := l.SetRoomRetention(ctx, "Not A Room", &want); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad room name: got %v, want store.ErrInvalid", err)
	}
}
