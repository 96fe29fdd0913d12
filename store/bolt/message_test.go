package bolt

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

func appendEvent(tb testing.TB, d *DB, e store.Event) (store.Record, bool, error) {
	tb.Helper()
	if e.Type == "" {
		e.Type = store.TypeMessage
	}
	return d.Append(context.Background(), e)
}

// TestDeleteLeavesNoTraceOfTheText: after a delete, the text is in no read
// path, and once the scrubber is done, nowhere in the bytes of the file,
// old pages included.
func TestDeleteLeavesNoTraceOfTheText(t *testing.T) {
	d := mustOpenDB(t, "")
	secret, edited := "launch code 7401-ALPHA", "launch code 7401-BRAVO"
	m := mustAppend(t, d, "a", "alice", secret)
	// Plenty of writes to the same pages, so bbolt leaves stale copies.
	for i := 0; i < 50; i++ {
		mustAppend(t, d, "a", "bob", fmt.Sprint("chatter ", i))
		appendEvent(t, d, store.Event{Room: "a", Type: store.TypeReaction, Author: fmt.Sprint("r", i), Target: m.ID, Emoji: "👍"})
	}
	appendEvent(t, d, store.Event{Room: "a", Type: store.TypeEdit, Author: "alice", Target: m.ID, Text: edited})
	for i := 0; i < 20; i++ {
		mustAppend(t, d, "a", "bob", fmt.Sprint("more ", i))
	}
	before, _ := os.ReadFile(d.Path)
	if !bytes.Contains(before, []byte(secret)) {
		t.Fatal("test is void: the text was never in the file")
	}
	if _, created, err := appendEvent(t, d, store.Event{Room: "a", Type: store.TypeDelete, Author: "alice", Target: m.ID}); err != nil || !created {
		t.Fatalf("delete: %v %v", created, err)
	}
	ctx := context.Background()
	raw, _ := d.ReadAfter(ctx, []string{"a"}, ulid.ULID{}, 1000)
	page, _ := d.Messages(ctx, "a", store.Page{Forward: true, Limit: 1000})
	for _, recs := range [][]store.Record{raw, page} {
		for _, r := range recs {
			if bytes.Contains(r.JSON, []byte("7401")) {
				t.Fatalf("read path still has the text: %s", r.JSON)
			}
		}
	}
	// The text left every read path at the acknowledgement; the scrubber
	// erases its stale copies in the background.
	waitScrubbed(t, d)
	after, err := os.ReadFile(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secret, edited, "7401"} {
		if i := bytes.Index(after, []byte(s)); i >= 0 {
			t.Fatalf("the file still holds %q at offset %d", s, i)
		}
	}
	// The file is still sound and later writes work.
	mustAppend(t, d, "a", "bob", "after the delete")
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2 := mustOpenDB(t, d.Path)
	d2.db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check after scrub: %v", err)
		}
		return nil
	})
	if page, err := d2.Messages(ctx, "a", store.Page{Limit: 1000}); err != nil || len(page) != 72 {
		t.Fatalf("after reopen: %d messages, %v", len(page), err)
	}
}

// waitScrubbed waits until the scrubber has nothing left to do.
func waitScrubbed(tb testing.TB, d *DB) {
	tb.Helper()
	waitFor(tb, "the scrub", func() bool { return d.Stats().ScrubPending == 0 })
}
