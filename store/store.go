// Package store owns Parley's event log: the domain types it persists
// (events and rooms), their validation, and the durable, ordered log behind
// the Log interface. DB is the bbolt implementation.
package store

import (
	"context"
	"errors"

	"github.com/oklog/ulid/v2"
)

// Log is the narrow interface the rest of Parley uses to reach the event log.
// A second implementation (a cluster log, say) must keep the same promises:
//
//   - Append assigns ids that are strictly increasing across the whole log and
//     returns only once the event is durable.
//   - Subscribers see committed records in id order, and never a record that
//     was not committed.
//   - Reads after a cursor return records in id order.
type Log interface {
	// Append validates e, assigns its id and time, stores it durably and
	// returns the stored record with created true. Nothing is stored, and
	// created is false, when e carries a ClientID already used in its room
	// (rec is the original event) or when e is a change that would change
	// nothing (rec is the target message's current state, as Messages
	// returns it). Errors: a *ValidationError (wrapping ErrInvalid) or
	// ErrTooLarge for bad input; ErrNotFound for a target not in the room;
	// ErrForbidden for an edit or delete by another author; ErrConflict for
	// an edit or reaction to a deleted message; ErrClosed after Close. A
	// delete returns once the deleted text is gone from the file.
	Append(ctx context.Context, e Event) (rec Record, created bool, err error)

	// ReadAfter returns up to limit records of the given rooms with ids
	// greater than after, in ascending id order.
	ReadAfter(ctx context.Context, rooms []string, after ulid.ULID, limit int) ([]Record, error)

	// ReadBefore returns the limit records of room just before the id before
	// (the newest ones if before is zero), in ascending id order.
	ReadBefore(ctx context.Context, room string, before ulid.ULID, limit int) ([]Record, error)

	// Messages returns a page of room's messages in their current state
	// (edits, deletes and reactions folded in), in ascending id order.
	Messages(ctx context.Context, room string, p Page) ([]Record, error)

	// Horizon returns the id of the newest event of room that retention
	// deleted (zero if none) and of the oldest event it still has, so a
	// stream can tell a client that asked for older events what is gone.
	Horizon(ctx context.Context, room string) (pruned, oldest ulid.ULID, err error)

	// Rooms lists every room that has at least one event, by name.
	Rooms(ctx context.Context) ([]Room, error)

	// Subscribe registers fn to be called with each batch of committed
	// records, in commit (= id) order, from a single goroutine. fn must not
	// block: a slow fn delays every append. The returned func unregisters fn.
	Subscribe(fn func([]Record)) (unsubscribe func())

	// Ping reports whether the log can be read: nil when healthy, ErrClosed
	// after Close.
	Ping(ctx context.Context) error
}

// Sentinel errors returned by the store. Callers match them with errors.Is.
var (
	// ErrInvalid is returned (wrapped in a *ValidationError) when an event or
	// a room name breaks the rules in Validate.
	ErrInvalid = errors.New("invalid")

	// ErrTooLarge is returned when an event's text is longer than the
	// store's MaxTextBytes.
	ErrTooLarge = errors.New("text too large")

	// ErrNotFound is returned when a room or event does not exist.
	ErrNotFound = errors.New("not found")

	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store closed")

	// ErrForbidden is returned when an author changes someone else's message.
	ErrForbidden = errors.New("only the author may change this message")

	// ErrConflict is returned when a change cannot apply to the message's
	// current state, such as editing or reacting to a deleted message.
	ErrConflict = errors.New("the message was deleted")
)

// ValidationError says which rule an input broke. It wraps ErrInvalid.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

func invalid(field, reason string) error { return &ValidationError{Field: field, Reason: reason} }
