package bolt

import (
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// A follower keeps something derived from the current state of messages
// (the search index, mentions, file references) in the file, in the same
// write transaction as every change of that state, so it can never
// disagree with the log, in a backup or after a crash.
//
// Followers are told of every change of every message's state, from
// appends, imports and retention alike, in commit order:
//
//   - a new message: old is nil;
//   - an edit, delete (the new state is redacted) or reaction: both set;
//   - a message that retention removed: new is nil.
//
// A change that changes nothing (a second delete) is not told. A follower
// must not change the log's own buckets; an error it returns aborts the
// transaction, and with it every append of the batch.
type follower interface {
	follow(tx *bbolt.Tx, room string, old, new *store.Message) error
}

// tell passes a change of one message's state to every follower.
func (d *DB) tell(tx *bbolt.Tx, room string, old, new *store.Message) error {
	for _, f := range d.followers {
		if err := f.follow(tx, room, old, new); err != nil {
			id := new
			if id == nil {
				id = old
			}
			return fmt.Errorf("follow message %s of room %s: %w", id.ID, room, err)
		}
	}
	return nil
}
