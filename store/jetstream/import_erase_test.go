package jetstream_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/jetstream/natstest"
)

// TestDeletedImportIsErased: an imported message (its id its own, so it
// names no sequence) deleted through another node is erased from every
// NATS server's stream files, and a node started empty rebuilds the same
// history.
func TestDeletedImportIsErased(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	a, b := openNode(t, c, prefix, "a", nil), openNode(t, c, prefix, "b", nil)
	ctx := context.Background()
	secret := fmt.Sprintf("IMPORTED-%d", time.Now().UnixNano())
	id := ulid.MustNew(ulid.Timestamp(time.Now().Add(-time.Hour)), ulid.DefaultEntropy())
	e := store.Event{ID: id, Room: "r", Type: store.TypeMessage, Author: "x", Text: "the " + secret, Time: ulid.Time(id.Time())}
	js, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Import(ctx, "r", bytes.NewReader(append(js, '\n'))); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the imported text in server 1's stream (else the test does not test)", func() bool {
		return streamHas(c, 0, prefix, secret)
	})
	waitUntil(t, "B has the import", func() bool { return len(history(t, b, "r")) == 1 })
	if _, _, err := b.Append(ctx, store.Event{Room: "r", Type: store.TypeDelete, Author: "x", Target: id}); err != nil {
		t.Fatal(err)
	}
	waitErased(t, c, prefix, secret)
	want := history(t, a, "r")
	sameHistory(t, want, history(t, openNode(t, c, prefix, "c", nil), "r"))
	for _, r := range want {
		if bytes.Contains(r.JSON, []byte(secret)) {
			t.Fatalf("the history still holds the deleted text: %s", r.JSON)
		}
	}
}
