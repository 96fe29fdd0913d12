package store

import (
	"context"

	"github.com/oklog/ulid/v2"
)

// Store is everything the API needs of storage: the event log and the
// read markers kept beside it.
type Store interface {
	Log
	Marks
}

// Marks keeps read markers: for each person and room, the id of the newest
// event the person has seen there. They are kept apart from the room log
// (they are not history, never exported or replayed), per person rather
// than per device, so unread counts survive a reload and agree across
// devices. A person is any string the caller chooses to name them by.
//
// All methods are safe for concurrent use.
type Marks interface {
	// Mark returns person's read marker in room (zero: none yet).
	Mark(ctx context.Context, person, room string) (ulid.ULID, error)

	// SetMark raises person's marker in room to id and returns the marker
	// stored afterwards: id, or the newer marker already there, since a
	// marker never moves backwards. ErrNotFound if room has no events; a
	// *ValidationError if id is above the room's newest event (a marker
	// cannot run ahead of what exists).
	SetMark(ctx context.Context, person, room string, id ulid.ULID) (ulid.ULID, error)

	// Unread counts, for each of q.Rooms in that order, the messages after
	// q.Person's marker that are not deleted and not by q.Author, and how
	// many of those mention q.Author (MentionName), each count stopping at
	// q.Limit: the work is in proportion to the counts, not to the rooms'
	// sizes. Edits, reactions and deletes are not messages.
	Unread(ctx context.Context, q UnreadQuery) ([]Unread, error)
}

// UnreadQuery asks for a person's unread counts.
type UnreadQuery struct {
	Person string   // whose markers
	Author string   // the person's name on messages: theirs do not count
	Rooms  []string // which rooms
	Limit  int      // where counting stops
}

// Unread is one room's unread count for a person.
type Unread struct {
	Room     string    `json:"room"`
	Mark     ulid.ULID `json:"mark"`
	Messages int       `json:"messages"`
	Mentions int       `json:"mentions"`
}
