package jetstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
	"github.com/parleychat/parley/store/jetstream"
	"github.com/parleychat/parley/store/jetstream/natstest"
)

// waitUntil polls cond until it holds, failing tb after two minutes.
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// history returns every record of rooms on l, oldest first.
func history(tb testing.TB, l store.Log, rooms ...string) []store.Record {
	tb.Helper()
	recs, err := l.ReadAfter(context.Background(), rooms, ulid.ULID{}, 100000)
	if err != nil {
		tb.Fatal(err)
	}
	return recs
}

// sameHistory fails tb unless a and b hold the same records, ids and bytes.
func sameHistory(tb testing.TB, a, b []store.Record) {
	tb.Helper()
	if len(a) != len(b) {
		tb.Fatalf("histories of %d and %d records", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != b[i].ID || !bytes.Equal(a[i].JSON, b[i].JSON) {
			tb.Fatalf("record %d: %s\nwant %s", i, b[i].JSON, a[i].JSON)
		}
	}
}

// TestNodesDeriveTheSameHistory: three nodes append at once; every node
// applies the one stream to the same records, ids and bytes, with ids that
// increase in stream order and carry their sequence. After a delete erased
// a message from the stream, a node started on an empty replica meets the
// erased sequences as gaps and rebuilds the same history.
func TestNodesDeriveTheSameHistory(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	nodes := []*jetstream.Log{openNode(t, c, prefix, "a", nil), openNode(t, c, prefix, "b", nil), openNode(t, c, prefix, "c", nil)}
	const each = 30
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				e := store.Event{Room: fmt.Sprintf("r%d", j%2), Type: store.TypeMessage, Author: "x", Text: fmt.Sprintf("%d-%d", i, j)}
				if _, _, err := n.Append(context.Background(), e); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	target := history(t, nodes[0], "r0")[0]
	if _, _, err := nodes[1].Append(context.Background(), store.Event{Room: "r0", Type: store.TypeEdit, Author: "x", Target: target.ID, Text: "edited SECRET"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := nodes[2].Append(context.Background(), store.Event{Room: "r0", Type: store.TypeDelete, Author: "x", Target: target.ID}); err != nil {
		t.Fatal(err)
	}
	last := nodes[2].AppliedSeq()
	for _, n := range nodes {
		waitUntil(t, "every node applied the delete", func() bool { return n.AppliedSeq() >= last })
	}
	want := history(t, nodes[0], "r0", "r1")
	if len(want) != 3*each+2 {
		t.Fatalf("got %d records, want %d", len(want), 3*each+2)
	}
	var prev uint64
	for i, r := range want {
		seq, ok := bolt.SeqOf(r.ID)
		if !ok || seq <= prev {
			t.Fatalf("record %d id %s: sequence %d after %d (derived %v)", i, r.ID, seq, prev, ok)
		}
		prev = seq
	}
	for _, n := range nodes[1:] {
		sameHistory(t, want, history(t, n, "r0", "r1"))
	}
	fresh := openNode(t, c, prefix, "d", nil)
	sameHistory(t, want, history(t, fresh, "r0", "r1"))
	if bytes.Contains(history(t, fresh, "r0")[0].JSON, []byte("SECRET")) {
		t.Fatal("the rebuilt node holds the deleted text")
	}
}

// TestAccountsAcrossNodes: a credential added through one node identifies
// through another at once; a revocation through the second is applied by
// the first; a rule is decided by the stream's order on every node.
func TestAccountsAcrossNodes(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	a, b := openNode(t, c, prefix, "a", nil), openNode(t, c, prefix, "b", nil)
	ctx := context.Background()
	if err := a.AddUser(ctx, store.User{Name: "ann", Role: store.RoleAdmin, PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	if err := b.AddUser(ctx, store.User{Name: "ann", Role: store.RoleMember, PasswordHash: "h"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second add of ann through B: got %v, want ErrConflict", err)
	}
	hash := []byte("token-hash-1")
	if err := a.AddCredential(ctx, hash, store.Credential{ID: "t1", Kind: store.KindToken, User: "ann"}); err != nil {
		t.Fatal(err)
	}
	cred, u, err := b.Identify(ctx, hash, time.Now())
	if err != nil || cred.ID != "t1" || u.Name != "ann" {
		t.Fatalf("identify through B: %+v %+v %v", cred, u, err)
	}
	n, err := b.RevokeCredentials(ctx, func(c store.Credential) bool { return c.ID == "t1" })
	if err != nil || n != 1 {
		t.Fatalf("revoke through B: %d %v", n, err)
	}
	waitUntil(t, "A applied the revocation", func() bool {
		_, _, err := a.DB.Identify(ctx, hash, time.Now())
		return errors.Is(err, store.ErrNotFound)
	})
	if err := a.SetRoomRetention(ctx, "r", &store.Retention{Events: 5}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "B applied the room setting", func() bool {
		r, err := b.RoomRetention(ctx, "r")
		return err == nil && r != nil && r.Events == 5
	})
}

// TestAccountsReadAcrossNodesAtOnce: thirty users and credentials, each
// added through one node and read through another at once (the user
// through Synced, as a sign-in does; the credential by Identify), are all
// found, though the second node applies each while it looks (the look that
// missed it must look again). The stream's leader changes first, while the stream
// is new: NATS then lets the peer it first preferred answer stream info
// too, with what that peer has applied.
func TestAccountsReadAcrossNodesAtOnce(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	a := openNode(t, c, prefix, "a", nil)
	first := c.StreamLeader(prefix)
	if _, err := c.JetStream(t).Conn().Request("$JS.API.STREAM.LEADER.STEPDOWN."+prefix, nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "another server leads the stream", func() bool {
		l := c.StreamLeader(prefix)
		return l >= 0 && l != first
	})
	b := openNode(t, c, prefix, "b", nil)
	ctx := context.Background()
	for i := range 30 {
		name := fmt.Sprintf("u%d", i)
		if err := a.AddUser(ctx, store.User{Name: name, Role: store.RoleMember, PasswordHash: "h"}); err != nil {
			t.Fatal(err)
		}
		found, err := b.Synced(ctx, func() (bool, error) {
			_, err := b.User(ctx, name)
			if errors.Is(err, store.ErrNotFound) {
				return false, nil
			}
			return err == nil, err
		})
		if !found || err != nil {
			t.Fatalf("user %s added through A, read through B (synced): %v, %v", name, found, err)
		}
		hash := fmt.Appendf(nil, "token-hash-%d", i)
		if err := a.AddCredential(ctx, hash, store.Credential{ID: fmt.Sprint(i), Kind: store.KindToken, User: name}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.Identify(ctx, hash, time.Now()); err != nil {
			t.Fatalf("credential %d added through A, identified through B: %v", i, err)
		}
	}
}

// TestRetentionTicksPruneAlike: retention runs from ticks in the stream,
// so every node prunes the same events and reports the same horizon.
func TestRetentionTicksPruneAlike(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	set := func(l *jetstream.Log) {
		l.DB.Retention = store.Retention{Events: 3}
		l.TickEvery = 50 * time.Millisecond
	}
	a, b := openNode(t, c, prefix, "a", set), openNode(t, c, prefix, "b", set)
	for i := range 8 {
		if _, _, err := a.Append(context.Background(), store.Event{Room: "r", Type: store.TypeMessage, Author: "x", Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	last := a.AppliedSeq() // the last post, at least
	for _, n := range []*jetstream.Log{a, b} {
		waitUntil(t, "the node applied every post and retention pruned to 3 events", func() bool {
			return n.AppliedSeq() >= last && len(history(t, n, "r")) == 3
		})
	}
	sameHistory(t, history(t, a, "r"), history(t, b, "r"))
	pa, _, err := a.Horizon(context.Background(), "r")
	pb, _, err2 := b.Horizon(context.Background(), "r")
	if err != nil || err2 != nil || pa != pb || pa == (ulid.ULID{}) {
		t.Fatalf("horizons: %s and %s (%v, %v), want one, non-zero", pa, pb, err, err2)
	}
}

// TestReplicaRefusesDirectWrites: a node's replica takes changes only from
// the stream.
func TestReplicaRefusesDirectWrites(t *testing.T) {
	c := natstest.Start(t, 3)
	l := openNode(t, c, newPrefix(), "a", nil)
	if _, _, err := l.DB.Append(context.Background(), store.Event{Room: "r", Type: store.TypeMessage, Author: "x", Text: "t"}); !errors.Is(err, bolt.ErrReplica) {
		t.Fatalf("append to the replica: got %v, want ErrReplica", err)
	}
}
