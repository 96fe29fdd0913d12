package jetstream

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store/bolt"
)

// The eraser removes from the stream what the replica queued for it
// (bolt's erase queue, filled in the transaction that applies a delete or
// a retention prune): for each sequence, first its gap record, then a
// secure delete that overwrites the message in JetStream's store. Every
// node runs one over its own queue, which holds the same sequences as
// every other node's, so nothing depends on the node that took a DELETE
// surviving it. Both steps are idempotent: a record already there is kept,
// a message already gone is done.

// eraseRetry is how often a node retries an erase that failed.
const eraseRetry = 5 * time.Second

// eraseBatch is how many queued sequences one read of the queue takes.
const eraseBatch = 256

// wakeEraser tells the eraser its queue may have grown.
func (l *Log) wakeEraser() {
	select {
	case l.eraseWake <- struct{}{}:
	default:
	}
}

// eraseLoop erases what is queued at Open, then whenever the applier
// queues more, and retries failures every eraseRetry.
func (l *Log) eraseLoop() {
	defer l.wg.Done()
	t := time.NewTicker(eraseRetry)
	defer t.Stop()
	for {
		if err := l.erasePass(); err != nil && !l.closed() {
			l.Logger.Warn("erasing from the cluster stream failed; will retry", "err", err)
		}
		select {
		case <-l.stop:
			return
		case <-l.eraseWake:
		case <-t.C:
		}
	}
}

// erasePass erases every queued sequence, in sequence order. A sequence
// that fails stays queued for the next pass and does not hold up the
// ones after it; a few failures end the pass (the cluster is likely
// unreachable, and each failure waited a WriteTimeout).
func (l *Log) erasePass() error {
	var (
		after    uint64
		failures int
		first    error
	)
	for {
		items, err := l.DB.EraseQueue(l.stopCtx, after, eraseBatch)
		if err != nil || len(items) == 0 {
			return cmp.Or(err, first)
		}
		for _, it := range items {
			after = it.Seq
			if err := l.eraseItem(l.stopCtx, it); err != nil {
				failures++
				first = cmp.Or(first, fmt.Errorf("erase sequence %d: %w", it.Seq, err))
				if failures >= maxEraseFailures || l.closed() {
					return first
				}
			}
		}
	}
}

// maxEraseFailures ends an erase pass.
const maxEraseFailures = 3

// eraseNow erases the stream sequences of ids (a delete's redacted events)
// in the request that deleted them, so the DELETE is answered once they
// are gone; what the node's eraser did already is done. Ids not derived
// from the stream name no sequence.
func (l *Log) eraseNow(ctx context.Context, ids []ulid.ULID) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.WriteTimeout)
	defer cancel()
	stop := context.AfterFunc(l.stopCtx, cancel)
	defer stop()
	for _, id := range ids {
		seq, ok := bolt.SeqOf(id)
		if !ok {
			continue
		}
		it, queued, err := l.DB.Queued(seq)
		if err != nil {
			return err
		}
		if !queued {
			continue // erased already
		}
		if err := l.eraseItem(ctx, it); err != nil {
			return err
		}
	}
	return nil
}

// eraseItem records the gap of one queued sequence, removes the sequence
// from the stream, and dequeues it. Retries until ctx ends.
func (l *Log) eraseItem(ctx context.Context, it bolt.EraseItem) error {
	ctx, cancel := context.WithTimeout(ctx, l.WriteTimeout)
	defer cancel()
	if !it.NoEvent {
		// Whatever queued it (a delete or a prune) committed with, or
		// before, the replica's position: the no-event sequences it must
		// follow are at or below it.
		upTo, _, err := l.DB.Applied()
		if err != nil {
			return err
		}
		if err := l.eraseNoEvents(ctx, upTo); err != nil {
			return err
		}
	}
	if err := l.recordGap(ctx, it); err != nil {
		return err
	}
	if l.afterGap != nil {
		if err := l.afterGap(ctx, it.Seq); err != nil {
			return err
		}
	}
	err := retry(ctx, func(actx context.Context) error {
		err := l.stream.SecureDeleteMsg(actx, it.Seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) && l.gone(actx, it.Seq) {
			return nil // erased already, by this node or another
		}
		return err
	})
	if err != nil {
		return err
	}
	return l.DB.Erased(it.Seq)
}

// eraseNoEvents erases every queued sequence up to upTo that produced no
// event. A node erases them before anything a delete or a prune queued,
// so the stream never holds such a sequence with text after an earlier
// sequence it depended on became a gap: a node rebuilding would apply it
// against the gap record's text-less event (a no-op edit would produce an
// edit). Every node queued them when it applied them, before the delete
// or prune that queued the rest. Those above upTo came later, and a steady
// flow of them cannot hold up a delete's erasure.
func (l *Log) eraseNoEvents(ctx context.Context, upTo uint64) error {
	for {
		items, err := l.DB.NoEventQueue(ctx, eraseBatch)
		if err != nil || len(items) == 0 || items[0].Seq > upTo {
			return err
		}
		for _, it := range items {
			if it.Seq > upTo {
				return nil
			}
			if err := l.eraseItem(ctx, it); err != nil {
				return fmt.Errorf("erase sequence %d, which produced no event: %w", it.Seq, err)
			}
		}
	}
}

// recordGap stores the gap record of a queued sequence unless the gap
// stream has one: the first stays, so a record never changes (every node
// would write the same bytes anyway).
func (l *Log) recordGap(ctx context.Context, it bolt.EraseItem) error {
	subject := l.gapSubject(it.Seq)
	data, err := json.Marshal(gapRecord{Seq: it.Seq, ChainMS: int64(it.ID.Time()), Event: it.Event, Room: it.Room, Register: it.Register})
	if err != nil {
		return err
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, "gap-"+strconv.FormatUint(it.Seq, 10))
	return retry(ctx, func(actx context.Context) error {
		_, err := l.gaps.GetLastMsgForSubject(actx, subject)
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return err
		}
		_, err = l.js.PublishMsg(actx, msg)
		return err
	})
}

// gone reports whether the stream no longer has seq.
func (l *Log) gone(ctx context.Context, seq uint64) bool {
	_, err := l.stream.GetMsg(ctx, seq)
	return errors.Is(err, jetstream.ErrMsgNotFound)
}
