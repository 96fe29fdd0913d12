package jetstream_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
	"github.com/parleychat/parley/store/jetstream"
	"github.com/parleychat/parley/store/jetstream/natstest"
	"github.com/parleychat/parley/store/storetest"
)

// streams numbers the streams of one test binary: tests share a cluster,
// each with streams and subjects of its own.
var streams atomic.Int64

// openNode opens a cluster node on c with its own replica file, using the
// streams named by prefix, and waits until it has caught up.
func openNode(tb testing.TB, c *natstest.Cluster, prefix, node string, set func(*jetstream.Log)) *jetstream.Log {
	tb.Helper()
	return openNodeAt(tb, c, prefix, node, filepath.Join(tb.TempDir(), node+".db"), set)
}

// openNodeAt is openNode on the replica file at path.
func openNodeAt(tb testing.TB, c *natstest.Cluster, prefix, node, path string, set func(*jetstream.Log)) *jetstream.Log {
	tb.Helper()
	db := bolt.NewDB(path)
	l := jetstream.New(db, c.URLs())
	l.Stream, l.GapStream, l.NodeBucket, l.Prefix = prefix, prefix+"_GAPS", prefix+"_nodes", prefix
	l.FileBucket = prefix + "_files"
	// A change waits for the cluster as long as a test waits for anything:
	// on a machine whose every core is busy, 25 s is not always enough.
	l.WriteTimeout = 2 * time.Minute
	l.Node = node
	if set != nil {
		set(l)
	}
	if err := l.Open(); err != nil {
		tb.Fatalf("open node %s: %v", node, err)
	}
	tb.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := l.WaitCaughtUp(ctx); err != nil {
		tb.Fatalf("node %s did not catch up: %v", node, err)
	}
	return l
}

func newPrefix() string { return fmt.Sprintf("t%d", streams.Add(1)) }

func TestContract(t *testing.T) {
	c := natstest.Start(t, 3)
	storetest.Run(t, func(tb testing.TB, opt storetest.Options) store.Store {
		return openNode(tb, c, newPrefix(), "a", func(l *jetstream.Log) {
			if opt.MaxTextBytes > 0 {
				l.DB.MaxTextBytes = opt.MaxTextBytes
			}
			if opt.Now != nil {
				l.DB.Now = opt.Now
			}
			l.DB.Retention = opt.Retention
			if opt.PruneEvery > 0 {
				l.TickEvery = opt.PruneEvery
			}
		})
	})
}
