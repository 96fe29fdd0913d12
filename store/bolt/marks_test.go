package bolt

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// TestMarksSurviveRestart: read markers, and the unread counts they give,
// are on disk, not in memory.
func TestMarksSurviveRestart(t *testing.T) {
	d := mustOpenDB(t, "")
	ctx := context.Background()
	first := mustAppend(t, d, "r", "bob", "one")
	mustAppend(t, d, "r", "bob", "two @alice")
	if _, err := d.SetMark(ctx, "u:alice", "r", first.ID); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d = mustOpenDB(t, d.Path)
	if got, err := d.Mark(ctx, "u:alice", "r"); err != nil || got != first.ID {
		t.Fatalf("after restart: got %s, %v; want %s", got, err, first.ID)
	}
	u, err := d.Unread(ctx, store.UnreadQuery{Person: "u:alice", Author: "alice", Rooms: []string{"r"}, Limit: 10})
	if err != nil || u[0] != (store.Unread{Room: "r", Mark: first.ID, Messages: 1, Mentions: 1}) {
		t.Fatalf("unread after restart: got %+v, %v", u, err)
	}
}

// TestConcurrentMarksKeepTheNewest: markers set at once from many clients
// (committed together, perhaps more than once) end at the newest.
func TestConcurrentMarksKeepTheNewest(t *testing.T) {
	d := mustOpenDB(t, "")
	var ids []ulid.ULID
	for i := 0; i < 50; i++ {
		ids = append(ids, mustAppend(t, d, "r", "bob", "m").ID)
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range rand.Perm(len(ids)) {
				if _, err := d.SetMark(context.Background(), "p", "r", ids[i]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got, _ := d.Mark(context.Background(), "p", "r"); got != ids[len(ids)-1] {
		t.Fatalf("got %s, want the newest %s", got, ids[len(ids)-1])
	}
}

// TestMessageCountsOfAnOlderFile: a file written before rooms counted their
// messages gets its counts when it opens.
func TestMessageCountsOfAnOlderFile(t *testing.T) {
	d := mustOpenDB(t, "")
	ctx := context.Background()
	gone := mustAppend(t, d, "r", "bob", "one")
	mustAppend(t, d, "r", "bob", "two")
	mustAppend(t, d, "s", "bob", "three")
	if _, _, err := d.Append(ctx, store.Event{Room: "r", Type: store.TypeDelete, Author: "bob", Target: gone.ID}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	db, err := bbolt.Open(d.Path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, room := range []string{"r", "s"} {
			if err := tx.Bucket(bucketCounts).Delete([]byte(room)); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	mustVerify(t, d.Path) // a missing count is not damage
	d = mustOpenDB(t, d.Path)
	rooms, err := d.Rooms(ctx)
	if err != nil || len(rooms) != 2 || rooms[0].Messages != 1 || rooms[1].Messages != 1 {
		t.Fatalf("got %+v, %v; want one message in each room", rooms, err)
	}
}
