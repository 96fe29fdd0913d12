package jetstream_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parleychat/parley/store"
	pjs "github.com/parleychat/parley/store/jetstream"
	"github.com/parleychat/parley/store/jetstream/natstest"
)

// noTicks is a tick interval no test lives to see.
const noTicks = 100 * 365 * 24 * time.Hour

// publishForeign stores in the stream of prefix a message written for
// apply rules no node knows: every node's applier stops before it.
func publishForeign(tb testing.TB, c *natstest.Cluster, prefix string) {
	tb.Helper()
	js := c.JetStream(tb)
	msg := nats.NewMsg(prefix + ".cluster")
	msg.Data = []byte(`{"k":"tick"}`)
	msg.Header.Set("Parley-Rules", "999")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		tb.Fatal(err)
	}
}

// TestClusterStats: a node reports its position, the stream's last
// sequence, what its eraser still has to do, and whether it is ready; a
// message it cannot apply shows as a lag of one and not ready.
func TestClusterStats(t *testing.T) {
	c := natstest.Start(t, 3)
	prefix := newPrefix()
	// The eraser never gets past its first gap record: what is queued stays.
	a := openNode(t, c, prefix, "a", func(l *pjs.Log) {
		l.TickEvery = noTicks // a tick after the foreign message would add to the lag
		pjs.SetAfterGap(l, func(ctx context.Context, seq uint64) error {
			<-ctx.Done()
			return ctx.Err()
		})
	})
	ctx := context.Background()
	stats := func() store.ClusterStats {
		st, err := a.ClusterStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	rec, _, err := a.Append(ctx, store.Event{Room: "r", Type: store.TypeMessage, Author: "x", Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Append(ctx, store.Event{Room: "r", Type: store.TypeEdit, Author: "y", Target: rec.ID, Text: "refused"}); !errors.Is(err, store.ErrForbidden) {
		t.Fatalf("edit by another author: got %v, want ErrForbidden", err)
	}
	var st store.ClusterStats
	waitUntil(t, "stats of a node that applied everything, one erase queued", func() bool {
		st = stats()
		return st.StreamRead && st.Applied == st.StreamLast && st.Applied >= 2 && st.EraseQueue == 1 && st.Ready
	})
	if st.Lag() != 0 {
		t.Fatalf("lag %d at %+v, want 0", st.Lag(), st)
	}
	publishForeign(t, c, prefix)
	waitUntil(t, "a lag of one, not ready", func() bool {
		st = stats()
		return st.StreamRead && st.StreamLast == st.Applied+1 && st.Lag() == 1 && !st.Ready
	})
}
