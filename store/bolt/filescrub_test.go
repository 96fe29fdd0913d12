package bolt

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/storetest"
)

// TestReleasedFileNameScrubbed: once a message with a file is deleted, the
// file's name is in no byte of the db file: not in the live records, not
// in the stale copies bbolt left in free pages (the record was written
// pending, then attached: two copies).
func TestReleasedFileNameScrubbed(t *testing.T) {
	d := mustOpenDB(t, "")
	ctx := context.Background()
	count := func() int {
		b, err := os.ReadFile(d.Path)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Count(b, []byte("NAMEMARK-4c1f"))
	}
	f := storetest.MustUpload(t, d, "a", "alice", "NAMEMARK-4c1f.txt", []byte("content"))
	rec, _, err := d.Append(ctx, store.Event{Room: "a", Type: store.TypeMessage, Author: "alice", Text: "x", Files: []store.FileRef{{ID: f.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(); n < 2 {
		t.Fatalf("the name is in the file %d times before the delete: the test would prove nothing", n)
	}
	if _, _, err := d.Append(ctx, store.Event{Room: "a", Type: store.TypeDelete, Author: "alice", Target: rec.ID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the name scrubbed from the file", func() bool { return count() == 0 })
}
