package bolt

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/storetest"
)

// testdata/schema1.db was written by the schema 1 code (before client ids
// were scoped to their author). At 2026-11-21T20:00Z and a second apart:
// general: alice "hello from alice" (client id retry-1), bob "hello from
// bob" (retry-2), alice's edit, bob's 👍, bob "regret" (retry-3) and his
// delete of it; support: carol "help" (retry-1), dave "no client id"; and
// support's own retention of 1000 events.

// TestOpenUpgradesSchema1: opening a schema 1 file upgrades it in place, in
// one transaction: client ids keep answering their author's retries and no
// one else's, room settings survive, and the result verifies.
func TestOpenUpgradesSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	copyFile(t, "testdata/schema1.db", path)
	if _, err := Verify(path); err == nil || !strings.Contains(err.Error(), "start parley serve on it once") {
		t.Fatalf("verify of a schema 1 file: got %v, want the way to upgrade it", err)
	}
	clock := storetest.NewClock(time.Date(2026, 11, 21, 21, 0, 0, 0, time.UTC))
	d := mustOpenDB(t, path, func(d *DB) { d.Now = clock.Now })
	ctx := context.Background()
	for _, tc := range []struct {
		room, author, cid string
		created           bool
	}{
		{"general", "alice", "retry-1", false},
		{"general", "bob", "retry-2", false},
		{"general", "bob", "retry-3", false},
		{"support", "carol", "retry-1", false},
		{"general", "carol", "retry-1", true}, // alice's client id is not carol's
		{"support", "alice", "retry-1", true},
	} {
		rec, created, err := d.Append(ctx, store.Event{Room: tc.room, Type: store.TypeMessage, Author: tc.author, Text: "retry", ClientID: tc.cid})
		if err != nil || created != tc.created {
			t.Fatalf("%s in %s with %s: got %s created=%v (%v), want created=%v", tc.author, tc.room, tc.cid, rec.JSON, created, err, tc.created)
		}
		if e, _ := rec.Decode(); !created && (e.Author != tc.author || e.ClientID != tc.cid) {
			t.Fatalf("%s's retry answered with %s", tc.author, rec.JSON)
		}
	}
	if r, err := d.RoomRetention(ctx, "support"); err != nil || r == nil || r.Events != 1000 {
		t.Fatalf("support's retention after the upgrade: %+v, %v", r, err)
	}
	d.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyVersion); string(v) != string(schemaVersion) {
			t.Errorf("schema version %v, want %v", v, schemaVersion)
		}
		return nil
	})
	d.Close()
	mustVerify(t, path)
}
