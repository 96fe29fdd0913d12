package jetstream

import (
	"context"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
)

// cursorWait bounds how long a read waits for this node to apply the id
// it names; then it reads what the node has.
const cursorWait = 5 * time.Second

// catchUpTo waits, at most cursorWait, until this node has applied the
// sequence of id: a client can name an id it saw through another node
// that this one has not applied yet. Ids not derived from the stream
// name no sequence and do not wait.
func (l *Log) catchUpTo(ctx context.Context, id ulid.ULID) {
	seq, ok := bolt.SeqOf(id)
	if !ok || l.AppliedSeq() >= seq {
		return
	}
	// The replica's own position first: a subscriber reading in its
	// callback runs on the applier, after the commit, before AppliedSeq
	// moves, and must not wait for itself.
	if applied, _, err := l.DB.Applied(); err != nil || applied >= seq {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, cursorWait)
	defer cancel()
	_ = l.waitApplied(ctx, seq)
}

// ReadAfter implements store.Log, after this node has applied after.
func (l *Log) ReadAfter(ctx context.Context, rooms []string, after ulid.ULID, limit int) ([]store.Record, error) {
	l.catchUpTo(ctx, after)
	return l.DB.ReadAfter(ctx, rooms, after, limit)
}

// ReadReplay implements store.Log, after this node has applied after: a
// stream resuming here with a Last-Event-ID from another node replays
// what it missed before it goes live.
func (l *Log) ReadReplay(ctx context.Context, rooms []string, after ulid.ULID, limit int) (store.Replay, error) {
	l.catchUpTo(ctx, after)
	return l.DB.ReadReplay(ctx, rooms, after, limit)
}

// ReadBefore implements store.Log, after this node has applied before.
func (l *Log) ReadBefore(ctx context.Context, room string, before ulid.ULID, limit int) ([]store.Record, error) {
	l.catchUpTo(ctx, before)
	return l.DB.ReadBefore(ctx, room, before, limit)
}

// Messages implements store.Log, after this node has applied the ids the
// page names.
func (l *Log) Messages(ctx context.Context, room string, p store.Page) ([]store.Record, error) {
	for _, id := range []ulid.ULID{p.After, p.Before, p.Around} {
		l.catchUpTo(ctx, id)
	}
	return l.DB.Messages(ctx, room, p)
}
