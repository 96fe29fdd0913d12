package bolt

import (
	"context"

	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// writeOp is a change made in the writer's transaction, committed (and
// fsynced) together with the appends queued beside it, instead of in a
// transaction of its own that the writer would have to wait for. Like
// batchWriter.store, it returns its own refusal in the result (having
// written nothing) and an error only for a failure that must abort the
// whole transaction.
type writeOp func(tx *bbolt.Tx) (appendResult, error)

// inWriter queues op for the writer and returns its outcome once
// committed. Once queued, it waits for the outcome even if ctx ends, as
// Append does.
func (d *DB) inWriter(ctx context.Context, op writeOp) error {
	req := newAppendReq(ctx)
	req.op = op
	d.mu.RLock()
	if d.closed || d.db == nil {
		d.mu.RUnlock()
		req.release()
		return store.ErrClosed
	}
	select {
	case d.queue <- req:
		d.mu.RUnlock()
	case <-ctx.Done():
		d.mu.RUnlock()
		req.release()
		return ctx.Err()
	}
	r := <-req.done
	req.release()
	return r.err
}
